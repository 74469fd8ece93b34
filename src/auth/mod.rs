//! Carrying out `get`, `store` and `erase` for one [`Target`]: the steps `decide` chooses,
//! against the store, the lock and the network.
//!
//! [`Authenticator::resolve`] asks [`decide::next_step`] what to do, does it, and asks again
//! until a step answers. The steps live beside it: `refresh` (under the account's lock,
//! durable), `sign_in` (browser, token prompt, application grants) and `keep` (what `store`
//! writes and `erase` deletes). Cloud and Data Center differ only in the data of
//! [`Profile`] and [`Endpoints`]. Nothing here reads the environment itself (the network
//! settings are loaded through [`Context::env`]), touches stdin/stdout or prints a secret.

mod accounts;
mod keep;
mod refresh;
mod sign_in;

pub(crate) use sign_in::ProviderAnswer;

use crate::bitbucket::{Endpoints, Profile};
use crate::decide::{self, AppGrant, Situation, Step, Stored};
use crate::error::Failure;
use crate::host::Deployment;
use crate::net::http::Http;
use crate::prompt::Prompter;
use crate::protocol::Credential;
use crate::secret::Secret;
use crate::settings::{AuthMode, ClientOrigin, OAuthClient, Settings};
use crate::store::{Account, SecretKind, SecretStore, StoreKey, StoredSecret};
use crate::target::Target;

/// What the helper needs from the world outside: the environment (read only to load
/// settings), the person, the terminal, the clock.
pub struct Context<'a> {
    /// Environment variable look-up: how settings, the network (proxy, TLS), the helper's
    /// paths and the trace read the environment, so a test can give its own.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// How to ask the person.
    pub prompter: &'a dyn Prompter,
    /// Whether stderr is a terminal (messages that only help a person go there only then).
    pub stderr_is_terminal: bool,
    /// Current time, Unix seconds.
    pub now: &'a dyn Fn() -> u64,
}

/// Current time in Unix seconds: the clock a [`Context`] is usually given.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Context<'_> {
    /// The one channel for messages to the person: one line on stderr, always.
    pub(crate) fn notice(&self, message: &str) {
        notice(message);
    }

    /// A message that only helps a person watching: shown only when stderr is a terminal
    /// (git's own helper tests compare stderr exactly).
    pub(crate) fn hint(&self, message: &str) {
        if self.stderr_is_terminal {
            self.notice(message);
        }
    }
}

/// Every message to the person goes out here: on stderr (stdout is git's), prefixed.
pub(crate) fn notice(message: &str) {
    eprintln!("git-credential-bitbucket: {message}");
}

/// A secret found in the store, with the account it belongs to.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// The account, username known.
    pub account: Account,
    pub record: StoredSecret,
}

/// What [`Authenticator::resolve`] found.
#[derive(Debug, Clone)]
pub(crate) enum Resolved {
    /// A stored (or just obtained and stored) secret.
    Stored(Found),
    /// A username and secret the person typed; not stored until the server accepts it.
    Typed { username: String, secret: Secret },
}

/// Decides when to refresh: called with the stored access token and the current time.
pub(crate) type RefreshPolicy<'a> = Box<dyn Fn(&StoredSecret, u64) -> bool + 'a>;

/// The git username answered with client-credentials and JWT tokens (Bitbucket's name).
pub(crate) const CLIENT_CREDENTIALS_USER: &str = "x-token-auth";

/// Carries out every `get`, `store` and `erase` for one target.
pub(crate) struct Authenticator<'a> {
    target: Target,
    settings: Settings,
    profile: &'static Profile,
    store: Box<dyn SecretStore + 'a>,
    ctx: &'a Context<'a>,
    http: std::cell::OnceCell<Http>,
    client: std::cell::OnceCell<Option<OAuthClient>>,
    refresh_policy: Option<RefreshPolicy<'a>>,
    jwt: Option<Secret>,
    /// The refresh token this run obtained (a grant's answer, or a rescue), with the key it
    /// belongs under: the answer carries it even when the store refused to take it, and still
    /// holds the one the server has just retired.
    obtained_refresh: std::cell::RefCell<Option<(crate::store::StoreKey, Secret)>>,
}

impl<'a> Authenticator<'a> {
    /// An authenticator for `target`, keeping secrets in `store`.
    pub(crate) fn new(
        target: Target,
        settings: Settings,
        store: Box<dyn SecretStore + 'a>,
        ctx: &'a Context<'a>,
    ) -> Self {
        Authenticator {
            profile: target.deployment.profile(),
            target,
            settings,
            store,
            ctx,
            http: std::cell::OnceCell::new(),
            client: std::cell::OnceCell::new(),
            refresh_policy: None,
            jwt: None,
            obtained_refresh: std::cell::RefCell::new(None),
        }
    }

    /// Use `policy` instead of the expiry to decide when to refresh (the seed library's
    /// `useRefreshToken`), whenever a refresh token is stored. A stale token is never
    /// answered: when the policy says no and the token has expired, a new sign-in follows.
    pub(crate) fn with_refresh_policy(mut self, policy: RefreshPolicy<'a>) -> Self {
        self.refresh_policy = Some(policy);
        self
    }

    /// Get tokens with the JWT-bearer grant (Connect apps) instead of signing in.
    pub(crate) fn with_jwt(mut self, jwt: Secret) -> Self {
        self.jwt = Some(jwt);
        self
    }

    /// Who serves the request (for the commands' own steps: set-up, diagnose).
    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// The validated settings in force.
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The deployment's data (endpoints, scopes, the OAuth client's settings).
    pub(crate) fn profile(&self) -> &'static Profile {
        self.profile
    }

    /// The store secrets are kept in.
    pub(crate) fn secret_store(&self) -> &dyn SecretStore {
        self.store.as_ref()
    }

    /// What the helper was given from the world outside.
    pub(crate) fn ctx(&self) -> &Context<'_> {
        self.ctx
    }

    /// Where the secret of the client `id` lives in the store: under Cloud's site, or the
    /// Data Center server's origin.
    pub(crate) fn client_key(&self, id: &str) -> StoreKey {
        match self.target.deployment {
            Deployment::Cloud => {
                crate::store::consumer_key(&self.settings.namespace, &self.settings.cloud_url, id)
            }
            Deployment::DataCenter => {
                crate::store::consumer_key_at(&self.settings.namespace, &self.target.origin(), id)
            }
        }
    }

    /// The HTTP client, made the first time a request is about to be sent.
    pub(crate) fn http(&self) -> Result<&Http, Failure> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        // The http.* settings are read only now, when a request is about to be made.
        let network = crate::net::load(&self.settings.network, self.ctx.env)?;
        if let Some(warning) = network.warning() {
            self.ctx.notice(&warning);
        }
        let http = Http::with_network(self.settings.http_timeout, network)?;
        Ok(self.http.get_or_init(|| http))
    }

    fn now(&self) -> u64 {
        (self.ctx.now)()
    }

    /// The endpoints of the Bitbucket serving the request.
    pub(crate) fn endpoints(&self) -> Result<Endpoints, Failure> {
        Ok(self.target.endpoints(&self.settings)?)
    }

    /// The account git asks about (username as git gave it, possibly none).
    pub(crate) fn account(&self) -> Account {
        self.target.account(&self.settings.namespace)
    }

    /// Whether an OAuth client is configured (its secret is not loaded for this).
    pub(crate) fn has_oauth_client(&self) -> bool {
        self.profile.client(&self.settings).is_some()
    }

    /// The OAuth client, its secret read from the store the first time when it lives there
    /// (`login --setup-oauth`): only when a token request is about to be made.
    pub(crate) fn oauth_client(&self) -> Result<Option<&OAuthClient>, Failure> {
        if let Some(client) = self.client.get() {
            return Ok(client.as_ref());
        }
        let mut client = self.profile.client(&self.settings).cloned();
        if let Some(client) = client.as_mut().filter(|c| matches!(c.origin, ClientOrigin::Store(_))) {
            let key = self.client_key(&client.id);
            match self.store.load(&key)? {
                Some(record) => client.secret = record.secret,
                None => tracing::debug!("no secret stored for OAuth client {}", client.id),
            }
        }
        Ok(self.client.get_or_init(|| client).as_ref())
    }

    fn is_fresh(&self, record: &StoredSecret) -> bool {
        stored_facts(record).is_fresh(self.now())
    }

    /// The account's stored refresh token; a store that cannot be read counts as none (for
    /// answers and bookkeeping only: a refresh reads the store itself and reports its errors).
    fn stored_refresh(&self, account: &Account) -> Option<StoredSecret> {
        let key = account.refresh_key()?;
        self.store.load(&key).ok().flatten()
    }

    /// The refresh token this run obtained for `account`, if any.
    fn obtained_refresh(&self, account: &Account) -> Option<Secret> {
        let key = account.refresh_key()?;
        let obtained = self.obtained_refresh.borrow();
        obtained.as_ref().filter(|(k, _)| *k == key).map(|(_, secret)| secret.clone())
    }

    /// Remember the refresh token this run obtained for `account` (see [`Self::answer`]).
    fn remember_obtained_refresh(&self, account: &Account, refresh: Option<&StoredSecret>) {
        if let (Some(key), Some(refresh)) = (account.refresh_key(), refresh) {
            *self.obtained_refresh.borrow_mut() = Some((key, refresh.secret.clone()));
        }
    }

    /// `get`: the order of attempts, answered in git's terms.
    pub(crate) fn get(&self, cred: &Credential) -> Result<Option<Credential>, Failure> {
        let now = self.now();
        let password_unusable = cred.password.is_none() || cred.password_expiry_utc.is_some_and(|t| t <= now);
        let offered = cred.oauth_refresh_token.as_ref().filter(|_| password_unusable);
        match self.resolve_with(false, offered)? {
            Some(Resolved::Stored(found)) => Ok(Some(self.answer(cred, &found)?)),
            Some(Resolved::Typed { username, secret }) => Ok(Some(Credential {
                username: Some(username),
                password: Some(secret),
                ..Credential::default()
            })),
            None => Ok(None),
        }
    }

    /// Carry out the steps [`decide::next_step`] chooses until one answers. With
    /// `force_credentials` the store is skipped and a new sign-in is made.
    pub(crate) fn resolve(&self, force_credentials: bool) -> Result<Option<Resolved>, Failure> {
        self.resolve_with(force_credentials, None)
    }

    /// [`Self::resolve`], with a refresh token git passed (`offered`) to try when nothing
    /// stored answers.
    fn resolve_with(
        &self,
        force_credentials: bool,
        offered: Option<&Secret>,
    ) -> Result<Option<Resolved>, Failure> {
        let account = match self.app_grant() {
            Some(AppGrant::ClientCredentials) if self.target.username.is_none() => {
                self.account().with_username(CLIENT_CREDENTIALS_USER)
            }
            _ => self.account(),
        };
        let found = if force_credentials { None } else { self.find(&account)? };
        let mut situation = self.situation(found.as_ref(), offered.is_some());
        // A refresh Bitbucket refused (the refresh token kept): said before a sign-in, or
        // returned when nobody can sign in here.
        let mut refused: Option<Failure> = None;
        loop {
            match (decide::next_step(&situation), &found) {
                (Step::Answer, Some(found)) => {
                    tracing::debug!(
                        "stored {} for {} is fresh: answering",
                        found.record.kind.name(),
                        found.account.url()
                    );
                    return Ok(Some(Resolved::Stored(found.clone())));
                }
                (Step::Validate, Some(found)) => situation.validated = Some(self.validate(found)?),
                (Step::Refresh, Some(found)) => match self.refresh(found) {
                    Ok(Some(refreshed)) => return Ok(Some(Resolved::Stored(refreshed))),
                    Ok(None) => situation.refresh_failed = true,
                    Err(e @ Failure::RefreshRefused { .. }) => {
                        tracing::debug!("{e}");
                        situation.refresh_failed = true;
                        situation.refresh_refused = true;
                        refused = Some(e);
                    }
                    Err(e) => return Err(e),
                },
                (Step::RefreshOffered, _) => {
                    match offered.map(|token| self.refresh_offered(&account, token)).transpose()?.flatten() {
                        Some(refreshed) => return Ok(Some(Resolved::Stored(refreshed))),
                        None => situation.offered_refresh = false,
                    }
                }
                (Step::Grant(grant), _) => {
                    return self.app_token(&account, grant).map(|f| Some(Resolved::Stored(f)));
                }
                (Step::SignIn(modes), _)
                    if modes.first() == Some(&AuthMode::OAuth) && !self.server_offers_oauth()? =>
                {
                    situation.sign_in_modes.retain(|mode| *mode != AuthMode::OAuth);
                }
                (Step::SignIn(modes), _) => {
                    if let Some(Failure::RefreshRefused { url, reason }) = refused.take() {
                        self.ctx.hint(&format!(
                            "Bitbucket refused to refresh the saved sign-in for {url} ({reason}); sign in again"
                        ));
                    }
                    return self.sign_in(&account, &modes);
                }
                (Step::NeedsLogin, _) => {
                    return Err(refused
                        .take()
                        .unwrap_or_else(|| Failure::NotSignedIn { url: account.url() }));
                }
                // Answer, Validate and Refresh need a stored secret: without one they never come.
                (Step::Nothing | Step::Answer | Step::Validate | Step::Refresh, _) => {
                    self.explain_nothing(&situation);
                    return Ok(None);
                }
            }
        }
    }

    fn situation(&self, found: Option<&Found>, offered_refresh: bool) -> Situation {
        let now = self.now();
        let policy_says_refresh = match (&self.refresh_policy, found) {
            (Some(policy), Some(found)) if found.record.has_refresh_token => Some(policy(&found.record, now)),
            _ => None,
        };
        Situation {
            stored: found.map(|f| stored_facts(&f.record)),
            now,
            always_refresh: self.settings.always_refresh,
            policy_says_refresh,
            validate_stored: self.settings.validate_stored,
            app_grant: self.app_grant(),
            may_prompt: self.settings.may_prompt,
            sign_in_modes: self.sign_in_modes(),
            validated: None,
            refresh_failed: false,
            refresh_refused: false,
            offered_refresh,
        }
    }

    fn app_grant(&self) -> Option<AppGrant> {
        if self.jwt.is_some() {
            return Some(AppGrant::Jwt);
        }
        let wanted = self.settings.auth_modes.contains(&AuthMode::ClientCredentials);
        (wanted && self.has_oauth_client()).then_some(AppGrant::ClientCredentials)
    }

    /// The configured interactive methods that can work here: OAuth with a client; a token
    /// prompt where the helper asks for tokens itself.
    fn sign_in_modes(&self) -> Vec<AuthMode> {
        let works = |mode: &&AuthMode| match mode {
            AuthMode::OAuth => self.has_oauth_client(),
            AuthMode::Token => self.profile.asks_for_tokens,
            AuthMode::ClientCredentials => false,
        };
        self.settings.auth_modes.iter().filter(works).copied().collect()
    }

    /// Say why nothing is answered, as far as it helps: how to configure OAuth when it was
    /// wanted but cannot work, and how to sign in when this helper could have.
    fn explain_nothing(&self, situation: &Situation) {
        let oauth_wanted = self.settings.auth_modes.contains(&AuthMode::OAuth);
        if situation.may_prompt
            && oauth_wanted
            && !self.has_oauth_client()
            && let Some(hint) = self.profile.no_client_hint
        {
            self.ctx.prompter.tell(hint);
        }
        if !situation.may_prompt && (self.profile.asks_for_tokens || self.has_oauth_client()) {
            let url = self.target.to_url();
            self.ctx.hint(&format!("not signed in to {url}; run: git-credential-bitbucket login {url}"));
        }
    }

    /// `bitbucketValidateStoredCredentials`: ask the REST API whether a stored secret still
    /// works, at an endpoint that needs an authenticated user (so anonymous access never
    /// makes a revoked token look valid). A username + API token where the REST API wants
    /// the email cannot be checked and counts as valid; so does a check that fails for a
    /// network reason (git will tell).
    fn validate(&self, found: &Found) -> Result<bool, Failure> {
        let endpoints = self.endpoints()?;
        let record = &found.record;
        let http = self.http()?;
        let bearer =
            matches!(record.kind, SecretKind::OAuth | SecretKind::ClientCredentials | SecretKind::Bearer);
        let response = if bearer {
            http.get_bearer(&endpoints.validate, &record.secret)
        } else if self.profile.rest_wants_email && !record.username.contains('@') {
            tracing::debug!("validate: an API token with a username cannot be checked over REST");
            return Ok(true);
        } else {
            http.get_basic(&endpoints.validate, &record.username, &record.secret)
        };
        let url = crate::host::redacted(&endpoints.validate);
        match response {
            Ok(r) if matches!(r.status().as_u16(), 401 | 403) => {
                tracing::debug!("validate: {url} rejected the stored secret");
                Ok(false)
            }
            Ok(r) => {
                tracing::debug!("validate: {url} -> {}", r.status().as_u16());
                Ok(true)
            }
            Err(e) => {
                tracing::debug!("validate: {e}; answering the stored secret");
                Ok(true)
            }
        }
    }

    /// The stored access secret for the account, or the host default when git gave no
    /// username (chosen among the stored accounts when there is none).
    pub(crate) fn find(&self, account: &Account) -> Result<Option<Found>, Failure> {
        let Some(record) = self.store.load(&account.access_key())? else {
            return if account.username.is_none() { self.choose_account() } else { Ok(None) };
        };
        let account = match &account.username {
            Some(_) => account.clone(),
            None => account.with_username(&record.username),
        };
        Ok(Some(Found { account, record }))
    }

    /// The protocol answer for a stored secret (with its refresh token when one is stored).
    fn answer(&self, cred: &Credential, found: &Found) -> Result<Credential, Failure> {
        let record = &found.record;
        let mut answer = Credential {
            username: Some(record.username.clone()),
            password: Some(record.secret.clone()),
            password_expiry_utc: record.expires_at,
            ..Credential::default()
        };
        if record.kind == SecretKind::Bearer {
            if !cred.has_capability("authtype") {
                return Err(Failure::GitTooOldForBearer { url: found.account.url() });
            }
            answer.capabilities = vec!["authtype".to_owned()];
            answer.authtype = Some("Bearer".to_owned());
            answer.credential = Some(record.secret.clone());
            answer.username = None;
            answer.password = None;
        }
        if record.has_refresh_token {
            // What this run obtained first: the store may have refused it, and still hold the
            // refresh token the server retired. The answer never depends on reading the store.
            answer.oauth_refresh_token = self
                .obtained_refresh(&found.account)
                .or_else(|| self.stored_refresh(&found.account).map(|r| r.secret));
        }
        Ok(answer)
    }
}

fn stored_facts(record: &StoredSecret) -> Stored {
    Stored { kind: record.kind, expires_at: record.expires_at, refreshable: record.has_refresh_token }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Deployment;
    use crate::prompt::NoPrompt;
    use crate::settings::RawSettings;
    use crate::store::MemoryStore;

    fn with_authenticator(test: impl FnOnce(&Authenticator)) {
        let env = |k: &str| (k == "HOME").then(|| "/h".to_owned());
        let clock = || 0;
        let ctx = Context { env: &env, prompter: &NoPrompt, stderr_is_terminal: false, now: &clock };
        let settings = RawSettings::from_git_output(b"", &env).validate(None).unwrap();
        let target = Target {
            scheme: "https".into(),
            host: "git.example.com".into(),
            path: None,
            username: Some("proj".into()),
            deployment: Deployment::DataCenter,
            realm_announced: false,
        };
        let auth = Authenticator::new(target, settings, Box::new(MemoryStore::new()), &ctx);
        test(&auth);
    }

    #[test]
    fn bearer_tokens_need_the_authtype_capability() {
        with_authenticator(|auth| {
            let account = auth.account();
            let found =
                Found { account, record: StoredSecret::new(SecretKind::Bearer, "proj", Secret::new("b")) };
            let old_git = Credential::default();
            assert!(matches!(auth.answer(&old_git, &found), Err(Failure::GitTooOldForBearer { .. })));
            let new_git = Credential { capabilities: vec!["authtype".into()], ..Credential::default() };
            let answer = auth.answer(&new_git, &found).unwrap();
            assert_eq!(answer.authtype.as_deref(), Some("Bearer"));
            assert_eq!(answer.credential.unwrap().expose(), "b");
            assert_eq!(answer.password, None);
        });
    }

    /// A store that remembers which keys were read.
    struct CountingStore {
        inner: MemoryStore,
        loaded: std::cell::RefCell<Vec<String>>,
    }

    impl SecretStore for CountingStore {
        fn load(
            &self,
            key: &crate::store::StoreKey,
        ) -> Result<Option<StoredSecret>, crate::store::StoreError> {
            self.loaded.borrow_mut().push(key.service.clone());
            self.inner.load(key)
        }
        fn save(
            &self,
            key: &crate::store::StoreKey,
            value: &StoredSecret,
        ) -> Result<(), crate::store::StoreError> {
            self.inner.save(key, value)
        }
        fn delete(&self, key: &crate::store::StoreKey) -> Result<bool, crate::store::StoreError> {
            self.inner.delete(key)
        }
        fn list(
            &self,
            ns: &str,
        ) -> Result<Vec<(crate::store::StoreKey, StoredSecret)>, crate::store::StoreError> {
            self.inner.list(ns)
        }
        fn name(&self) -> &'static str {
            "counting"
        }
    }

    #[test]
    fn the_stored_consumer_secret_is_read_only_when_a_token_request_is_near() {
        let env = |k: &str| (k == "HOME").then(|| "/h".to_owned());
        let clock = || 1_000;
        let ctx = Context { env: &env, prompter: &NoPrompt, stderr_is_terminal: false, now: &clock };
        let settings = RawSettings::from_git_output(b"credential.bitbucketoauthclientid\nws-key\0", &env)
            .validate(None)
            .unwrap();
        let consumer = crate::store::consumer_key("git", &settings.cloud_url, "ws-key");
        let store = CountingStore { inner: MemoryStore::new(), loaded: Default::default() };
        store
            .inner
            .save(&consumer, &StoredSecret::new(SecretKind::Consumer, "ws-key", Secret::new("shh")))
            .unwrap();
        let target = Target {
            scheme: "https".into(),
            host: "bitbucket.org".into(),
            path: None,
            username: Some("alice".into()),
            deployment: Deployment::Cloud,
            realm_announced: false,
        };
        let mut fresh = StoredSecret::new(SecretKind::OAuth, "alice", Secret::new("at"));
        fresh.expires_at = Some(1_000 + 3_600);
        store.inner.save(&target.account("git").access_key(), &fresh).unwrap();
        let auth = Authenticator::new(target, settings, Box::new(&store), &ctx);

        assert!(auth.get(&Credential::default()).unwrap().is_some(), "answered from the store");
        assert!(!store.loaded.borrow().contains(&consumer.service), "hot path: {:?}", store.loaded.borrow());
        let client = auth.oauth_client().unwrap().unwrap();
        assert_eq!((client.id.as_str(), client.secret.expose()), ("ws-key", "shh"));
        assert!(store.loaded.borrow().contains(&consumer.service));
    }
}
