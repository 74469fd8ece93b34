//! The order of attempts (SPEC §7) and what `store` and `erase` keep and forget (SPEC §3, §6).
//!
//! [`Authenticator`] is the policy: given a credential request from git, decide which stored
//! secret answers it, when to ask the person, what to write and what to delete. It never
//! touches stdin/stdout and never prints a secret.

use crate::Error;
use crate::bitbucket::Endpoints;
use crate::bitbucket::api::{self, Http, UserCheck};
use crate::config::{AuthMode, OAuthClient, Settings};
use crate::host::Deployment;
use crate::lock::AccountLock;
use crate::oauth::{self, BrowserUi, Grant, TokenError, TokenResponse, browser};
use crate::paths::Paths;
use crate::prompt::Prompter;
use crate::protocol::Credential;
use crate::rescue::{RescueDir, Rescued, fingerprint};
use crate::secret::Secret;
use crate::store::{Account, SecretKind, SecretStore, StoreKey, StoredSecret};

/// A token this close to its expiry (seconds) is treated as expired.
pub const EXPIRY_MARGIN_SECS: u64 = 60;

/// What the authenticator needs from the world outside: the environment, the person, the clock.
pub struct Context<'a> {
    /// Environment variable look-up.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// How to ask the person.
    pub prompter: &'a dyn Prompter,
    /// Whether stderr is a terminal (messages that only help a person go there only then).
    pub stderr_is_terminal: bool,
    /// Current time, Unix seconds.
    pub now: &'a dyn Fn() -> u64,
}

/// A secret found in the store, with the account it belongs to.
#[derive(Debug, Clone)]
pub struct Found {
    /// The account, username known.
    pub account: Account,
    /// The record.
    pub record: StoredSecret,
}

/// Decides every `get`, `store` and `erase` for one host.
pub struct Authenticator<'a> {
    settings: Settings,
    deployment: Deployment,
    store: Box<dyn SecretStore + 'a>,
    ctx: &'a Context<'a>,
    http: std::cell::OnceCell<Http>,
    refresh_policy: Option<RefreshPolicy<'a>>,
    jwt: Option<Secret>,
    paths: Paths,
}

/// Decides when to refresh: called with the stored access token and the current time.
pub type RefreshPolicy<'a> = Box<dyn Fn(&StoredSecret, u64) -> bool + 'a>;

/// What [`Authenticator::resolve`] found.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// A stored (or just obtained and stored) secret.
    Stored(Found),
    /// A username and secret the person typed; not stored until the server accepts it.
    Typed {
        /// The username.
        username: String,
        /// The secret.
        secret: Secret,
    },
}

impl<'a> Authenticator<'a> {
    /// An authenticator for a host of `deployment`, keeping secrets in `store`.
    pub fn new(
        settings: Settings,
        deployment: Deployment,
        store: Box<dyn SecretStore + 'a>,
        ctx: &'a Context<'a>,
    ) -> Self {
        Authenticator {
            settings,
            deployment,
            store,
            ctx,
            http: std::cell::OnceCell::new(),
            refresh_policy: None,
            jwt: None,
            paths: Paths::from_env(ctx.env),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The store in use.
    pub fn secret_store(&self) -> &dyn SecretStore {
        self.store.as_ref()
    }

    fn http(&self) -> Result<&Http, Error> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let network = crate::net::load(&self.settings.network, self.ctx.env)?;
        if let Some(warning) = network.warning() {
            eprintln!("git-credential-bitbucket: {warning}");
        }
        let http = Http::with_network(self.settings.http_timeout, network)?;
        Ok(self.http.get_or_init(|| http))
    }

    /// The account git asks about (username as git gave it, possibly none).
    pub fn account(&self, cred: &Credential) -> Option<Account> {
        let (protocol, host) = (cred.protocol.as_deref()?, cred.host.as_deref()?);
        Some(Account::new(
            &self.settings.namespace,
            protocol,
            host,
            cred.path.as_deref(),
            cred.username.as_deref(),
        ))
    }

    fn now(&self) -> u64 {
        (self.ctx.now)()
    }

    /// Fresh: no known expiry (an API token), or more than [`EXPIRY_MARGIN_SECS`] left.
    pub fn is_fresh(&self, record: &StoredSecret) -> bool {
        record.kind != SecretKind::Refresh
            && record.expires_at.is_none_or(|t| t > self.now().saturating_add(EXPIRY_MARGIN_SECS))
    }

    /// `get`: the order of attempts of SPEC §7, answered in git's terms.
    pub fn get(&self, cred: &Credential) -> Result<Option<Credential>, Error> {
        match self.resolve(cred, false)? {
            Some(Resolved::Stored(found)) => Ok(Some(self.answer(cred, &found)?)),
            Some(Resolved::Typed { username, secret }) => Ok(Some(Credential {
                username: Some(username),
                password: Some(secret),
                ..Credential::default()
            })),
            None => Ok(None),
        }
    }

    /// The order of attempts of SPEC §7: a fresh stored token (no network), a refresh, the
    /// client credentials or JWT grant, interactive sign-in, else nothing. With
    /// `force_credentials` the store is skipped and a new sign-in is made.
    pub fn resolve(&self, cred: &Credential, force_credentials: bool) -> Result<Option<Resolved>, Error> {
        let Some(account) = self.account(cred) else { return Ok(None) };
        let account = match self.client_credentials_mode() {
            Some(_) if cred.username.is_none() => account.with_username(CLIENT_CREDENTIALS_USER),
            _ => account,
        };
        if !force_credentials && let Some(found) = self.find(&account)? {
            let fresh = self.is_fresh(&found.record);
            let refreshable = found.record.has_refresh_token;
            let refresh_now = refreshable
                && match &self.refresh_policy {
                    Some(policy) => policy(&found.record, self.now()),
                    None => !fresh || self.settings.always_refresh,
                };
            let valid =
                !self.settings.validate_stored || refresh_now || !fresh || self.validate(cred, &found)?;
            if !refresh_now
                && fresh
                && !valid
                && refreshable
                && let Some(refreshed) = self.refresh(cred, &found)?
            {
                return Ok(Some(Resolved::Stored(refreshed)));
            }
            if !refresh_now && fresh && valid {
                tracing::debug!(
                    "stored {} for {} is fresh: answering without a network request",
                    found.record.kind.name(),
                    found.account.url()
                );
                return Ok(Some(Resolved::Stored(found)));
            }
            if refresh_now && let Some(refreshed) = self.refresh(cred, &found)? {
                return Ok(Some(Resolved::Stored(refreshed)));
            }
        }
        if let Some(jwt) = &self.jwt {
            return self.app_token(cred, &account, Grant::Jwt(jwt)).map(|f| Some(Resolved::Stored(f)));
        }
        if self.client_credentials_mode().is_some() {
            return self
                .app_token(cred, &account, Grant::ClientCredentials)
                .map(|f| Some(Resolved::Stored(f)));
        }
        if !self.may_prompt() {
            self.explain_not_signed_in(&account);
            return Ok(None);
        }
        let signed_in = self.sign_in(cred, &account)?;
        if signed_in.is_none() && (self.deployment == Deployment::Cloud || self.oauth_client().is_some()) {
            self.explain_not_signed_in(&account);
        }
        Ok(signed_in)
    }

    /// Keep secrets in `store` instead of the configured one.
    pub fn with_store(mut self, store: Box<dyn SecretStore + 'a>) -> Self {
        self.store = store;
        self
    }

    /// `bitbucketValidateStoredCredentials`: ask the REST API whether a stored secret still
    /// works. Data Center is asked at an endpoint that needs an authenticated user, so that
    /// anonymous access never makes a revoked token look valid. A Cloud API token stored
    /// with a username (not the email) cannot be checked over REST and counts as valid; so
    /// does a secret whose check fails for a network reason (git will tell).
    fn validate(&self, cred: &Credential, found: &Found) -> Result<bool, Error> {
        let endpoints = self.endpoints(cred)?;
        let record = &found.record;
        let http = self.http()?;
        let bearer =
            matches!(record.kind, SecretKind::OAuth | SecretKind::ClientCredentials | SecretKind::Bearer);
        let response = if bearer {
            http.get_bearer(&endpoints.validate, &record.secret)
        } else if self.deployment == Deployment::Cloud && !record.username.contains('@') {
            tracing::debug!("validate: a Cloud API token with a username cannot be checked over REST");
            return Ok(true);
        } else {
            http.get_basic(&endpoints.validate, &record.username, &record.secret)
        };
        match response {
            Ok(r) if r.status().as_u16() == 401 || r.status().as_u16() == 403 => {
                tracing::debug!(
                    "validate: {} rejected the stored secret",
                    api::redacted(&endpoints.validate)
                );
                Ok(false)
            }
            Ok(r) => {
                tracing::debug!(
                    "validate: {} -> {}",
                    api::redacted(&endpoints.validate),
                    r.status().as_u16()
                );
                Ok(true)
            }
            Err(e) => {
                tracing::debug!("validate: {e}; answering the stored secret");
                Ok(true)
            }
        }
    }

    /// Use `policy` instead of the expiry to decide when to refresh (the seed library's
    /// `useRefreshToken`): called with the stored access token and the time whenever a refresh
    /// token is available; `true` refreshes now. A stale token is never answered: when the
    /// policy says no and the token has expired, a new sign-in follows.
    pub fn with_refresh_policy(mut self, policy: RefreshPolicy<'a>) -> Self {
        self.refresh_policy = Some(policy);
        self
    }

    /// Get tokens with the JWT-bearer grant (`urn:bitbucket:oauth2:jwt`, Connect apps)
    /// instead of signing in interactively.
    pub fn with_jwt(mut self, jwt: Secret) -> Self {
        self.jwt = Some(jwt);
        self
    }

    /// The deployment's endpoints for this request.
    pub fn endpoints(&self, cred: &Credential) -> Result<Endpoints, Error> {
        Ok(Endpoints::for_remote(
            self.deployment,
            &self.settings,
            cred.protocol.as_deref().unwrap_or("https"),
            cred.host.as_deref().unwrap_or_default(),
            cred.path.as_deref(),
        )?)
    }

    /// The OAuth client configured for this deployment, if any.
    pub fn oauth_client(&self) -> Option<&OAuthClient> {
        match self.deployment {
            Deployment::Cloud => self.settings.cloud_client.as_ref(),
            Deployment::DataCenter => self.settings.datacenter_client.as_ref(),
        }
    }

    fn client_credentials_mode(&self) -> Option<&OAuthClient> {
        self.oauth_client().filter(|_| self.settings.auth_modes.contains(&AuthMode::ClientCredentials))
    }

    /// Step 2: refresh an expired (or, with `bitbucketAlwaysRefreshCredentials`, any) OAuth
    /// token, at most once across all processes: take the account's lock, re-read the store
    /// (another process may have refreshed meanwhile, or an earlier run may have left tokens
    /// it could not save), refresh, and keep the rotated refresh token before the access
    /// token. `None` when there is nothing to refresh with, or the refresh token is dead.
    /// Any other failure keeps every token and is an error that names its cause.
    pub fn refresh(&self, cred: &Credential, found: &Found) -> Result<Option<Found>, Error> {
        let Some(refresh_key) = found.account.refresh_key() else { return Ok(None) };
        let _lock = self.lock_account(&refresh_key)?;
        let access_key = found.account.access_key();
        let rescued = self.recover_rescued(&refresh_key)?;
        let current = match rescued.as_ref().filter(|r| r.account.access_key() == access_key) {
            Some(r) => Some(r.access.clone()),
            None => self.store.load(&access_key)?,
        };
        if let Some(current) = current
            && current.secret != found.record.secret
            && self.is_fresh(&current)
        {
            tracing::debug!("another process refreshed {} meanwhile", found.account.url());
            return Ok(Some(Found { account: found.account.clone(), record: current }));
        }
        let (refresh, stored_refresh) = match rescued {
            Some(r) => (r.refresh, r.replaces),
            None => {
                let stored = self.store.load(&refresh_key)?;
                let print = stored.as_ref().map(|r| fingerprint(&r.secret));
                (stored, print)
            }
        };
        let Some(refresh) = refresh else {
            tracing::debug!("no refresh token stored for {}", found.account.url());
            return Ok(None);
        };
        let endpoints = self.endpoints(cred)?;
        let Some(client) = self.oauth_client() else {
            tracing::debug!("no OAuth client configured: cannot refresh");
            return Ok(None);
        };
        if found.record.client_id.as_ref().is_some_and(|id| *id != client.id) {
            tracing::debug!("the token was issued to another OAuth client: cannot refresh it with this one");
            return Ok(None);
        }
        tracing::debug!("refreshing the token of {}", found.account.url());
        match oauth::request_token(self.http()?, &endpoints, client, Grant::Refresh(&refresh.secret)) {
            Ok(tokens) => {
                let kind = match found.record.kind {
                    SecretKind::ClientCredentials => SecretKind::ClientCredentials,
                    _ => SecretKind::OAuth,
                };
                let issued =
                    Issued { account: &found.account, username: &found.record.username, kind, client };
                let record = self.keep_tokens(issued, &endpoints, tokens, stored_refresh)?;
                Ok(Some(Found { account: found.account.clone(), record }))
            }
            Err(e @ TokenError::Rejected { grant_is_dead: true, .. }) => {
                tracing::debug!("{e}: the refresh token is dead; deleting it");
                self.forget_refresh_token(&found.account)?;
                if self.store.load(&access_key)?.is_some_and(|r| r.secret == found.record.secret) {
                    self.store.delete(&access_key)?;
                }
                if self.ctx.stderr_is_terminal {
                    eprintln!(
                        "git-credential-bitbucket: Bitbucket no longer accepts the saved sign-in for {} ({e}); sign in again",
                        found.account.url()
                    );
                }
                Ok(None)
            }
            Err(e) => Err(self.refresh_failed(&found.account, e)),
        }
    }

    /// A refresh that failed for a reason other than a dead refresh token: what went wrong
    /// and, when the consumer was refused, which settings hold it.
    fn refresh_failed(&self, account: &Account, e: TokenError) -> Error {
        let reason = match &e {
            TokenError::Rejected { error, .. }
                if error == "invalid_client" || error == "unauthorized_client" =>
            {
                let (id, secret) = match self.deployment {
                    Deployment::Cloud => ("bitbucketOAuthClientId", "bitbucketOAuthClientSecret"),
                    Deployment::DataCenter => {
                        ("bitbucketDataCenterOAuthClientId", "bitbucketDataCenterOAuthClientSecret")
                    }
                };
                format!(
                    "Bitbucket refused the OAuth consumer ({error}); check credential.{id} and credential.{secret} (or their environment variables)"
                )
            }
            _ => e.to_string(),
        };
        Error::RefreshFailed { url: account.url(), reason }
    }

    /// Tokens an earlier run obtained but could not save: saved now when the store takes
    /// them, and returned while they are newer than the store's (the store still holds the
    /// refresh token they replaced). An outdated rescue is deleted.
    fn recover_rescued(&self, refresh_key: &StoreKey) -> Result<Option<Rescued>, Error> {
        let rescue = self.rescue_dir();
        let rescued = match rescue.load(refresh_key) {
            Ok(Some(rescued)) => rescued,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::debug!("ignoring an unreadable rescue file: {e}");
                return Ok(None);
            }
        };
        let stored = self.store.load(refresh_key)?.map(|r| fingerprint(&r.secret));
        if stored != rescued.replaces {
            tracing::debug!("the rescued sign-in of {} is older than the stored one", rescued.account.url());
            if let Err(e) = rescue.remove(refresh_key) {
                tracing::debug!("could not delete the outdated rescue file: {e}");
            }
            return Ok(None);
        }
        match self.write_tokens(&rescued.account, &rescued.access, rescued.refresh.as_ref()) {
            Ok(()) => {
                tracing::debug!("saved the rescued sign-in of {}", rescued.account.url());
                if let Err(e) = rescue.remove(refresh_key) {
                    tracing::debug!("could not delete the rescue file: {e}");
                }
            }
            Err(e) => tracing::debug!("the store still refuses the rescued sign-in ({e}); using it as it is"),
        }
        Ok(Some(rescued))
    }

    fn rescue_dir(&self) -> RescueDir {
        RescueDir::new(self.paths.state.as_deref())
    }

    /// The account's lock, waited for at most as long as a refresh can take.
    fn lock_account(&self, refresh_key: &StoreKey) -> Result<AccountLock, Error> {
        let timeout = self.settings.http_timeout * 2 + std::time::Duration::from_secs(5);
        Ok(AccountLock::acquire(&self.paths.locks, refresh_key, timeout)?)
    }

    /// Keep tokens from a grant: the refresh token first, then the access token with its
    /// metadata, then the host default copy. Bitbucket has already retired the refresh token
    /// these replace, so a failed write is tried once more and then the tokens are rescued
    /// ([`crate::rescue`]); the access token is returned either way, so git is answered.
    /// `replaces` is the fingerprint of the refresh token in the store now.
    fn keep_tokens(
        &self,
        issued: Issued<'_>,
        endpoints: &Endpoints,
        tokens: TokenResponse,
        replaces: Option<String>,
    ) -> Result<StoredSecret, Error> {
        let username = issued.username;
        let account = issued.account.with_username(username);
        let mut record = StoredSecret::new(issued.kind, username, tokens.access_token);
        record.expires_at = tokens.expires_in.map(|secs| self.now().saturating_add(secs));
        record.deployment = Some(endpoints.deployment);
        record.client_id = Some(issued.client.id.clone());
        let refresh = tokens.refresh_token.map(|t| StoredSecret::new(SecretKind::Refresh, username, t));
        record.has_refresh_token = refresh.is_some()
            || account.refresh_key().is_some_and(|k| matches!(self.store.load(&k), Ok(Some(_))));
        let written = self
            .write_tokens(&account, &record, refresh.as_ref())
            .or_else(|_| self.write_tokens(&account, &record, refresh.as_ref()));
        if let Err(cause) = written {
            let rescued = Rescued { replaces, account, access: record.clone(), refresh };
            self.rescue_tokens(&rescued, &cause);
        }
        Ok(record)
    }

    fn write_tokens(
        &self,
        account: &Account,
        access: &StoredSecret,
        refresh: Option<&StoredSecret>,
    ) -> Result<(), Error> {
        if let (Some(key), Some(refresh)) = (account.refresh_key(), refresh) {
            self.store.save(&key, refresh)?;
        }
        self.store.save(&account.access_key(), access)?;
        self.update_host_default(account, access)
    }

    /// Keep tokens the store refused in a rescue file, and say so: this one message goes to
    /// stderr whether or not it is a terminal, because a sign-in is at stake.
    fn rescue_tokens(&self, rescued: &Rescued, cause: &Error) {
        let url = rescued.account.url();
        let kept = match rescued.account.refresh_key() {
            Some(key) => self.rescue_dir().keep(&key, rescued),
            None => Err(std::io::Error::other("no account name")),
        };
        match kept {
            Ok(path) => eprintln!(
                "git-credential-bitbucket: could not save the new sign-in for {url} ({cause}); git gets the new token, and the sign-in is kept in {} until a later run saves it",
                path.display()
            ),
            Err(e) => eprintln!(
                "git-credential-bitbucket: could not save the new sign-in for {url} ({cause}), nor keep it aside ({e}); git gets the new token, but once it expires you will have to sign in again"
            ),
        }
    }

    /// Step 3: a token for the application rather than a person — the client credentials
    /// grant (CI) or the JWT-bearer grant (Connect apps) — cached until it expires and
    /// answered as `x-token-auth` (unless git gave a username).
    fn app_token(&self, cred: &Credential, account: &Account, grant: Grant<'_>) -> Result<Found, Error> {
        let endpoints = self.endpoints(cred)?;
        let no_client = OAuthClient { id: String::new(), secret: Secret::default() };
        let client = match grant {
            // A Connect app authenticates with its JWT alone.
            Grant::Jwt(_) => self.oauth_client().unwrap_or(&no_client),
            _ => self.client_credentials_mode().ok_or_else(|| Error::SignIn(NO_CLIENT.to_owned()))?,
        };
        tracing::debug!("{} grant for {}", grant.name(), account.url());
        let tokens = oauth::request_token(self.http()?, &endpoints, client, grant)?;
        let username = cred.username.as_deref().unwrap_or(CLIENT_CREDENTIALS_USER);
        let issued = Issued { account, username, kind: SecretKind::ClientCredentials, client };
        let replaces = self.stored_refresh_fingerprint(&account.with_username(username));
        let record = self.keep_tokens(issued, &endpoints, tokens, replaces)?;
        Ok(Found { account: account.with_username(username), record })
    }

    fn stored_refresh_fingerprint(&self, account: &Account) -> Option<String> {
        let key = account.refresh_key()?;
        self.store.load(&key).ok().flatten().map(|r| fingerprint(&r.secret))
    }

    /// The stored access secret for the account, or the host default when git gave no username.
    pub fn find(&self, account: &Account) -> Result<Option<Found>, Error> {
        let key = account.access_key();
        let Some(record) = self.store.load(&key)? else {
            return Ok(None);
        };
        let account = match &account.username {
            Some(_) => account.clone(),
            None => account.with_username(&record.username),
        };
        Ok(Some(Found { account, record }))
    }

    /// The protocol answer for a stored secret (with its refresh token when one is stored).
    pub fn answer(&self, cred: &Credential, found: &Found) -> Result<Credential, Error> {
        let record = &found.record;
        let mut answer = Credential {
            username: Some(record.username.clone()),
            password: Some(record.secret.clone()),
            password_expiry_utc: record.expires_at,
            ..Credential::default()
        };
        if record.kind == SecretKind::Bearer {
            if !cred.has_capability("authtype") {
                return Err(Error::SignIn(format!(
                    "the token stored for {} is a Data Center project or repository token, which works only as `Authorization: Bearer`; git 2.46 or newer is needed to send it (this git did not announce capability[]=authtype)",
                    found.account.url()
                )));
            }
            answer.capabilities = vec!["authtype".to_owned()];
            answer.authtype = Some("Bearer".to_owned());
            answer.credential = Some(record.secret.clone());
            answer.username = None;
            answer.password = None;
        }
        if let Some(key) = found.account.refresh_key().filter(|_| record.has_refresh_token) {
            answer.oauth_refresh_token = self.store.load(&key)?.map(|r| r.secret);
        }
        Ok(answer)
    }

    /// Whether prompting is allowed at all (settings and `GIT_TERMINAL_PROMPT`).
    pub fn may_prompt(&self) -> bool {
        let terminal_prompt = (self.ctx.env)("GIT_TERMINAL_PROMPT")
            .is_none_or(|v| !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no" | "off"));
        self.settings.interactive && terminal_prompt
    }

    /// Interactive sign-in with the methods of `bitbucketAuthModes` that work here: OAuth in
    /// the browser when a client is configured, else (Cloud) a username and API token.
    ///
    /// A Data Center token prompt is left to git: git asks the same two questions through
    /// the same askpass program or terminal, then calls `store`, so the result is the same,
    /// and git's `credential fill` output stays exactly as git documents it.
    fn sign_in(&self, cred: &Credential, account: &Account) -> Result<Option<Resolved>, Error> {
        for mode in &self.settings.auth_modes {
            match mode {
                AuthMode::OAuth if self.oauth_client().is_some() => {
                    return self.sign_in_with_oauth(cred, account).map(|f| Some(Resolved::Stored(f)));
                }
                AuthMode::Token if self.deployment == Deployment::Cloud => {
                    return self.sign_in_with_token(cred, account);
                }
                _ => {}
            }
        }
        if self.deployment == Deployment::Cloud && self.settings.auth_modes.contains(&AuthMode::OAuth) {
            self.ctx.prompter.tell(NO_CLIENT);
        }
        Ok(None)
    }

    /// OAuth in the browser (SPEC §8), then the username from the user endpoint; stores the
    /// tokens (refresh first).
    pub fn sign_in_with_oauth(&self, cred: &Credential, account: &Account) -> Result<Found, Error> {
        let client = self.oauth_client().ok_or_else(|| Error::SignIn(NO_CLIENT.to_owned()))?;
        let endpoints = self.endpoints(cred)?;
        let ui = BrowserUi {
            browser_var: (self.ctx.env)("BROWSER"),
            desktop: browser::has_desktop(self.ctx.env),
            chatty: self.ctx.stderr_is_terminal,
            paste_source: oauth::terminal_paste_source(),
        };
        let (port, timeout) = (self.settings.redirect_port, self.settings.oauth_timeout);
        let tokens = oauth::sign_in_with_browser(self.http()?, &endpoints, client, port, timeout, ui)?;
        let username = self.username_for_token(&endpoints, &tokens.access_token)?;
        tracing::debug!("signed in with OAuth to {}", account.url());
        let issued = Issued { account, username: &username, kind: SecretKind::OAuth, client };
        let replaces = self.stored_refresh_fingerprint(&account.with_username(&username));
        let record = self.keep_tokens(issued, &endpoints, tokens, replaces)?;
        Ok(Found { account: account.with_username(&username), record })
    }

    /// Who an access token belongs to, from the deployment's user endpoint.
    fn username_for_token(&self, endpoints: &Endpoints, token: &Secret) -> Result<String, Error> {
        let response = self.http()?.get_bearer(&endpoints.user, token)?;
        match api::read_user(&endpoints.user, response)? {
            UserCheck::Valid(name) => Ok(name),
            UserCheck::Unauthorized | UserCheck::Forbidden => Err(Error::SignIn(format!(
                "{} did not accept the new access token; nothing was stored",
                api::redacted(&endpoints.user)
            ))),
        }
    }

    /// Ask for a username (unless git gave one) and a token, the way git itself asks. The
    /// answer is not stored here: git calls `store` once the server has accepted it.
    pub fn sign_in_with_token(
        &self,
        cred: &Credential,
        account: &Account,
    ) -> Result<Option<Resolved>, Error> {
        let prompter = self.ctx.prompter;
        if self.deployment == Deployment::Cloud {
            prompter.tell(CLOUD_TOKEN_HINT);
        }
        let username = match &cred.username {
            Some(u) => u.clone(),
            None => match prompter.ask(&format!("Username for '{}': ", describe(cred, None)), false)? {
                Some(u) => u,
                None => return Ok(None),
            },
        };
        let Some(token) =
            prompter.ask(&format!("Password for '{}': ", describe(cred, Some(&username))), true)?
        else {
            return Ok(None);
        };
        let token = Secret::new(token);
        if self.deployment == Deployment::Cloud {
            match self.check_cloud_token(&username, &token, account) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                // A valid password of an account with two-step verification: OAuth is the way.
                Err(Error::TwoStep) => {
                    return self.sign_in_with_oauth(cred, account).map(|f| Some(Resolved::Stored(f)));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Some(Resolved::Typed { username, secret: token }))
    }

    /// Ask Cloud's `/2.0/user` about a username + secret typed by the person. `false` when the
    /// secret is certainly wrong. A 401 for a username that is not an email proves nothing:
    /// the REST API wants the email with an API token, git wants the username.
    fn check_cloud_token(&self, username: &str, token: &Secret, account: &Account) -> Result<bool, Error> {
        let endpoints = Endpoints::cloud(&self.settings);
        let checked = self
            .http()
            .and_then(|http| Ok(http.get_basic(&endpoints.user, username, token)?))
            .and_then(|response| Ok(api::read_user(&endpoints.user, response)?));
        match checked {
            Ok(UserCheck::Valid(_)) => Ok(true),
            Ok(UserCheck::Unauthorized) if username.contains('@') => Err(Error::SignIn(format!(
                "Bitbucket refused that email and token for {}; nothing was stored",
                account.url()
            ))),
            Ok(UserCheck::Unauthorized) => {
                tracing::debug!(
                    "/2.0/user answered 401 for a username + token: inconclusive, letting git try it"
                );
                Ok(true)
            }
            Ok(UserCheck::Forbidden) if self.oauth_client().is_some() => {
                tracing::debug!("/2.0/user answered 403: two-step verification is on; switching to OAuth");
                Err(Error::TwoStep)
            }
            Ok(UserCheck::Forbidden) => Err(Error::SignIn(format!(
                "two-step verification is on for {username}: a password cannot be used; use an API token, or configure an OAuth consumer (see docs/configuration.md)"
            ))),
            Err(e) => {
                tracing::debug!("could not check the token with the REST API ({e}); letting git try it");
                Ok(true)
            }
        }
    }

    fn explain_not_signed_in(&self, account: &Account) {
        if self.ctx.stderr_is_terminal {
            eprintln!(
                "git-credential-bitbucket: not signed in to {}; run: git-credential-bitbucket login {}",
                account.url(),
                account.url()
            );
        }
    }

    /// `store`: keep what git says the server accepted (SPEC §3, §6), under the account's
    /// lock. An older generation of an OAuth sign-in than the stored one (a git process that
    /// got its token before another one refreshed) is ignored: writing it would put back a
    /// refresh token Bitbucket has retired.
    pub fn store(&self, cred: &Credential) -> Result<(), Error> {
        let (Some(username), Some(password)) = (&cred.username, &cred.password) else {
            return Ok(());
        };
        if cred.ephemeral {
            return Ok(());
        }
        let Some(account) = self.account(cred) else { return Ok(()) };
        let refresh_key = account.refresh_key();
        let _lock = refresh_key.as_ref().map(|k| self.lock_account(k)).transpose()?;
        let key = account.access_key();
        let existing = self.store.load(&key)?;
        let stored_refresh = match (&refresh_key, &existing) {
            (Some(k), Some(old)) if old.has_refresh_token => self.store.load(k)?,
            _ => None,
        };
        if let Some(old) = &existing
            && is_older_generation(old, stored_refresh.as_ref().map(|r| &r.secret), cred)
        {
            tracing::debug!(
                "store: the token git handed back for {} is older than the stored one (another process refreshed meanwhile); keeping the stored one",
                account.url()
            );
            return Ok(());
        }
        let same_token = existing.as_ref().is_some_and(|old| old.secret == *password);
        let mut record = match &existing {
            // Same secret: keep what we know about it (kind, client, refresh token).
            Some(old) if same_token => old.clone(),
            // A newer generation of the same OAuth sign-in (refreshed by another helper).
            Some(old) if is_oauth(old.kind) => StoredSecret {
                secret: password.clone(),
                expires_at: None,
                has_refresh_token: false,
                ..old.clone()
            },
            _ => StoredSecret::new(SecretKind::Token, username.as_str(), password.clone()),
        };
        if cred.password_expiry_utc.is_some() {
            record.expires_at = cred.password_expiry_utc;
        }
        if let (Some(refresh), Some(refresh_key)) = (&cred.oauth_refresh_token, &refresh_key) {
            // With the same access token, the stored refresh token is at least as new as git's.
            if !(same_token && stored_refresh.is_some()) {
                let refresh_record =
                    StoredSecret::new(SecretKind::Refresh, username.as_str(), refresh.clone());
                // Refresh token first: an interrupted write leaves a state the next `get` recovers from.
                if self.store.load(refresh_key)?.as_ref() != Some(&refresh_record) {
                    self.store.save(refresh_key, &refresh_record)?;
                }
            }
            record.has_refresh_token = true;
        }
        if existing.as_ref() != Some(&record) {
            self.store.save(&key, &record)?;
        }
        self.update_host_default(&account, &record)
    }

    /// Store a secret the person typed (for `login` and the library), as `kind`.
    pub fn store_typed(
        &self,
        cred: &Credential,
        username: &str,
        secret: Secret,
        kind: SecretKind,
    ) -> Result<Found, Error> {
        let account = self
            .account(cred)
            .ok_or_else(|| Error::Usage("no host to store the token for".to_owned()))?
            .with_username(username);
        let record = StoredSecret::new(kind, username, secret);
        self.store.save(&account.access_key(), &record)?;
        self.update_host_default(&account, &record)?;
        Ok(Found { account, record })
    }

    /// Copy the user's secret to the host default key when there is none, or when the default
    /// is an older secret of the same user. Never overwrite another user's default, nor a
    /// newer generation of the same OAuth sign-in.
    pub fn update_host_default(&self, account: &Account, record: &StoredSecret) -> Result<(), Error> {
        let default_key = account.host_default_key();
        match self.store.load(&default_key)? {
            Some(current) if current == *record => Ok(()),
            Some(current) if current.username != record.username => Ok(()),
            Some(current) if is_newer_oauth(&current, record) => {
                tracing::debug!("the host default of {} holds a newer token; keeping it", account.url());
                Ok(())
            }
            _ => Ok(self.store.save(&default_key, record)?),
        }
    }

    /// `erase`: compare-and-delete (SPEC §3). Only the secret equal to the password given is
    /// deleted (any, when none is given); its refresh token and host default copy go with it.
    pub fn erase(&self, cred: &Credential) -> Result<(), Error> {
        let Some(account) = self.account(cred) else { return Ok(()) };
        // A Bearer credential comes back as `credential=`, with no username or password.
        let password = cred.password.as_ref().or(cred.credential.as_ref());
        let default_key = account.host_default_key();
        let Some(username) = &cred.username else {
            // No username: forget the host default, the secret a `get` without one answers,
            // and, when a rejected secret was given, the user's own copy of that same secret.
            if let Some(default) = self.store.load(&default_key)?
                && password.is_none_or(|p| *p == default.secret)
            {
                self.store.delete(&default_key)?;
                if password.is_some() {
                    let user_key = account.with_username(&default.username).access_key();
                    if self.store.load(&user_key)?.is_some_and(|r| r.secret == default.secret) {
                        self.store.delete(&user_key)?;
                    }
                }
            }
            return Ok(());
        };
        let refresh_key = account.refresh_key();
        let _lock = refresh_key.as_ref().map(|k| self.lock_account(k)).transpose()?;
        let key = account.access_key();
        let record = self.store.load(&key)?;
        if let (Some(p), Some(r)) = (password, &record)
            && r.secret != *p
        {
            tracing::debug!(
                "erase: the stored secret for {} differs from the rejected one; keeping it",
                account.url()
            );
            return Ok(());
        }
        if record.is_none() && password.is_some() {
            return Ok(());
        }
        if record.is_some() {
            self.store.delete(&key)?;
        }
        // The refresh token is the account's, shared by every repository path of it: a path's
        // rejected token says nothing about it.
        let owns_refresh_token = record.as_ref().is_none_or(|r| is_oauth(r.kind) || r.has_refresh_token);
        if account.path.is_none() && owns_refresh_token {
            self.forget_refresh_token(&account)?;
        }
        if let Some(default) = self.store.load(&default_key)? {
            let same = match &record {
                Some(r) => default.secret == r.secret && default.username == r.username,
                None => default.username == *username,
            };
            if same {
                self.store.delete(&default_key)?;
            }
        }
        Ok(())
    }

    /// Delete the account's refresh token, and any rescued tokens waiting beside it.
    fn forget_refresh_token(&self, account: &Account) -> Result<(), Error> {
        if let Some(key) = account.refresh_key() {
            self.store.delete(&key)?;
            if let Err(e) = self.rescue_dir().remove(&key) {
                tracing::debug!("could not delete a rescue file: {e}");
            }
        }
        Ok(())
    }
}

/// Who a grant's tokens are for.
#[derive(Clone, Copy)]
struct Issued<'a> {
    account: &'a Account,
    username: &'a str,
    kind: SecretKind,
    client: &'a OAuthClient,
}

fn is_oauth(kind: SecretKind) -> bool {
    matches!(kind, SecretKind::OAuth | SecretKind::ClientCredentials)
}

/// Whether `incoming` (what git hands to `store`) is an older generation of the OAuth
/// sign-in `stored` holds: another access token that is not provably as new — neither the
/// same refresh token nor a later expiry. API tokens and other plain secrets are never
/// "older": the last one git stores wins, as with git's own helpers.
fn is_older_generation(
    stored: &StoredSecret,
    stored_refresh: Option<&Secret>,
    incoming: &Credential,
) -> bool {
    if !is_oauth(stored.kind) || incoming.password.as_ref() == Some(&stored.secret) {
        return false;
    }
    let same_refresh =
        incoming.oauth_refresh_token.is_some() && incoming.oauth_refresh_token.as_ref() == stored_refresh;
    let later = match (incoming.password_expiry_utc, stored.expires_at) {
        (Some(new), Some(old)) => new > old,
        (Some(_), None) => true,
        (None, _) => false,
    };
    !(same_refresh || later)
}

/// Whether `current` is a later OAuth token than `record` (both with a known expiry).
fn is_newer_oauth(current: &StoredSecret, record: &StoredSecret) -> bool {
    is_oauth(current.kind)
        && current.secret != record.secret
        && matches!((current.expires_at, record.expires_at), (Some(c), Some(r)) if c > r)
}

/// The git username answered with client-credentials tokens (Bitbucket's documented name).
pub const CLIENT_CREDENTIALS_USER: &str = "x-token-auth";

/// Why browser sign-in is not offered, and how to change that.
pub const NO_CLIENT: &str = "No OAuth consumer is configured, so browser sign-in is not offered. A workspace admin can add one under Workspace settings > OAuth consumers (callback URL http://localhost:34106/, permissions Account: Read and Repositories: Write); then run: git config --global credential.bitbucketOAuthClientId KEY && git config --global credential.bitbucketOAuthClientSecret SECRET";

const CLOUD_TOKEN_HINT: &str = "Bitbucket Cloud: enter your Bitbucket username (or x-bitbucket-api-token-auth) and an API token with the scopes read:repository:bitbucket and write:repository:bitbucket (create one at https://id.atlassian.com/manage-profile/security/api-tokens).";

/// `protocol://[user@]host[/path]`, as git shows it in its prompts.
fn describe(cred: &Credential, username: Option<&str>) -> String {
    let mut out = format!("{}://", cred.protocol.as_deref().unwrap_or_default());
    if let Some(u) = username.filter(|u| !u.is_empty()) {
        out.push_str(u);
        out.push('@');
    }
    out.push_str(cred.host.as_deref().unwrap_or_default());
    if let Some(p) = &cred.path {
        out.push('/');
        out.push_str(&String::from_utf8_lossy(p));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawSettings;
    use crate::prompt::NoPrompt;
    use crate::store::MemoryStore;

    fn with_authenticator(now: u64, test: impl FnOnce(&Authenticator)) {
        let env = |k: &str| (k == "HOME").then(|| "/h".to_owned());
        let clock = move || now;
        let ctx = Context { env: &env, prompter: &NoPrompt, stderr_is_terminal: false, now: &clock };
        let settings = RawSettings::default().validate(&env).unwrap();
        let auth = Authenticator::new(settings, Deployment::Cloud, Box::new(MemoryStore::new()), &ctx);
        test(&auth);
    }

    #[test]
    fn a_token_within_the_margin_of_its_expiry_is_not_fresh() {
        with_authenticator(1_000_000, |auth| {
            let mut record = StoredSecret::new(SecretKind::OAuth, "alice", Secret::new("t"));
            record.expires_at = Some(1_000_000 + EXPIRY_MARGIN_SECS + 1);
            assert!(auth.is_fresh(&record));
            record.expires_at = Some(1_000_000 + EXPIRY_MARGIN_SECS);
            assert!(!auth.is_fresh(&record));
            record.expires_at = None;
            assert!(auth.is_fresh(&record), "an API token without expiry stays fresh");
            record.kind = SecretKind::Refresh;
            assert!(!auth.is_fresh(&record), "a refresh token is never answered");
        });
    }

    #[test]
    fn bearer_tokens_need_the_authtype_capability() {
        with_authenticator(0, |auth| {
            let account = Account::new("git", "https", "git.example.com", None, Some("proj"));
            let found =
                Found { account, record: StoredSecret::new(SecretKind::Bearer, "proj", Secret::new("b")) };
            let old_git = Credential::default();
            assert!(matches!(auth.answer(&old_git, &found), Err(Error::SignIn(m)) if m.contains("git 2.46")));
            let new_git = Credential { capabilities: vec!["authtype".into()], ..Credential::default() };
            let answer = auth.answer(&new_git, &found).unwrap();
            assert_eq!(answer.authtype.as_deref(), Some("Bearer"));
            assert_eq!(answer.credential.unwrap().expose(), "b");
            assert_eq!(answer.password, None);
        });
    }
}
