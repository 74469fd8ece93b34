//! The library's front door: get a Bitbucket access token from Rust, with the same sign-in
//! logic git gets (the Rust form of the seed library `bitbucket-auth`'s `getAccessToken`).
//!
//! [`TokenRequest`] is the config: the Bitbucket URL, an OAuth client (read from the
//! environment when not given, like the seed), a store (the OS keyring unless another
//! [`SecretStore`] is given), `force_credentials`, a refresh policy, a JWT for Connect apps.
//! [`TokenRequest::access_token`] runs stored → refresh → client credentials / JWT →
//! interactive, and stores what it gets. Logging goes through `tracing`: install any
//! subscriber to see each step (secrets are never logged).

use std::io::IsTerminal;

use crate::auth::{Authenticator, Context, RefreshPolicy, Resolved, unix_now};
use crate::error::{Error, Failure};
use crate::operation::{self, Overrides};
use crate::prompt::{NoPrompt, Prompter, SystemPrompter};
use crate::protocol::Credential;
use crate::secret::Secret;
use crate::settings::{RawSettings, process_env};
use crate::store::{SecretKind, SecretStore, StoredSecret};
use crate::target;

/// An access token and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The token (HTTP Basic password for git, `Authorization: Bearer` for the REST API).
    pub token: Secret,
    /// The account it belongs to (`x-token-auth` for client credentials and JWT tokens).
    pub username: String,
    /// Expiry, Unix seconds; `None` when unknown (API tokens).
    pub expires_at: Option<u64>,
    /// What kind of secret it is.
    pub kind: SecretKind,
}

/// How to get a token: the seed library's config object, as a builder.
///
/// ```no_run
/// use git_credential_bitbucket::TokenRequest;
/// // Client id/secret from BITBUCKET_OAUTH_CLIENT_ID/_SECRET (or bitbucketKey/bitbucketSecret).
/// let token = TokenRequest::new("https://bitbucket.org").access_token()?;
/// println!("signed in as {}", token.username);
/// # Ok::<(), git_credential_bitbucket::Error>(())
/// ```
pub struct TokenRequest {
    url: String,
    username: Option<String>,
    settings: Vec<(String, String)>,
    store: Option<Box<dyn SecretStore>>,
    force_credentials: bool,
    refresh_policy: Option<RefreshPolicy<'static>>,
    jwt: Option<Secret>,
    interactive: bool,
    read_git_config: bool,
}

impl TokenRequest {
    /// A request for the Bitbucket at `url` (`https://bitbucket.org`, or a Data Center URL).
    pub fn new(url: impl Into<String>) -> Self {
        TokenRequest {
            url: url.into(),
            username: None,
            settings: Vec::new(),
            store: None,
            force_credentials: false,
            refresh_policy: None,
            jwt: None,
            interactive: true,
            read_git_config: true,
        }
    }

    /// The OAuth client (Cloud consumer key and secret, or Data Center client). When not
    /// given, it comes from git config or the environment.
    pub fn client(self, id: &str, secret: Secret) -> Self {
        // Whichever deployment the URL turns out to be uses its own pair.
        self.setting(crate::settings::key::OAUTH_CLIENT_ID, id)
            .setting(crate::settings::key::OAUTH_CLIENT_SECRET, secret.expose())
            .setting(crate::settings::key::DATACENTER_OAUTH_CLIENT_ID, id)
            .setting(crate::settings::key::DATACENTER_OAUTH_CLIENT_SECRET, secret.expose())
    }

    /// Which account (when several are stored for the host).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Set any setting of `docs/configuration.md` by its git config name (without
    /// `credential.`), e.g. `("bitbucketCloudUrl", "http://127.0.0.1:8080")`.
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Keep tokens in `store` instead of the configured one (e.g. a
    /// [`MemoryStore`](crate::store::MemoryStore) or a [`PlaintextStore`](crate::store::PlaintextStore)).
    pub fn store(mut self, store: impl SecretStore + 'static) -> Self {
        self.store = Some(Box::new(store));
        self
    }

    /// Skip stored tokens and sign in anew (the seed's `forceCredentials`).
    pub fn force_credentials(mut self, force: bool) -> Self {
        self.force_credentials = force;
        self
    }

    /// Decide when to use the refresh token (the seed's `useRefreshToken`): called with the
    /// stored access token and the time whenever a refresh token is stored; `true` refreshes
    /// now. A stale token is never returned: when the policy says no and the token has
    /// expired, a new sign-in follows.
    pub fn refresh_policy(mut self, policy: impl Fn(&StoredSecret, u64) -> bool + 'static) -> Self {
        self.refresh_policy = Some(Box::new(policy));
        self
    }

    /// Use the client credentials grant (private consumers; no browser, no refresh token).
    pub fn client_credentials(self) -> Self {
        self.setting(crate::settings::key::AUTH_MODES, "clientcredentials")
    }

    /// Use the JWT-bearer grant of a Connect app.
    pub fn jwt(mut self, jwt: Secret) -> Self {
        self.jwt = Some(jwt);
        self
    }

    /// Whether a browser may be opened or a prompt shown (default: yes, where possible).
    pub fn interactive(mut self, interactive: bool) -> Self {
        self.interactive = interactive;
        self
    }

    /// Whether to read `git config` (default: yes); without it only the environment and
    /// [`TokenRequest::setting`] apply.
    pub fn read_git_config(mut self, read: bool) -> Self {
        self.read_git_config = read;
        self
    }

    /// Get a token: stored (no network when fresh) → refreshed → client credentials / JWT →
    /// interactive sign-in. What is obtained is stored.
    ///
    /// Against the test suite's fake Bitbucket, with a private consumer (client credentials)
    /// and an in-memory store:
    ///
    /// ```
    /// use bitbucket_test_support::{FakeBitbucket, Mode, RequestKind};
    /// use git_credential_bitbucket::{TokenRequest, store::MemoryStore, Secret};
    ///
    /// let fake = FakeBitbucket::start(Mode::Cloud);
    /// fake.add_consumer_private("ci-key", "ci-secret", "http://localhost/");
    /// let request = TokenRequest::new(format!("http://{}", fake.host()))
    ///     .read_git_config(false)
    ///     .setting("provider", "bitbucket")
    ///     .setting("bitbucketDeployment", "cloud")
    ///     .setting("bitbucketCloudUrl", &fake.base_url())
    ///     .client("ci-key", Secret::new("ci-secret"))
    ///     .client_credentials()
    ///     .store(MemoryStore::new());
    /// let token = request.access_token()?;
    /// assert_eq!(token.username, "x-token-auth");
    /// assert_eq!(request.access_token()?, token); // cached: no second request
    /// assert_eq!(fake.count(RequestKind::Token), 1);
    /// # Ok::<(), git_credential_bitbucket::Error>(())
    /// ```
    pub fn access_token(&self) -> Result<AccessToken, Error> {
        Ok(self.token()?)
    }

    /// [`TokenRequest::access_token`] with the crate's own error.
    fn token(&self) -> Result<AccessToken, Failure> {
        let mut cred = Credential::from_url(&self.url).map_err(Failure::Input)?;
        if self.username.is_some() {
            cred.username = self.username.clone();
        }
        let raw = self.settings_for(&cred)?;
        let system_prompter;
        let prompter: &dyn Prompter = if self.interactive {
            system_prompter = SystemPrompter::from_env(&process_env);
            &system_prompter
        } else {
            &NoPrompt
        };
        let ctx = Context {
            env: &process_env,
            prompter,
            stderr_is_terminal: std::io::stderr().is_terminal(),
            now: &unix_now,
        };
        let store = self.store.as_deref().map(|s| s as &dyn SecretStore);
        let auth = operation::authenticator_with(&cred, &raw, &ctx, store)?
            .ok_or_else(|| Failure::NotBitbucket { url: self.url.clone() })?;
        self.access_token_from(auth)
    }

    /// What [`TokenRequest::access_token`] does once the authenticator is built, with this
    /// request's refresh policy, JWT and `force_credentials`: the `token` command builds its
    /// authenticator from the URL and account a person typed.
    pub(crate) fn access_token_from<'a>(
        &'a self,
        mut auth: Authenticator<'a>,
    ) -> Result<AccessToken, Failure> {
        if let Some(policy) = &self.refresh_policy {
            let policy: RefreshPolicy = Box::new(move |record, now| policy(record, now));
            auth = auth.with_refresh_policy(policy);
        }
        if let Some(jwt) = &self.jwt {
            auth = auth.with_jwt(jwt.clone());
        }
        match auth.resolve(self.force_credentials)? {
            Some(Resolved::Stored(found)) => Ok(AccessToken {
                token: found.record.secret,
                username: found.record.username,
                expires_at: found.record.expires_at,
                kind: found.record.kind,
            }),
            Some(Resolved::Typed { username, secret }) => {
                auth.store_typed(&username, secret.clone(), SecretKind::Token)?;
                Ok(AccessToken { token: secret, username, expires_at: None, kind: SecretKind::Token })
            }
            None => Err(Failure::NotSignedIn { url: self.url.clone() }),
        }
    }

    /// git config (unless turned off) and the environment, then this request's own settings.
    fn settings_for(&self, cred: &Credential) -> Result<RawSettings, Failure> {
        let url = target::matching_url(cred)
            .ok_or_else(|| Failure::Usage(format!("{}: not an http(s) URL", self.url)))?;
        let mut settings = self.settings.clone();
        if !self.interactive {
            settings.push((crate::settings::key::INTERACTIVE.to_owned(), "false".to_owned()));
        }
        let overrides = Overrides { settings, skip_git_config: !self.read_git_config, store: None };
        operation::settings_for(&url, &process_env, &overrides)
    }
}
