//! Bitbucket Data Center end to end, with real git 2.47 against the fake
//! Data Center under a context path: personal HTTP access tokens typed at git's own prompt and
//! kept by the helper; project tokens sent as `Authorization: Bearer`; OAuth through a real
//! headless Chromium and through a scripted browser, with the base URL from the remote path or
//! from `bitbucketDataCenterUrl`; refresh at the Data Center token endpoint; recognition by the
//! realm header alone over real https (stunnel in front of the fake), never over plain http; the
//! error when the base URL cannot be known; and `bitbucketValidateStoredCredentials`.
//!
//! `stunnel4` and the `openssl` CLI must be installed for the https tests.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use bitbucket_test_support::{
    Consent, FakeBitbucket, Fault, FaultTimes, GitEnv, Mode, RequestKind, User, client,
};

const CONTEXT: &str = "/bitbucket";
const REPO: &str = "PROJ/repo";
const PERSONAL_TOKEN: &str = "BBDC-alice-personal-token-0123456789";
const PROJECT_TOKEN: &str = "BBDC-project-PROJ-token-9876543210";
const CLIENT_ID: &str = "dc-application-link";
const CLIENT_SECRET: &str = "dc-client-secret-never-printed";
const REALM: &str = "Basic realm=\"Atlassian Bitbucket\"";

/// The Data Center fixture: a fake under [`CONTEXT`] with [`REPO`], and an isolated git
/// environment whose only credential helper is this binary, keeping secrets in the plaintext
/// store in its HOME. Nothing else is configured: each test says how the host is recognised.
impl Setup {
    fn datacenter() -> Setup {
        let fake = FakeBitbucket::start(Mode::DataCenter { context_path: CONTEXT.to_owned() });
        fake.create_repo(REPO);
        let mut env = GitEnv::new();
        env.config("credential.helper", HELPER);
        env.set_env("GIT_BITBUCKET_CREDENTIAL_STORE", "plaintext");
        Setup::new(fake, env)
    }

    /// `credential.http://127.0.0.1:PORT.provider=bitbucket` (deployment: Data Center by default).
    fn datacenter_with_provider() -> Setup {
        let dc = Setup::datacenter();
        dc.env.config(&format!("credential.{}.provider", dc.http_root()), "bitbucket");
        dc
    }

    fn remote(&self) -> String {
        self.fake.git_url(REPO)
    }

    /// `git clone URL DIR` in an interactive session whose only way to ask is `askpass`.
    fn clone_with_askpass(&self, url: &str, dir: &str, askpass: &Path) -> Output {
        let out = self
            .env
            .command("git")
            .args(["clone", "-q", url, dir])
            .env_remove("GIT_TERMINAL_PROMPT")
            .env("GIT_ASKPASS", askpass)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        eprintln!("$ git clone {url} (askpass)\n{}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// `git clone URL DIR` with `GIT_TERMINAL_PROMPT=0` and no askpass program at all.
    fn clone_without_prompt(&self, url: &str, dir: &str) -> Output {
        let out = self
            .env
            .command("git")
            .args(["clone", "-q", url, dir])
            .env("BROWSER", "/bin/false")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        eprintln!("$ git clone {url} (no prompt)\n{}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// `git credential fill` for the remote, with `extra_env` on top.
    fn fill(&self, extra_env: &[(&str, &str)]) -> Output {
        let mut cmd = git_credential(&self.env, "fill");
        cmd.envs(extra_env.iter().copied());
        run_with_input(cmd, format!("url={}\n\n", self.remote()))
    }

    /// Registers the Data Center OAuth client (application link) on the fake and in git config,
    /// with `user` signed in on the consent page; returns the callback port.
    fn with_oauth_client(&self, user: &str) -> u16 {
        self.fake.add_user(User::new(user, &format!("{user}@example.com")));
        self.fake.set_consenting_user(user);
        let port = self.port;
        self.fake.add_consumer(CLIENT_ID, CLIENT_SECRET, &format!("http://localhost:{port}/"));
        self.env.config("credential.bitbucketDataCenterOAuthClientId", CLIENT_ID);
        self.env.config("credential.bitbucketDataCenterOAuthClientSecret", CLIENT_SECRET);
        self.env.config("credential.bitbucketOAuthRedirectPort", &port.to_string());
        port
    }
}

/// Commits a new file in `checkout`, pushes it with `GIT_TERMINAL_PROMPT=0` and no askpass,
/// and returns the commit id.
fn commit_and_push(env: &GitEnv, checkout: &Path, name: &str) -> String {
    std::fs::write(checkout.join(name), format!("{name}\n")).unwrap();
    env.git(checkout, &["add", name]);
    env.git(checkout, &["commit", "-q", "-m", &format!("Add {name}")]);
    env.git(checkout, &["push", "-q", "origin", "main"]);
    env.git(checkout, &["rev-parse", "HEAD"])
}

/// Runs `cmd` (which makes the helper sign in with OAuth through `BROWSER`), plays the browser
/// on the fake's consent page, follows the redirect to the helper's callback, and returns the
/// command's output and the authorize URL the helper opened.
fn sign_in_with_recording_browser(dc: &Setup, mut cmd: Command, input: &str) -> (Output, String) {
    let (browser, opened) = recording_browser(dc.tmp.path());
    cmd.env_remove("GIT_TERMINAL_PROMPT")
        .env("BROWSER", &browser)
        .env("GIT_BITBUCKET_OAUTH_TIMEOUT", "60")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let url = wait_for_file(&opened, &mut child);
    let location = dc.fake.consent(&url, Consent::Grant);
    let back = client::get(&location.replace("://localhost:", "://127.0.0.1:")).unwrap();
    assert_eq!(back.status, 200, "{}", back.text());
    let out = child.wait_with_output().unwrap();
    eprintln!("{}", stderr(&out));
    (out, url)
}

/// The recorded requests of `kind`, as `(path, status, scheme)`.
fn requests_of(fake: &FakeBitbucket, kind: RequestKind) -> Vec<(String, u16, Option<String>)> {
    fake.requests()
        .into_iter()
        .filter(|r| r.kind == kind)
        .map(|r| (r.path, r.status, r.authorization_scheme))
        .collect()
}

// 1. Personal HTTP access token: typed at git's prompt once, then served by the helper.

#[test]
fn personal_token_typed_at_gits_prompt_is_stored_and_serves_push_and_clone_without_prompt() {
    let dc = Setup::datacenter_with_provider();
    dc.fake.add_user(User::new("alice", "alice@example.com"));
    dc.fake.add_dc_personal_token("alice", PERSONAL_TOKEN);
    let (askpass, asked) = dc.askpass("first", "alice", PERSONAL_TOKEN);
    let host = dc.fake.host();

    let out = dc.clone_with_askpass(&dc.remote(), "first", &askpass);
    assert!(out.status.success(), "first clone failed: {}", stderr(&out));
    let questions = std::fs::read_to_string(&asked).unwrap();
    assert_eq!(questions.lines().count(), 2, "git asked username and token once: {questions}");
    assert!(questions.starts_with("Username for "), "{questions}");

    // Git called `store`, and the helper kept the token under the user's key and the host default.
    for (service, account) in
        [(format!("git:http://alice@{host}/"), "alice"), (format!("git:http://{host}/"), "")]
    {
        let record = dc.record(&service, account).unwrap_or_else(|| panic!("nothing under {service}"));
        assert_eq!(record["kind"], "token", "{service}");
        assert_eq!(record["username"], "alice", "{service}");
        assert_eq!(record["secret"], PERSONAL_TOKEN, "{service}");
    }

    // From now on the helper answers: no prompt, no askpass.
    let pushed = commit_and_push(&dc.env, &dc.env.path().join("first"), "from-datacenter.txt");
    assert_eq!(dc.fake.head_commit(REPO), pushed, "the pushed commit is the fake repository's head");
    let out = dc.clone_without_prompt(&dc.remote(), "second");
    assert!(out.status.success(), "second clone failed: {}", stderr(&out));
    assert_eq!(dc.env.git(&dc.env.path().join("second"), &["rev-parse", "HEAD"]), pushed);

    assert_eq!(std::fs::read_to_string(&asked).unwrap(), questions, "askpass was not asked again");
    let counts = dc.fake.counts();
    assert!(counts.git > 0, "{counts}");
    assert_eq!((counts.rest, counts.token, counts.authorize), (0, 0, 0), "{counts}");
    let git = requests_of(&dc.fake, RequestKind::Git);
    assert!(git.iter().all(|(path, _, _)| path.starts_with("/bitbucket/scm/PROJ/repo.git")), "{git:?}");
}

// 2. Project token: stored with `login --bearer`, answered as `authtype=Bearer`.

#[test]
fn project_token_from_login_bearer_is_sent_as_bearer_for_clone_and_push() {
    let dc = Setup::datacenter_with_provider();
    dc.fake.add_dc_project_token("PROJ", PROJECT_TOKEN);
    let (askpass, asked) = dc.askpass("login", "x-token-auth", PROJECT_TOKEN);
    let root = dc.http_root();

    let login = dc.helper_args(
        &["login", &root, "--method", "token", "--bearer"],
        "",
        &[("GIT_ASKPASS", askpass.to_str().unwrap())],
    );
    eprintln!("{}", stderr(&login));
    assert!(login.status.success(), "{}", stderr(&login));
    assert!(login.stdout.is_empty(), "login prints nothing on stdout");
    assert!(stderr(&login).contains("(bearer, no expiry)"), "{}", stderr(&login));
    assert!(!stderr(&login).contains(PROJECT_TOKEN), "login never prints the token");
    assert_eq!(std::fs::read_to_string(&asked).unwrap().lines().count(), 2, "asked through GIT_ASKPASS");
    let record = dc.record(&format!("git:{root}/"), "").expect("host default stored");
    assert_eq!(record["kind"], "bearer");

    // What git 2.47 gets: capability[]=authtype, authtype=Bearer, credential=TOKEN.
    let host = dc.fake.host();
    let answer = dc.helper("get", &format!("capability[]=authtype\nprotocol=http\nhost={host}\n\n"), &[]);
    assert!(answer.status.success(), "{}", stderr(&answer));
    assert!(stdout(&answer).lines().any(|l| l == "capability[]=authtype"), "{}", stdout(&answer));
    assert_eq!(field(&answer, "authtype"), Some("Bearer"));
    assert_eq!(field(&answer, "credential"), Some(PROJECT_TOKEN));
    assert_eq!(field(&answer, "password"), None, "a Bearer token is never answered as a password");

    dc.env.git(dc.env.path(), &["clone", "-q", &dc.remote(), "checkout"]);
    let pushed = commit_and_push(&dc.env, &dc.env.path().join("checkout"), "from-project-token.txt");
    assert_eq!(dc.fake.head_commit(REPO), pushed, "the pushed commit is the fake repository's head");

    let git = requests_of(&dc.fake, RequestKind::Git);
    let authenticated: Vec<_> = git.iter().filter(|(_, _, scheme)| scheme.is_some()).collect();
    assert!(!authenticated.is_empty(), "{git:?}");
    assert!(
        authenticated.iter().all(|(_, status, scheme)| scheme.as_deref() == Some("Bearer") && *status == 200),
        "every authenticated git request was Bearer and accepted: {git:?}"
    );
    assert!(git.iter().any(|(path, ..)| path.ends_with("/git-receive-pack")), "a push happened: {git:?}");
    assert_eq!((dc.fake.count(RequestKind::Rest), dc.fake.count(RequestKind::Token)), (0, 0));

    // A git without capability[]=authtype cannot send it: a clear error, nothing answered.
    let old_git = dc.helper("get", &format!("protocol=http\nhost={host}\n\n"), &[]);
    assert_eq!(old_git.status.code(), Some(1), "{}", stderr(&old_git));
    assert!(old_git.stdout.is_empty(), "{}", stdout(&old_git));
    let message = stderr(&old_git);
    assert!(message.starts_with("git-credential-bitbucket: "), "{message}");
    assert!(message.contains("git 2.46 or newer"), "{message}");
    assert!(!message.contains(PROJECT_TOKEN), "{message}");
}

#[test]
fn login_with_the_base_url_including_the_context_path_serves_git() {
    let dc = Setup::datacenter_with_provider();
    dc.fake.add_user(User::new("alice", "alice@example.com"));
    dc.fake.add_dc_personal_token("alice", PERSONAL_TOKEN);
    let (askpass, _) = dc.askpass("login", "alice", PERSONAL_TOKEN);
    let base = dc.fake.base_url();
    let login = dc.helper_args(
        &["login", &base, "--method", "token"],
        "",
        &[("GIT_ASKPASS", askpass.to_str().unwrap())],
    );
    assert!(login.status.success(), "{}", stderr(&login));
    let out = dc.clone_without_prompt(&dc.remote(), "checkout");
    assert!(out.status.success(), "login said signed in, but git got nothing: {:?}", dc.services());
}

// 3. OAuth with the application link.

#[test]
fn headless_chromium_oauth_with_base_url_from_the_remote_path_then_no_prompt() {
    // The common set-up: login options list LOGIN_FORM only (no single sign-on), and the
    // OAuth 2.0 provider is there (its client endpoint answers 401 without credentials).
    let dc = Setup::datacenter_with_provider();
    dc.fake.set_identity_provider(false);
    let port = dc.with_oauth_client("carol");
    dc.env.config("credential.useHttpPath", "true");
    let consent_log = dc.tmp.path().join("consent-log");
    let trace = dc.tmp.path().join("trace");

    let out = clone_with_chromium(&dc.env, &dc.remote(), "first", &consent_log, &trace);
    let log = finished_consent_log(&consent_log);
    eprintln!("chromium-consent steps:\n{log}\ngit:\n{}", stderr(&out));
    assert!(out.status.success(), "clone failed: {}", stderr(&out));
    assert!(log.contains("clicked"), "{log}");
    assert!(log.contains(&format!("redirected to http://localhost:{port}/")), "{log}");

    // The endpoints are under the context path taken from the remote's path before /scm/.
    let token = requests_of(&dc.fake, RequestKind::Token);
    assert_eq!(token.len(), 1, "one code exchange: {token:?}");
    assert_eq!(token[0], ("/bitbucket/rest/oauth2/latest/token".to_owned(), 200, None), "client in the form");
    let authorize = requests_of(&dc.fake, RequestKind::Authorize);
    assert!(authorize.iter().all(|(p, ..)| p == "/bitbucket/rest/oauth2/latest/authorize"), "{authorize:?}");
    let rest = requests_of(&dc.fake, RequestKind::Rest);
    assert_eq!(
        rest,
        [
            ("/bitbucket/rest/oauth2/1.0/client".to_owned(), 401, None),
            ("/bitbucket/plugins/servlet/applinks/whoami".to_owned(), 200, Some("Bearer".to_owned()))
        ],
        "asked (without credentials) whether the OAuth 2.0 provider is there; the username comes from whoami"
    );

    // Stored for carol (whom only whoami named), under the repository path git sent.
    let host = dc.fake.host();
    let record = dc
        .record(&format!("git:http://carol@{host}/bitbucket/scm/PROJ/repo.git"), "carol")
        .unwrap_or_else(|| panic!("not stored under the path key: {:?}", dc.services()));
    assert_eq!(record["kind"], "oauth");
    assert_eq!(record["deployment"], "datacenter");
    assert_eq!(record["client_id"], CLIENT_ID);
    assert_eq!(record["has_refresh_token"], true);
    assert!(dc.record(&format!("git:http://carol@{host}/refresh_token"), "carol").is_some());

    let secrets = [dc.fake.last_access_token("carol").unwrap(), dc.fake.last_refresh_token("carol").unwrap()];
    let trace_text = std::fs::read_to_string(&trace).unwrap_or_default();
    for secret in secrets.iter().map(String::as_str).chain([CLIENT_SECRET]) {
        assert!(!stderr(&out).contains(secret), "a secret reached git's stderr");
        assert!(!trace_text.contains(secret), "a secret reached the trace");
    }

    // Next time: no browser, no prompt, no token request.
    let out = dc.clone_without_prompt(&dc.remote(), "second");
    assert!(out.status.success(), "second clone failed: {}", stderr(&out));
    assert_eq!(dc.fake.count(RequestKind::Token), 1, "still the one code exchange");
    assert_eq!(dc.fake.count(RequestKind::Rest), 2, "still the one provider probe and the one whoami");
}

#[test]
fn oauth_with_configured_base_url_and_no_http_path_sends_pkce_state_scope_then_no_prompt() {
    let dc = Setup::datacenter_with_provider();
    let port = dc.with_oauth_client("carol");
    dc.env.config("credential.bitbucketDataCenterUrl", &dc.fake.base_url());

    let mut clone = dc.env.command("git");
    clone.args(["clone", "-q", &dc.remote(), "first"]);
    let (out, url) = sign_in_with_recording_browser(&dc, clone, "");
    assert!(out.status.success(), "clone failed: {}", stderr(&out));

    let authorize = url::Url::parse(&url).unwrap();
    assert_eq!(
        authorize[..url::Position::AfterPath],
        format!("{}/rest/oauth2/latest/authorize", dc.fake.base_url())
    );
    let query: std::collections::HashMap<String, String> = authorize.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["scope"], "REPO_WRITE");
    assert_eq!(query["redirect_uri"], format!("http://localhost:{port}/"));
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["code_challenge"].len() >= 43, "{query:?}");
    assert!(query["state"].len() >= 22, "at least 128 bits of state: {query:?}");
    assert!(!url.contains(CLIENT_SECRET));

    assert_eq!(
        requests_of(&dc.fake, RequestKind::Token),
        [("/bitbucket/rest/oauth2/latest/token".to_owned(), 200, None)]
    );
    assert_eq!(
        requests_of(&dc.fake, RequestKind::Rest),
        [
            ("/bitbucket/rest/oauth2/1.0/client".to_owned(), 401, None),
            ("/bitbucket/plugins/servlet/applinks/whoami".to_owned(), 200, Some("Bearer".to_owned()))
        ]
    );
    // No path from git: stored for the host.
    let host = dc.fake.host();
    let record = dc
        .record(&format!("git:http://carol@{host}/"), "carol")
        .unwrap_or_else(|| panic!("not stored for the host: {:?}", dc.services()));
    assert_eq!(record["kind"], "oauth");

    let out = dc.clone_without_prompt(&dc.remote(), "second");
    assert!(out.status.success(), "second clone failed: {}", stderr(&out));
    let fill = dc.fill(&[]);
    assert!(fill.status.success(), "{}", stderr(&fill));
    assert_eq!(field(&fill, "username"), Some("carol"));
    assert_eq!(dc.fake.count(RequestKind::Token), 1);
    assert_eq!(dc.fake.count(RequestKind::Rest), 2);
}

#[test]
fn a_server_without_an_oauth_provider_is_asked_once_and_git_prompts_for_a_token_instead() {
    let dc = Setup::datacenter_with_provider();
    dc.with_oauth_client("alice");
    dc.env.config("credential.bitbucketDataCenterUrl", &dc.fake.base_url());
    dc.fake.set_oauth_provider(false);
    dc.fake.add_dc_personal_token("alice", PERSONAL_TOKEN);
    let (browser, opened) = recording_browser(dc.tmp.path());
    let input = format!("url={}\n\n", dc.remote());

    // Asked without credentials; no browser; the message says why and names the setting.
    for attempt in 1..=2 {
        let mut get = dc.env.command(HELPER);
        get.arg("get").env_remove("GIT_TERMINAL_PROMPT").env("BROWSER", &browser);
        let out = run_with_input(get, &input);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(out.stdout.is_empty(), "nothing to answer with");
        let message = stderr(&out);
        assert!(message.contains("has no OAuth 2.0 provider"), "{message}");
        assert!(message.contains("credential.bitbucketAuthModes=token"), "{message}");
        assert!(!opened.exists(), "attempt {attempt}: no browser was opened");
    }
    assert_eq!(
        requests_of(&dc.fake, RequestKind::Rest),
        [("/bitbucket/rest/oauth2/1.0/client".to_owned(), 404, None)],
        "asked once, without credentials; the answer is remembered"
    );
    let remembered = dc.env.home().join(".local/state/git-credential-bitbucket/datacenter-oauth");
    let text = std::fs::read_to_string(&remembered).unwrap();
    assert!(text.starts_with(&format!("{}/rest/oauth2/1.0/client no ", dc.fake.base_url())), "{text}");

    // diagnose shows the remembered answer and where it came from.
    let out = dc.helper_args(&["diagnose", &dc.remote()], "", &[]);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        report
            .contains("Data Center OAuth 2.0 provider: absent (no browser sign-in) (the server's answer of "),
        "{report}"
    );
    let probes = dc.fake.requests().iter().filter(|r| r.path.ends_with("/rest/oauth2/1.0/client")).count();
    assert_eq!(probes, 1, "diagnose used the remembered answer");

    // The token path: git asks (askpass), the helper keeps what the server accepted.
    let (askpass, _) = dc.askpass("fallback", "alice", PERSONAL_TOKEN);
    let out = dc.clone_with_askpass(&dc.remote(), "first", &askpass);
    assert!(out.status.success(), "clone failed: {}", stderr(&out));
    assert!(stderr(&out).contains("has no OAuth 2.0 provider"), "{}", stderr(&out));
    assert_eq!(dc.fake.count(RequestKind::Authorize), 0, "no consent page");
    assert_eq!(dc.fake.count(RequestKind::Token), 0, "no OAuth token request");
    let host = dc.fake.host();
    assert_eq!(dc.record(&format!("git:http://alice@{host}/"), "alice").unwrap()["kind"], "token");
}

#[test]
fn a_provider_probe_that_fails_offers_oauth_and_is_not_remembered() {
    for (what, fault) in [
        ("a broken connection", Fault::BrokenConnection),
        ("HTTP 500", Fault::Status(500)),
        ("a redirect", Fault::RedirectTo("http://127.0.0.1:1/login".to_owned())),
        ("200 with no JSON", Fault::Garbage),
    ] {
        let dc = Setup::datacenter_with_provider();
        dc.with_oauth_client("carol");
        dc.env.config("credential.bitbucketDataCenterUrl", &dc.fake.base_url());
        dc.fake.inject("/bitbucket/rest/oauth2/1.0/client", fault, FaultTimes::Always);
        let trace = dc.tmp.path().join("trace");
        let mut clone = dc.env.command("git");
        clone.args(["clone", "-q", &dc.remote(), "first"]).env("GIT_BITBUCKET_TRACE", &trace);
        let (out, _) = sign_in_with_recording_browser(&dc, clone, "");
        assert!(out.status.success(), "{what}: clone failed: {}", stderr(&out));
        assert_eq!(dc.fake.count(RequestKind::Token), 1, "{what}: signed in in the browser");
        let probes =
            dc.fake.requests().iter().filter(|r| r.path.ends_with("/rest/oauth2/1.0/client")).count();
        assert_eq!(probes, 1, "{what}: asked once");
        let trace = std::fs::read_to_string(&trace).unwrap_or_default();
        assert!(
            trace.contains("could not tell whether the server has an OAuth 2.0 provider"),
            "{what}: {trace}"
        );
        let remembered = dc.env.home().join(".local/state/git-credential-bitbucket/datacenter-oauth");
        assert!(!remembered.exists(), "{what}: a failed probe is not remembered");
    }
}

#[test]
fn explicit_auth_modes_skip_the_provider_probe() {
    let dc = Setup::datacenter_with_provider();
    dc.with_oauth_client("carol");
    dc.env.config("credential.bitbucketDataCenterUrl", &dc.fake.base_url());
    dc.env.config("credential.bitbucketAuthModes", "oauth");
    let mut clone = dc.env.command("git");
    clone.args(["clone", "-q", &dc.remote(), "first"]);
    let (out, _) = sign_in_with_recording_browser(&dc, clone, "");
    assert!(out.status.success(), "clone failed: {}", stderr(&out));
    let probes = dc.fake.requests().iter().filter(|r| r.path.ends_with("/rest/oauth2/1.0/client")).count();
    assert_eq!(probes, 0, "no probe request");
    assert_eq!(dc.fake.count(RequestKind::Token), 1);

    let out = dc.helper_args(&["diagnose", &dc.remote()], "", &[]);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        report.contains("Data Center OAuth 2.0 provider: not asked (bitbucketAuthModes is set in git config"),
        "{report}"
    );
    let probes = dc.fake.requests().iter().filter(|r| r.path.ends_with("/rest/oauth2/1.0/client")).count();
    assert_eq!(probes, 0, "diagnose did not ask either");
    // A secret in git config keeps working (the sign-in above); diagnose says where it is.
    assert!(
        report.contains(&format!("Data Center OAuth client: {CLIENT_ID} (id and secret from git config")),
        "{report}"
    );
    assert!(!report.contains(CLIENT_SECRET), "{report}");
}

// 4. Refresh at the Data Center token endpoint.

#[test]
fn near_expiry_data_center_token_is_refreshed_with_the_client_in_the_form_and_rotation_is_saved() {
    let dc = Setup::datacenter_with_provider();
    dc.with_oauth_client("carol");
    dc.env.config("credential.bitbucketDataCenterUrl", &dc.fake.base_url());
    dc.fake.set_expires_in(30); // inside the helper's 60 s margin: the next use refreshes

    let mut fill = dc.env.command("git");
    fill.args(["credential", "fill"]);
    let (first, _) = sign_in_with_recording_browser(&dc, fill, &format!("url={}\n\n", dc.remote()));
    assert!(first.status.success(), "{}", stderr(&first));
    let first_access = field(&first, "password").expect("an access token");
    let first_refresh = field(&first, "oauth_refresh_token").expect("a refresh token");
    let expiry: u64 = field(&first, "password_expiry_utc").expect("an expiry").parse().unwrap();
    assert!(expiry <= unix_now() + 30, "the expiry comes from expires_in");
    assert!(dc.stored().contains(first_refresh));

    let second = dc.fill(&[]);
    assert!(second.status.success(), "{}", stderr(&second));
    let second_access = field(&second, "password").expect("an access token");
    assert_ne!(second_access, first_access, "a new access token");
    assert_eq!(field(&second, "username"), Some("carol"));

    let token = requests_of(&dc.fake, RequestKind::Token);
    assert_eq!(token.len(), 2, "one code exchange, one refresh: {token:?}");
    for request in &token {
        assert_eq!(*request, ("/bitbucket/rest/oauth2/latest/token".to_owned(), 200, None), "{token:?}");
    }
    assert_eq!(dc.fake.rejected_grants(), 0);
    let consent_pages =
        dc.fake.requests().iter().filter(|r| r.kind == RequestKind::Authorize && r.method == "GET").count();
    assert_eq!(consent_pages, 1, "no second consent page");

    let rotated = dc.fake.last_refresh_token("carol").unwrap();
    assert_ne!(rotated, first_refresh);
    assert_eq!(field(&second, "oauth_refresh_token"), Some(rotated.as_str()));
    let stored = dc.stored();
    assert!(stored.contains(&rotated), "the rotated refresh token is stored");
    assert!(!stored.contains(first_refresh), "the spent refresh token is gone");
    assert!(stored.contains(second_access) && !stored.contains(first_access));
}

// 5. Recognition by the realm header alone: https only.

/// `stunnel` terminating TLS on a free loopback port in front of the fake, with a self-signed
/// certificate for 127.0.0.1. Killed on drop.
struct TlsTerminator {
    child: Child,
    port: u16,
    cert: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsTerminator {
    fn start(backend_port: u16) -> TlsTerminator {
        let stunnel = ["/usr/bin/stunnel4", "/usr/bin/stunnel", "/usr/sbin/stunnel4", "/usr/sbin/stunnel"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("stunnel is not installed: apt-get install -y --no-install-recommends stunnel4");
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let openssl = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .args(["-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdin(Stdio::null())
            .output()
            .expect("run openssl");
        assert!(openssl.status.success(), "openssl: {}", stderr(&openssl));
        let port = free_port();
        let config = dir.path().join("stunnel.conf");
        std::fs::write(
            &config,
            format!(
                "foreground = yes\npid =\ndebug = 4\n\n[fake-bitbucket]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{backend_port}\ncert = {}\nkey = {}\n",
                cert.display(),
                key.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("stunnel.log")).unwrap();
        let mut child = Command::new(stunnel)
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start stunnel");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(dir.path().join("stunnel.log")).unwrap_or_default();
                panic!("stunnel ended ({status}) before listening on {port}:\n{log}");
            }
            assert!(Instant::now() < deadline, "stunnel did not listen on {port} within 20 s");
            std::thread::yield_now();
        }
        TlsTerminator { child, port, cert, _dir: dir }
    }
}

impl Drop for TlsTerminator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Data Center fake with alice's personal token, `credential.helper` and the store choice as
/// the only settings (no provider), and stunnel in front of it; git trusts its certificate.
fn realm_only_over_https() -> (Setup, TlsTerminator, String) {
    let dc = Setup::datacenter();
    dc.fake.add_user(User::new("alice", "alice@example.com"));
    dc.fake.add_dc_personal_token("alice", PERSONAL_TOKEN);
    let tls = TlsTerminator::start(dc.fake.port());
    dc.env.config("http.sslCAInfo", tls.cert.to_str().unwrap());
    let credential_config = dc.env.git(dc.env.path(), &["config", "--get-regexp", "^credential"]);
    assert_eq!(credential_config, format!("credential.helper {HELPER}"), "only the helper is configured");
    let https_remote = format!("https://127.0.0.1:{}{CONTEXT}/scm/{REPO}.git", tls.port);
    (dc, tls, https_remote)
}

#[test]
fn realm_alone_over_https_keeps_the_token_typed_at_gits_prompt_and_serves_the_next_clone() {
    let (dc, tls, https_remote) = realm_only_over_https();
    let (askpass, asked) = dc.askpass("https", "alice", PERSONAL_TOKEN);

    let out = dc.clone_with_askpass(&https_remote, "over-https", &askpass);
    assert!(out.status.success(), "https clone failed: {}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&asked).unwrap().lines().count(), 2, "git asked once");
    let service = format!("git:https://alice@127.0.0.1:{}/", tls.port);
    assert!(dc.stored().contains(&service), "the helper did not store the token: {:?}", dc.services());
    let record = dc.record(&service, "alice").unwrap();
    assert_eq!((record["kind"].as_str(), record["secret"].as_str()), (Some("token"), Some(PERSONAL_TOKEN)));

    let out = dc.clone_without_prompt(&https_remote, "again-over-https");
    assert!(out.status.success(), "second https clone failed: {}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&asked).unwrap().lines().count(), 2, "askpass was not asked again");
    assert_eq!((dc.fake.count(RequestKind::Rest), dc.fake.count(RequestKind::Token)), (0, 0));
}

#[test]
fn realm_alone_over_https_makes_the_helper_answer_git_with_a_stored_token() {
    let (dc, tls, https_remote) = realm_only_over_https();
    let host = format!("127.0.0.1:{}", tls.port);
    // Kept the way the helper keeps a realm host's secret: `store` with the realm git saw.
    let store = dc.helper(
        "store",
        &format!(
            "protocol=https\nhost={host}\nusername=alice\npassword={PERSONAL_TOKEN}\nwwwauth[]={REALM}\n\n"
        ),
        &[],
    );
    assert!(store.status.success(), "{}", stderr(&store));
    assert!(dc.record(&format!("git:https://alice@{host}/"), "alice").is_some(), "{:?}", dc.services());
    // Without the realm (git's own `store` after a success): the host was recognised once, so
    // it is remembered; a host never seen with the realm is still not ours.
    let without_realm = dc.helper(
        "store",
        &format!("protocol=https\nhost={host}\nusername=bob\npassword=bob-token\n\n"),
        &[],
    );
    assert!(without_realm.status.success());
    assert!(dc.record(&format!("git:https://bob@{host}/"), "bob").is_some(), "{:?}", dc.services());
    let unknown = dc.helper(
        "store",
        "protocol=https\nhost=never-seen.example.com\nusername=carol\npassword=carol-token\n\n",
        &[],
    );
    assert!(unknown.status.success());
    assert!(!dc.stored().contains("never-seen.example.com"), "{:?}", dc.services());

    // Real git over real TLS: the 401's realm reaches `get`, and the helper answers.
    let out = dc.clone_without_prompt(&https_remote, "over-https");
    assert!(out.status.success(), "https clone failed: {}", stderr(&out));
    let pushed = commit_and_push(&dc.env, &dc.env.path().join("over-https"), "over-tls.txt");
    assert_eq!(dc.fake.head_commit(REPO), pushed);
    let git = requests_of(&dc.fake, RequestKind::Git);
    assert!(
        git.iter().any(|(_, status, scheme)| *status == 200 && scheme.as_deref() == Some("Basic")),
        "{git:?}"
    );
    assert_eq!((dc.fake.count(RequestKind::Rest), dc.fake.count(RequestKind::Token)), (0, 0));
}

#[test]
fn realm_alone_never_makes_a_plain_http_host_data_center() {
    let dc = Setup::datacenter(); // no provider setting: only credential.helper and the store choice
    dc.fake.add_user(User::new("alice", "alice@example.com"));
    dc.fake.add_dc_personal_token("alice", PERSONAL_TOKEN);
    let host = dc.fake.host();
    let (askpass, asked) = dc.askpass("http", "alice", PERSONAL_TOKEN);

    // Git's own prompt gets the clone through; the helper keeps nothing for the http URL.
    let out = dc.clone_with_askpass(&dc.remote(), "over-http", &askpass);
    assert!(out.status.success(), "http clone with git's own prompt failed: {}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&asked).unwrap().lines().count(), 2);
    assert_eq!(dc.stored(), "", "nothing stored for the plain http URL");

    // Even a `store` that carries the realm is refused over http.
    let store = dc.helper(
        "store",
        &format!(
            "protocol=http\nhost={host}\nusername=alice\npassword={PERSONAL_TOKEN}\nwwwauth[]={REALM}\n\n"
        ),
        &[],
    );
    assert!(store.status.success(), "{}", stderr(&store));
    assert_eq!(dc.stored(), "", "nothing stored for the plain http URL");

    // And a secret already in the store for that URL is not answered to git over http.
    let record = serde_json::json!({"kind": "token", "username": "alice", "secret": PERSONAL_TOKEN});
    let file = serde_json::json!({"version": 1, "entries": {
        format!("git:http://alice@{host}/"): {"alice": record},
        format!("git:http://{host}/"): {"": record},
    }});
    std::fs::create_dir_all(dc.store_file().parent().unwrap()).unwrap();
    std::fs::write(dc.store_file(), serde_json::to_vec_pretty(&file).unwrap()).unwrap();
    let get = dc.helper("get", &format!("protocol=http\nhost={host}\nwwwauth[]={REALM}\n\n"), &[]);
    assert!(get.status.success() && get.stdout.is_empty(), "{}{}", stdout(&get), stderr(&get));
    let out = dc.clone_without_prompt(&dc.remote(), "again-over-http");
    assert!(!out.status.success(), "the helper answered for a plain http host known only by its realm");
    assert_eq!((dc.fake.count(RequestKind::Rest), dc.fake.count(RequestKind::Token)), (0, 0));
}

// 6. The base URL cannot be known.

#[test]
fn oauth_without_base_url_or_http_path_fails_naming_both_settings() {
    let dc = Setup::datacenter_with_provider();
    dc.fake.add_user(User::new("carol", "carol@example.com"));
    let (browser, opened) = recording_browser(dc.tmp.path());
    let input = format!("protocol=http\nhost={}\nwwwauth[]={REALM}\n\n", dc.fake.host());
    let env = [
        ("GIT_BITBUCKET_DATACENTER_CLIENTID", CLIENT_ID),
        ("GIT_BITBUCKET_DATACENTER_CLIENTSECRET", CLIENT_SECRET),
        ("BROWSER", browser.as_str()),
    ];
    let mut cmd = dc.env.command(HELPER);
    cmd.arg("get").env_remove("GIT_TERMINAL_PROMPT").envs(env);
    let out = run_with_input(cmd, &input);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    let message = stderr(&out);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.starts_with("git-credential-bitbucket: "), "{message}");
    assert!(message.contains("bitbucketDataCenterUrl") && message.contains("useHttpPath"), "{message}");
    assert!(!message.contains(CLIENT_SECRET), "{message}");
    assert!(!opened.exists(), "no browser was opened");
    assert_eq!(dc.fake.counts(), Default::default(), "no request reached the server");
    assert_eq!(dc.stored(), "", "nothing stored");
}

// 7. bitbucketValidateStoredCredentials.

#[test]
fn validation_asks_recent_repos_and_withholds_a_token_the_server_rejects() {
    let dc = Setup::datacenter_with_provider();
    dc.env.config("credential.bitbucketDataCenterUrl", &dc.fake.base_url());
    dc.fake.add_user(User::new("alice", "alice@example.com"));
    dc.fake.add_user(User::new("bob", "bob@example.com"));
    dc.fake.add_dc_personal_token("alice", PERSONAL_TOKEN);
    let host = dc.fake.host();
    let revoked = "BBDC-bob-revoked-token";
    for (user, token) in [("alice", PERSONAL_TOKEN), ("bob", revoked)] {
        let out = dc.helper(
            "store",
            &format!("protocol=http\nhost={host}\nusername={user}\npassword={token}\n\n"),
            &[],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let get = |user: &str| dc.helper("get", &format!("protocol=http\nhost={host}\nusername={user}\n\n"), &[]);
    let recent_repos = "/bitbucket/rest/api/1.0/profile/recent/repos".to_owned();

    dc.env.config("credential.bitbucketValidateStoredCredentials", "true");
    let out = get("bob");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "a token the server rejects is not answered: {}", stdout(&out));
    assert_eq!(
        requests_of(&dc.fake, RequestKind::Rest),
        [(recent_repos.clone(), 401, Some("Basic".to_owned()))],
        "exactly one check, at an endpoint that needs a user"
    );

    dc.fake.reset_log();
    let out = get("alice");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(field(&out, "password"), Some(PERSONAL_TOKEN));
    assert_eq!(requests_of(&dc.fake, RequestKind::Rest), [(recent_repos, 200, Some("Basic".to_owned()))]);

    dc.fake.reset_log();
    dc.env.config("credential.bitbucketValidateStoredCredentials", "false");
    let out = get("bob");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(field(&out, "password"), Some(revoked), "without validation: answered as stored");
    assert_eq!(dc.fake.count(RequestKind::Rest), 0, "and no request");
    assert_eq!(dc.fake.counts(), Default::default());
}
