//! A fake Bitbucket server on loopback: Cloud (`bitbucket.org` + `api.bitbucket.org` folded
//! into one base URL) or Data Center (under a context path). It serves real git repositories
//! through `git http-backend`, the OAuth 2 endpoints with rotating refresh tokens, and the few
//! REST endpoints a credential helper calls, with the authentication rules of
//! `spec/bitbucket-api.md`. It records every request (never a header value or a body, so no
//! secret can leak through the log) and can inject faults. It is for tests only: it binds
//! `127.0.0.1` and must never be exposed beyond it.

mod git;
mod http;
mod oauth;
mod rest;
mod state;

pub use state::SECRET_MARK;

use std::fmt;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tiny_http::{Request, Server};

use self::http::{Presented, Reply};
use self::state::{FaultRule, Principal, State};

/// How many requests the fake serves at once (git push/fetch and parallel clients need several).
const WORKER_THREADS: usize = 8;

/// How long dropping the fake waits for in-flight requests before leaving their threads behind.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Which Bitbucket the fake pretends to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Bitbucket Cloud: git at `/{workspace}/{repo}.git`, REST at `/2.0/...`, OAuth at
    /// `/site/oauth2/...`, all on one base URL.
    Cloud,
    /// Bitbucket Data Center under `context_path` (e.g. `/bitbucket`, or empty for the root):
    /// git at `{context}/scm/{project}/{repo}.git`, REST at `{context}/rest/api/...`, OAuth at
    /// `{context}/rest/oauth2/latest/...`.
    DataCenter {
        /// The path prefix of every URL, with or without its leading slash.
        context_path: String,
    },
}

/// An account on the fake server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The Bitbucket username (Data Center: the user slug).
    pub username: String,
    /// The Atlassian account email, which Cloud's REST API wants with an API token.
    pub email: String,
    /// Cloud API tokens (git: with the username or `x-bitbucket-api-token-auth`; REST: with
    /// the email).
    pub api_tokens: Vec<String>,
    /// The account password: Cloud REST only (403 when `two_step`), Data Center git and REST.
    pub password: Option<String>,
    /// Two-step verification is on: Cloud REST answers 403 to a correct username + password.
    pub two_step: bool,
    /// The scopes of Cloud API tokens made "with scopes" by [`User::with_scoped_api_token`];
    /// a token in `api_tokens` without an entry here has [`API_TOKEN_SCOPES`].
    pub api_token_scopes: Vec<(String, Vec<String>)>,
}

/// The scopes a Cloud API token gets from [`User::with_api_token`]: those to read the user
/// (the REST check) and to read and write repositories (git). Atlassian: "API tokens with
/// scopes" (support.atlassian.com/bitbucket-cloud/docs/api-token-permissions/).
pub const API_TOKEN_SCOPES: [&str; 3] =
    ["read:user:bitbucket", "read:repository:bitbucket", "write:repository:bitbucket"];

impl User {
    /// A user with no tokens, no password and no two-step verification.
    pub fn new(username: &str, email: &str) -> Self {
        Self {
            username: username.to_owned(),
            email: email.to_owned(),
            api_tokens: Vec::new(),
            password: None,
            two_step: false,
            api_token_scopes: Vec::new(),
        }
    }

    /// Adds a Cloud API token with exactly `scopes` (e.g. only `read:repository:bitbucket` and
    /// `write:repository:bitbucket`, what git needs: `/2.0/user` then answers 403).
    pub fn with_scoped_api_token(mut self, token: &str, scopes: &[&str]) -> Self {
        self.api_tokens.push(token.to_owned());
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.api_token_scopes.push((token.to_owned(), scopes));
        self
    }

    /// Whether API token `token` of this user carries `scope`.
    pub fn api_token_has_scope(&self, token: &str, scope: &str) -> bool {
        match self.api_token_scopes.iter().find(|(t, _)| t == token) {
            Some((_, scopes)) => scopes.iter().any(|s| s == scope),
            None => API_TOKEN_SCOPES.contains(&scope),
        }
    }

    /// Adds a Cloud API token.
    pub fn with_api_token(mut self, token: &str) -> Self {
        self.api_tokens.push(token.to_owned());
        self
    }

    /// Sets the account password.
    pub fn with_password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    /// Turns two-step verification on.
    pub fn with_two_step(mut self) -> Self {
        self.two_step = true;
        self
    }
}

/// A fault the server applies instead of (or before) its normal answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a short text body.
    Status(u16),
    /// Wait this long (cut short when the server is dropped), then answer normally.
    Delay(Duration),
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// Answer 302 with this `Location`.
    RedirectTo(String),
    /// Answer with this status and this JSON body (an answer no document shows, e.g. a
    /// token endpoint's 400 the helper cannot read as a dead token).
    Json(u16, String),
    /// Answer 200 with a JSON user object of about this many bytes (a hostile or broken
    /// server that never stops talking).
    Oversized(usize),
    /// Hold the request until the test opens the gate (or the server is dropped), then
    /// answer normally: lets a test act while a client is known to be mid-request.
    Hold(Gate),
    /// Act on the request at once (a token endpoint rotates: the refresh token sent is
    /// retired, the new pair issued), count an arrival at the gate, then hold the answer back
    /// this long (cut short when the server is dropped) before sending it. What a client sees
    /// on a slow network: Bitbucket has already retired its refresh token while the answer
    /// with the new one is still on its way (the rotation itself is Atlassian's, see
    /// spec/bitbucket-api.md; the delay is the network's). The gate is never waited on: the
    /// test waits for the arrival to know the server has acted.
    AnswerLate(Duration, Gate),
    /// Answer bytes that are not HTTP at all: to the client the connection fails, as a refused
    /// or reset connection does (recorded with status 0).
    BrokenConnection,
}

/// A gate for [`Fault::Hold`]: the test waits until a request arrives at it, does what it
/// must while that request is held, then opens it.
#[derive(Clone, Debug, Default)]
pub struct Gate(Arc<(Mutex<GateState>, Condvar)>);

#[derive(Debug, Default)]
struct GateState {
    arrived: usize,
    open: bool,
}

impl PartialEq for Gate {
    fn eq(&self, other: &Gate) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Gate {}

/// The longest a held request waits for its gate.
const GATE_TIMEOUT: Duration = Duration::from_secs(60);

impl Gate {
    /// Waits (at most `timeout`) until a request is held at this gate; `false` on timeout.
    pub fn wait_for_arrival(&self, timeout: Duration) -> bool {
        let (state, signal) = &*self.0;
        let guard = lock(state);
        let (guard, _) = signal
            .wait_timeout_while(guard, timeout, |s| s.arrived == 0)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.arrived > 0
    }

    /// Lets every held request (and any later one) through.
    pub fn open(&self) {
        let (state, signal) = &*self.0;
        lock(state).open = true;
        signal.notify_all();
    }

    /// Counts an arrival without waiting for the gate to open.
    fn arrive(&self) {
        let (state, signal) = &*self.0;
        lock(state).arrived += 1;
        signal.notify_all();
    }

    fn pass(&self) {
        let (state, signal) = &*self.0;
        let mut guard = lock(state);
        guard.arrived += 1;
        signal.notify_all();
        let _ = signal.wait_timeout_while(guard, GATE_TIMEOUT, |s| !s.open);
    }
}

/// How the token endpoint answers a refresh token that is dead (unknown, already used, or
/// unused for longer than Bitbucket Cloud keeps one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeadRefreshSpelling {
    /// `400 {"error":"invalid_grant","error_description":...}`: RFC 6749 §5.2, and what
    /// Bitbucket's OAuth documents show.
    #[default]
    InvalidGrant,
    /// `400 {"error":"invalid_request","error_description":"Invalid refresh_token"}`: what
    /// Bitbucket Cloud has answered to a used refresh token (issue 19; spec/bitbucket-api.md).
    InvalidRequest,
}

/// How long Bitbucket Cloud keeps a refresh token that is never used: about 3 months
/// (spec/bitbucket-api.md, "refresh tokens"); the fake counts 90 days.
pub const CLOUD_UNUSED_REFRESH_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);

/// How many matching requests a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultTimes {
    /// The next matching request only.
    Once,
    /// The next `n` matching requests.
    Times(usize),
    /// Every matching request until [`FakeBitbucket::clear_faults`].
    Always,
}

/// What a request was for, judged by its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// Git smart HTTP (`/{ws}/{repo}.git/...`, Data Center `/scm/...`).
    Git,
    /// REST API (`/2.0/...`; Data Center `/rest/api/...`, `/rest/authconfig/...`,
    /// `/rest/oauth2/1.0/client`, `/plugins/servlet/applinks/whoami`).
    Rest,
    /// The OAuth token endpoint.
    Token,
    /// The OAuth authorize (consent) endpoint.
    Authorize,
    /// Anything else (answered 404).
    Other,
}

/// One request as the fake saw it. Holds no header value, query or body, so no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// What the request was for.
    pub kind: RequestKind,
    /// The status the fake answered.
    pub status: u16,
    /// The scheme word of the `Authorization` header (`Basic`, `Bearer`, `JWT`), if any.
    pub authorization_scheme: Option<String>,
}

/// Requests per kind since the start or the last [`FakeBitbucket::reset_log`].
///
/// Displays as `git=N rest=N token=N authorize=N other=N`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Git smart HTTP requests.
    pub git: usize,
    /// REST API requests.
    pub rest: usize,
    /// Token endpoint requests.
    pub token: usize,
    /// Authorize endpoint requests.
    pub authorize: usize,
    /// Other requests.
    pub other: usize,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "git={} rest={} token={} authorize={} other={}",
            self.git, self.rest, self.token, self.authorize, self.other
        )
    }
}

/// The choice made on the fake's consent page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    /// The "Grant access" button (id `grant`).
    Grant,
    /// The "Deny" button (id `deny`).
    Deny,
}

/// A fake Bitbucket server on `127.0.0.1`, serving from a pool of threads until dropped.
///
/// ```no_run
/// use bitbucket_test_support::{FakeBitbucket, Mode, User};
///
/// let fake = FakeBitbucket::start(Mode::Cloud);
/// fake.add_user(User::new("alice", "alice@example.com").with_api_token("ATATT-alice"));
/// fake.create_repo("team/project");
/// let remote = fake.git_url("team/project"); // http://127.0.0.1:PORT/team/project.git
/// # let _ = remote;
/// ```
pub struct FakeBitbucket {
    shared: Arc<Shared>,
    server: Arc<Server>,
    workers: Vec<JoinHandle<()>>,
    worker_exits: mpsc::Receiver<()>,
    addr: SocketAddr,
}

/// Called with the counts after each recorded request.
type Observer = Box<dyn Fn(&Counts) + Send>;

/// What the worker threads share: configuration, the mutable state, the stop signal.
pub(crate) struct Shared {
    mode: Mode,
    /// The context path with a leading slash and no trailing slash; empty for Cloud.
    context: String,
    git: git::Backend,
    state: Mutex<State>,
    stopping: Mutex<bool>,
    stop_signal: Condvar,
    observer: Mutex<Option<Observer>>,
    request_ids: AtomicU64,
}

impl FakeBitbucket {
    /// Starts a fake server on `127.0.0.1` with a free port.
    ///
    /// Panics when `git` on `PATH` is older than 2.46 or `git http-backend` cannot be found:
    /// the tests need a modern git and there is nothing useful to do without one.
    pub fn start(mode: Mode) -> Self {
        let context = match &mode {
            Mode::Cloud => String::new(),
            Mode::DataCenter { context_path } => normalise_context(context_path),
        };
        let git = git::Backend::new();
        let server = Arc::new(
            Server::http("127.0.0.1:0")
                .unwrap_or_else(|e| panic!("fake Bitbucket: cannot listen on 127.0.0.1: {e}")),
        );
        let addr = server.server_addr().to_ip().expect("fake Bitbucket: listener has no IP address");
        let shared = Arc::new(Shared {
            mode,
            context,
            git,
            state: Mutex::new(State::default()),
            stopping: Mutex::new(false),
            stop_signal: Condvar::new(),
            observer: Mutex::new(None),
            request_ids: AtomicU64::new(1),
        });
        let (exit_tx, worker_exits) = mpsc::channel();
        let workers = (0..WORKER_THREADS)
            .map(|i| {
                let shared = Arc::clone(&shared);
                let server = Arc::clone(&server);
                let exit_tx = exit_tx.clone();
                std::thread::Builder::new()
                    .name(format!("fake-bitbucket-{i}"))
                    .spawn(move || serve(&shared, &server, exit_tx))
                    .expect("fake Bitbucket: cannot spawn a worker thread")
            })
            .collect();
        Self { shared, server, workers, worker_exits, addr }
    }

    /// The deployment mode given to [`FakeBitbucket::start`].
    pub fn mode(&self) -> &Mode {
        &self.shared.mode
    }

    /// The base URL: `http://127.0.0.1:PORT`, plus the context path for Data Center.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.host(), self.shared.context)
    }

    /// `127.0.0.1:PORT`, as git sends it in the `host` attribute.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The git remote URL of a repository made with [`FakeBitbucket::create_repo`]:
    /// `{base}/{ws}/{repo}.git` (Cloud) or `{base}/scm/{project}/{repo}.git` (Data Center).
    pub fn git_url(&self, name: &str) -> String {
        match self.shared.mode {
            Mode::Cloud => format!("{}/{name}.git", self.base_url()),
            Mode::DataCenter { .. } => format!("{}/scm/{name}.git", self.base_url()),
        }
    }

    /// Adds (or replaces, by username) an account.
    pub fn add_user(&self, user: User) {
        let mut state = self.shared.state();
        state.users.retain(|u| u.username != user.username);
        state.users.push(user);
    }

    /// Creates a bare repository `name` (`workspace/repo`, Data Center `PROJECT/repo`) with one
    /// commit on `main`, and returns its path.
    pub fn create_repo(&self, name: &str) -> PathBuf {
        let path = self.shared.git.create_repo(name);
        self.shared.state().repos.push(name.to_owned());
        path
    }

    /// The path of the bare repository `name` on disk.
    pub fn repo_path(&self, name: &str) -> PathBuf {
        self.shared.git.repo_path(name)
    }

    /// The commit id `HEAD` (the `main` branch) of repository `name` points at.
    pub fn head_commit(&self, name: &str) -> String {
        self.shared.git.head_commit(name)
    }

    /// Issues an OAuth access token for `username`, valid for `lifetime_secs` from now (0: already
    /// expired). Not counted in [`FakeBitbucket::access_tokens_issued`].
    pub fn issue_access_token(&self, username: &str, lifetime_secs: u64) -> String {
        let principal = Principal::User(username.to_owned());
        self.shared.state().new_access_token(principal, lifetime_secs)
    }

    /// Issues a refresh token for `username` and consumer `client_id`, as if an earlier
    /// sign-in had. Not counted in [`FakeBitbucket::refresh_tokens_issued`].
    pub fn issue_refresh_token(&self, username: &str, client_id: &str) -> String {
        let scope = oauth::default_scope(self.is_datacenter()).to_owned();
        self.shared.state().new_refresh_token(username, client_id, &scope)
    }

    /// Registers an OAuth consumer (Cloud) or incoming application link (Data Center). The
    /// `redirect_uri` of an authorize request must start with `redirect_uri_prefix`.
    pub fn add_consumer(&self, client_id: &str, secret: &str, redirect_uri_prefix: &str) {
        self.shared.state().add_consumer(client_id, secret, redirect_uri_prefix, false);
    }

    /// Registers a private consumer, which may also use the client credentials grant (its
    /// tokens act for the consumer: git accepts them with `x-token-auth`).
    pub fn add_consumer_private(&self, client_id: &str, secret: &str, redirect_uri_prefix: &str) {
        self.shared.state().add_consumer(client_id, secret, redirect_uri_prefix, true);
    }

    /// Registers a Connect app: a JWT whose `iss` claim is `key` may use the
    /// `urn:bitbucket:oauth2:jwt` grant.
    pub fn add_connect_app(&self, key: &str) {
        self.shared.state().connect_apps.insert(key.to_owned());
    }

    /// Sets who is signed in on the consent page (by default the first user added).
    pub fn set_consenting_user(&self, username: &str) {
        self.shared.state().consenting_user = Some(username.to_owned());
    }

    /// Whether Data Center's `login-options` lists an identity provider (`IDP`, single
    /// sign-on for the web login) beside the login form: no by default (`LOGIN_FORM` only, the
    /// common set-up). It says nothing about OAuth 2.0 application links.
    pub fn set_identity_provider(&self, listed: bool) {
        self.shared.state().identity_provider = listed;
    }

    /// How the token endpoint words its answer to a dead refresh token, from now on
    /// ([`DeadRefreshSpelling::InvalidGrant`] by default).
    pub fn set_dead_refresh_spelling(&self, spelling: DeadRefreshSpelling) {
        self.shared.state().dead_refresh_spelling = spelling;
    }

    /// Makes `refresh_token` look issued `age` ago. On Cloud a refresh token unused for longer
    /// than [`CLOUD_UNUSED_REFRESH_LIFETIME`] is dead (spec/bitbucket-api.md: "unused, one
    /// lives about 3 months, then only a new browser sign-in helps"). `false` when the fake
    /// never issued it.
    pub fn age_refresh_token(&self, refresh_token: &str, age: Duration) -> bool {
        let mut state = self.shared.state();
        let Some(entry) = state.refresh_tokens.get_mut(refresh_token) else { return false };
        entry.issued_at = std::time::SystemTime::now().checked_sub(age).unwrap_or(std::time::UNIX_EPOCH);
        true
    }

    /// Cloud token responses name the scopes `scopes` (older servers) instead of `scope`
    /// (spec/bitbucket-api.md: "token responses say `scope` (older ones `scopes`)").
    pub fn set_legacy_scopes_field(&self, legacy: bool) {
        self.shared.state().legacy_scopes_field = legacy;
    }

    /// Whether Data Center puts `X-AUSERNAME` (the user a request was authenticated as) on
    /// its answers: yes by default, as the real servers do.
    pub fn set_ausername_header(&self, on: bool) {
        self.shared.state().ausername_header = on;
    }

    /// Makes Data Center's `plugins/servlet/applinks/whoami` answer an empty body to a Bearer
    /// token (GCM and other clients: no endpoint there maps an OAuth token to a user).
    pub fn set_whoami_empty_for_bearer(&self, empty: bool) {
        self.shared.state().whoami_empty_for_bearer = empty;
    }

    /// Whether Data Center has its OAuth 2.0 provider (built in since 7.20): yes by default.
    /// An anonymous `GET {base}/rest/oauth2/1.0/client` answers 401 when it is there (listing
    /// clients needs an administrator) and 404 when it is not (an older server), as Git
    /// Credential Manager's `IsOAuthInstalledAsync` expects (bitbucket-api.md).
    pub fn set_oauth_provider(&self, installed: bool) {
        self.shared.state().oauth_provider = installed;
    }

    /// Sets the lifetime of access tokens issued from now on (default 7200 s).
    pub fn set_expires_in(&self, secs: u64) {
        self.shared.state().expires_in = secs;
    }

    /// Adds a Data Center personal HTTP access token (HTTP Basic with the username, or Bearer).
    pub fn add_dc_personal_token(&self, username: &str, token: &str) {
        let mut state = self.shared.state();
        state.dc_personal_tokens.push((username.to_owned(), token.to_owned()));
    }

    /// Adds a Data Center project HTTP access token (Bearer only; HTTP Basic with it is 401).
    pub fn add_dc_project_token(&self, project: &str, token: &str) {
        let mut state = self.shared.state();
        state.dc_project_tokens.push((project.to_owned(), token.to_owned()));
    }

    /// Applies `fault` to requests whose path (context path included) starts with
    /// `path_prefix`, `times` times. Earlier faults are tried first.
    pub fn inject(&self, path_prefix: &str, fault: Fault, times: FaultTimes) {
        self.add_fault(path_prefix, fault, times, false);
    }

    /// Like [`FakeBitbucket::inject`], for requests that carry an `Authorization` header only
    /// (git's first request of each operation goes without one and is answered 401).
    pub fn inject_authenticated(&self, path_prefix: &str, fault: Fault, times: FaultTimes) {
        self.add_fault(path_prefix, fault, times, true);
    }

    fn add_fault(&self, path_prefix: &str, fault: Fault, times: FaultTimes, authenticated_only: bool) {
        let remaining = match times {
            FaultTimes::Once => Some(1),
            FaultTimes::Times(n) => Some(n),
            FaultTimes::Always => None,
        };
        let prefix = path_prefix.to_owned();
        self.shared.state().faults.push(FaultRule { prefix, fault, remaining, authenticated_only });
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.shared.state().faults.clear();
    }

    /// Injected faults not yet used up (an `Always` fault counts until cleared): lets a test
    /// wait until a request has reached its fault.
    pub fn pending_faults(&self) -> usize {
        self.shared.state().faults.len()
    }

    /// Every request recorded since the start or the last [`FakeBitbucket::reset_log`].
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().log.clone()
    }

    /// How many recorded requests were of `kind`.
    pub fn count(&self, kind: RequestKind) -> usize {
        self.shared.state().log.iter().filter(|r| r.kind == kind).count()
    }

    /// Recorded requests per kind.
    pub fn counts(&self) -> Counts {
        self.shared.state().counts()
    }

    /// Forgets the recorded requests (token counters are kept).
    pub fn reset_log(&self) {
        self.shared.state().log.clear();
    }

    /// Calls `observer` with the current counts after each request is recorded, before its
    /// answer is sent. Calls are serialised; the last one always sees the latest counts.
    pub fn set_request_observer(&self, observer: impl Fn(&Counts) + Send + 'static) {
        *lock(&self.shared.observer) = Some(Box::new(observer));
    }

    /// Access tokens the token endpoint has issued.
    pub fn access_tokens_issued(&self) -> usize {
        self.shared.state().access_issued
    }

    /// Refresh tokens the token endpoint has issued.
    pub fn refresh_tokens_issued(&self) -> usize {
        self.shared.state().refresh_issued
    }

    /// Token requests answered `invalid_grant` (reused or unknown refresh token or code,
    /// PKCE or `redirect_uri` mismatch, expired JWT).
    pub fn rejected_grants(&self) -> usize {
        self.shared.state().rejected_grants
    }

    /// The newest access token issued for `username` (by any means).
    pub fn last_access_token(&self, username: &str) -> Option<String> {
        self.shared.state().last_access.get(username).cloned()
    }

    /// The newest refresh token issued for `username` (by any means).
    pub fn last_refresh_token(&self, username: &str) -> Option<String> {
        self.shared.state().last_refresh.get(username).cloned()
    }

    /// Plays the browser on the consent page: opens `authorize_url` (an authorize URL on this
    /// fake), presses the button for `decision`, and returns the `Location` the fake redirects
    /// to (the client's `redirect_uri` with `code` or `error`, and `state`), without following it.
    ///
    /// Panics with the fake's answer when the URL does not lead to a consent page.
    pub fn consent(&self, authorize_url: &str, decision: Consent) -> String {
        oauth::play_consent(authorize_url, decision)
    }

    fn is_datacenter(&self) -> bool {
        self.shared.is_datacenter()
    }
}

impl Drop for FakeBitbucket {
    fn drop(&mut self) {
        *lock(&self.shared.stopping) = true;
        self.shared.stop_signal.notify_all();
        for _ in &self.workers {
            self.server.unblock();
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut exited = 0;
        while exited < self.workers.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.worker_exits.recv_timeout(left) {
                Ok(()) => exited += 1,
                Err(_) => break,
            }
        }
        if exited == self.workers.len() {
            for worker in self.workers.drain(..) {
                let _ = worker.join();
            }
        }
    }
}

impl fmt::Debug for FakeBitbucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeBitbucket")
            .field("mode", &self.shared.mode)
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn is_datacenter(&self) -> bool {
        matches!(self.mode, Mode::DataCenter { .. })
    }

    pub(crate) fn context(&self) -> &str {
        &self.context
    }

    fn is_stopping(&self) -> bool {
        *lock(&self.stopping)
    }

    /// Waits `delay`, or less when the server is being dropped.
    fn pause(&self, delay: Duration) {
        let stopping = lock(&self.stopping);
        let _ = self.stop_signal.wait_timeout_while(stopping, delay, |stopping| !*stopping);
    }

    /// The 401 answer that makes git ask its credential helper.
    pub(crate) fn challenge(&self) -> Reply {
        let realm = if self.is_datacenter() { "Atlassian Bitbucket" } else { "Bitbucket.org HTTP" };
        Reply::text(401, "Authentication required\n")
            .with_header("WWW-Authenticate", &format!("Basic realm=\"{realm}\""))
    }

    /// Splits a request path into its kind and the path below the context path.
    fn classify<'p>(&self, path: &'p str) -> (RequestKind, &'p str) {
        let Some(inner) = path.strip_prefix(self.context.as_str()) else {
            return (RequestKind::Other, path);
        };
        if !inner.is_empty() && !inner.starts_with('/') {
            return (RequestKind::Other, path);
        }
        let kind = if self.is_datacenter() { classify_datacenter(inner) } else { classify_cloud(inner) };
        (kind, inner)
    }

    fn take_fault(&self, path: &str, authenticated: bool) -> Option<Fault> {
        let mut state = self.state();
        let index = state.faults.iter().position(|rule| {
            path.starts_with(&rule.prefix)
                && rule.remaining != Some(0)
                && (authenticated || !rule.authenticated_only)
        })?;
        let rule = &mut state.faults[index];
        let fault = rule.fault.clone();
        if let Some(remaining) = &mut rule.remaining {
            *remaining -= 1;
            if *remaining == 0 {
                state.faults.remove(index);
            }
        }
        Some(fault)
    }

    fn record(&self, request: RecordedRequest) {
        self.state().log.push(request);
        let observer = lock(&self.observer);
        if let Some(observer) = observer.as_ref() {
            let counts = self.state().counts();
            observer(&counts);
        }
    }
}

fn classify_cloud(inner: &str) -> RequestKind {
    if inner.starts_with("/2.0/") || inner == "/2.0" {
        RequestKind::Rest
    } else if inner == "/site/oauth2/access_token" {
        RequestKind::Token
    } else if inner == "/site/oauth2/authorize" {
        RequestKind::Authorize
    } else if is_cloud_git_path(inner) {
        RequestKind::Git
    } else {
        RequestKind::Other
    }
}

fn classify_datacenter(inner: &str) -> RequestKind {
    if inner == "/rest/oauth2/latest/token" {
        RequestKind::Token
    } else if inner == "/rest/oauth2/latest/authorize" {
        RequestKind::Authorize
    } else if inner.starts_with("/rest/api/")
        || inner.starts_with("/rest/authconfig/")
        || inner == "/rest/oauth2/1.0/client"
        || inner == "/plugins/servlet/applinks/whoami"
    {
        RequestKind::Rest
    } else if inner.starts_with("/scm/") {
        RequestKind::Git
    } else {
        RequestKind::Other
    }
}

/// `/{workspace}/{repo}.git/...`
fn is_cloud_git_path(inner: &str) -> bool {
    let mut segments = inner.trim_start_matches('/').split('/');
    let workspace = segments.next().unwrap_or_default();
    let repo = segments.next().unwrap_or_default();
    !workspace.is_empty() && repo.len() > ".git".len() && repo.ends_with(".git")
}

fn normalise_context(context_path: &str) -> String {
    let trimmed = context_path.trim_matches('/');
    if trimmed.is_empty() { String::new() } else { format!("/{trimmed}") }
}

/// Locks a mutex, carrying on after a panic in another worker (the state stays usable).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sends one message on drop, so `Drop for FakeBitbucket` learns a worker ended even by panic.
struct ExitNotice(mpsc::Sender<()>);

impl Drop for ExitNotice {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

fn serve(shared: &Shared, server: &Server, exit: mpsc::Sender<()>) {
    let _notice = ExitNotice(exit);
    loop {
        match server.recv() {
            Ok(request) if shared.is_stopping() => {
                let _ = request.respond(Reply::text(503, "stopping\n").into_response());
                break;
            }
            Ok(request) => {
                // A bug in one handler must not take a worker (and its share of the pool) down.
                let _ = catch_unwind(AssertUnwindSafe(|| handle(shared, request)));
            }
            Err(_) if shared.is_stopping() => break,
            Err(_) => continue,
        }
    }
}

fn handle(shared: &Shared, mut request: Request) {
    let method = request.method().as_str().to_owned();
    let (path, query) = match request.url().split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (request.url().to_owned(), String::new()),
    };
    let authorization = http::header(&request, "Authorization");
    let scheme =
        authorization.as_deref().and_then(|value| value.split_whitespace().next()).map(str::to_owned);
    let presented = Presented::parse(authorization.as_deref());
    let (kind, inner) = shared.classify(&path);

    let fault = shared.take_fault(&path, authorization.is_some());
    if fault == Some(Fault::BrokenConnection) {
        shared.record(RecordedRequest { method, path, kind, status: 0, authorization_scheme: scheme });
        use std::io::Write as _;
        let mut writer = request.into_writer();
        let _ = writer.write_all(b"this is not HTTP\r\n\r\n");
        let _ = writer.flush();
        return;
    }
    let reply = match fault {
        None => route(shared, &mut request, &method, kind, inner, &query, &presented),
        Some(Fault::Delay(delay)) => {
            shared.pause(delay);
            if shared.is_stopping() {
                Reply::text(503, "stopping\n")
            } else {
                route(shared, &mut request, &method, kind, inner, &query, &presented)
            }
        }
        Some(Fault::Status(status)) => Reply::text(status, "injected fault\n"),
        Some(Fault::Garbage) => Reply::bytes(
            200,
            "application/json",
            b"<html><body>Service temporarily unavailable{{not json".to_vec(),
        ),
        Some(Fault::RedirectTo(location)) => Reply::redirect(&location),
        Some(Fault::Json(status, body)) => Reply::bytes(status, "application/json", body.into_bytes()),
        Some(Fault::Oversized(size)) => {
            let body = format!("{{\"username\":\"{}\"}}", "a".repeat(size));
            Reply::bytes(200, "application/json", body.into_bytes())
        }
        Some(Fault::Hold(gate)) => {
            gate.pass();
            route(shared, &mut request, &method, kind, inner, &query, &presented)
        }
        Some(Fault::AnswerLate(delay, gate)) => {
            let reply = route(shared, &mut request, &method, kind, inner, &query, &presented);
            gate.arrive();
            shared.pause(delay);
            reply
        }
        Some(Fault::BrokenConnection) => Reply::text(500, "unreachable\n"),
    };
    let reply = if shared.is_datacenter() {
        let id = shared.request_ids.fetch_add(1, Ordering::Relaxed);
        reply.with_header("X-AREQUESTID", &format!("@FAKE{id:X}x1x0"))
    } else {
        reply
    };
    shared.record(RecordedRequest { method, path, kind, status: reply.status, authorization_scheme: scheme });
    let _ = request.respond(reply.into_response());
}

fn route(
    shared: &Shared,
    request: &mut Request,
    method: &str,
    kind: RequestKind,
    inner: &str,
    query: &str,
    presented: &Presented,
) -> Reply {
    match kind {
        RequestKind::Git => git::handle(shared, request, method, inner, query, presented),
        RequestKind::Rest => rest::handle(shared, method, inner, presented),
        RequestKind::Token => oauth::token(shared, request, method, presented),
        RequestKind::Authorize => oauth::authorize(shared, request, method, query),
        RequestKind::Other => Reply::text(404, "Not found\n"),
    }
}
