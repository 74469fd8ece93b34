//! Steps 3 and 4 of `get`: a token for the application (client credentials, Connect JWT),
//! or a person signing in — OAuth in the browser, or a username and token typed at the
//! prompt where the deployment's [`Profile`](crate::bitbucket::Profile) says the helper asks.

use super::refresh::Issued;
use super::{Authenticator, CLIENT_CREDENTIALS_USER, Found, Resolved};
use crate::bitbucket::Endpoints;
use crate::bitbucket::api::{self, ProviderProbe, UserCheck};
use crate::decide::AppGrant;
use crate::error::Failure;
use crate::host::Deployment;
use crate::oauth::{self, BrowserUi, Grant};
use crate::recognized::OAuthOffers;
use crate::secret::Secret;
use crate::settings::{AuthMode, ClientOrigin, OAuthClient, Source};
use crate::store::{Account, SecretKind};

/// The git username answered for an API token typed with the account's email: git over
/// HTTPS takes the Bitbucket username or this name with any API token, never the email.
pub(crate) const API_TOKEN_USER: &str = "x-bitbucket-api-token-auth";

/// The username a Data Center OAuth sign-in is kept under when the server does not say whose
/// token it is: Git Credential Manager's placeholder (`DataCenterConstants.OAuthUserName`), so
/// both name the account alike. Data Center takes the token over Basic with any username.
pub(crate) const DATA_CENTER_OAUTH_USER: &str = "OAUTH_USERNAME";

/// The scope `/2.0/user` needs; an API token made for git alone lacks it.
const READ_USER_SCOPE: &str = "read:user:bitbucket";

/// Whether a server has an OAuth 2.0 provider, and where the answer came from (`diagnose`
/// shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProviderAnswer {
    /// Not asked: no such question here (Cloud, `None`), or `bitbucketAuthModes` is set
    /// (its source).
    NotAsked(Option<Source>),
    /// Asked within the last day (at this Unix time).
    Remembered { present: bool, at: u64 },
    /// Asked just now.
    Asked { present: bool },
    /// Asked, and the answer concluded nothing (why): every method is offered.
    Failed { reason: String },
}

impl Authenticator<'_> {
    /// Ask the person with the first of `modes` (which can all work here).
    pub(super) fn sign_in(&self, account: &Account, modes: &[AuthMode]) -> Result<Option<Resolved>, Failure> {
        match modes.first() {
            Some(AuthMode::OAuth) => self.sign_in_with_oauth(account).map(|f| Some(Resolved::Stored(f))),
            Some(AuthMode::Token) => self.sign_in_with_token(account),
            Some(AuthMode::ClientCredentials) | None => Ok(None),
        }
    }

    /// OAuth in the browser (docs/architecture.md, "What happens on `get`"), then the username from the user endpoint; stores the
    /// tokens (refresh first).
    pub(crate) fn sign_in_with_oauth(&self, account: &Account) -> Result<Found, Failure> {
        let client = self.oauth_client()?.ok_or(Failure::NoOAuthClient)?;
        let endpoints = self.endpoints()?;
        let ui = BrowserUi {
            browser: self.settings.browser.clone(),
            chatty: self.ctx.stderr_is_terminal,
            say: super::notice,
            paste_source: oauth::terminal_paste_source(),
        };
        let (port, timeout) = (self.settings.redirect_port, self.settings.oauth_timeout);
        // `_held`: from the code exchange until the tokens are kept, a signal waits.
        let (tokens, _held) =
            oauth::sign_in_with_browser(self.http()?, &endpoints, client, port, timeout, ui)?;
        let username = self.username_for_token(&endpoints, &tokens.access_token)?;
        tracing::debug!("signed in with OAuth to {}", account.url());
        let issued = Issued { account, username: &username, kind: SecretKind::OAuth, client };
        self.keep_grant(issued, &endpoints, tokens)
    }

    /// Whether browser sign-in can be offered: yes, unless Data Center's OAuth 2.0 provider
    /// probe says the server has none. When it says so, the person is told why the browser
    /// does not open and which setting stops the question.
    pub(super) fn server_offers_oauth(&self) -> Result<bool, Failure> {
        let answer = self.oauth_provider()?;
        if let ProviderAnswer::Remembered { present: false, .. } | ProviderAnswer::Asked { present: false } =
            answer
        {
            let url = self.endpoints()?.oauth_provider.map(|u| crate::host::redacted(&u)).unwrap_or_default();
            self.ctx.notice(&format!(
                "{} has no OAuth 2.0 provider ({url} answered 404: Bitbucket Data Center older than 7.20), so the browser does not open; sign in with a username and HTTP access token instead (to stop asking the server, set credential.bitbucketAuthModes=token)",
                self.target.origin()
            ));
            return Ok(false);
        }
        Ok(true)
    }

    /// Whether the server has an OAuth 2.0 provider and where that answer came from: not a
    /// question on Cloud or when `bitbucketAuthModes` is set; else the answer remembered for
    /// a day, or an anonymous probe now (remembered when it concludes). A probe that
    /// concludes nothing offers OAuth, as Git Credential Manager does; the trace says why.
    pub(crate) fn oauth_provider(&self) -> Result<ProviderAnswer, Failure> {
        let Some(url) = self.endpoints()?.oauth_provider else { return Ok(ProviderAnswer::NotAsked(None)) };
        if self.settings.auth_modes_source != Source::Default {
            let source = self.settings.auth_modes_source.clone();
            tracing::debug!("bitbucketAuthModes is set ({}): not asking the server", source.describe());
            return Ok(ProviderAnswer::NotAsked(Some(source)));
        }
        let offers = OAuthOffers::new(&self.settings.paths);
        let now = self.now();
        if let Some((present, at)) = offers.answer(url.as_str(), now) {
            return Ok(ProviderAnswer::Remembered { present, at });
        }
        match api::oauth_provider(self.http()?, &url) {
            ProviderProbe::Present => {
                offers.remember(url.as_str(), true, now);
                Ok(ProviderAnswer::Asked { present: true })
            }
            ProviderProbe::Absent => {
                offers.remember(url.as_str(), false, now);
                Ok(ProviderAnswer::Asked { present: false })
            }
            ProviderProbe::Unknown(reason) => {
                tracing::debug!(
                    "could not tell whether the server has an OAuth 2.0 provider ({reason}); offering every method, as Git Credential Manager does"
                );
                Ok(ProviderAnswer::Failed { reason })
            }
        }
    }

    /// Who an access token belongs to, from the deployment's user endpoint (Data Center:
    /// see [`Self::datacenter_username`]).
    pub(super) fn username_for_token(
        &self,
        endpoints: &Endpoints,
        token: &Secret,
    ) -> Result<String, Failure> {
        let response = self.http()?.get_bearer(&endpoints.user, token)?;
        if endpoints.deployment == Deployment::DataCenter {
            return self.datacenter_username(endpoints, token, response);
        }
        match api::read_user(&endpoints.user, response)? {
            UserCheck::Valid(name) => Ok(name),
            UserCheck::Unauthorized | UserCheck::Forbidden => {
                Err(Failure::NewTokenRefused { url: crate::host::redacted(&endpoints.user) })
            }
        }
    }

    /// Data Center has no endpoint documented to map an OAuth token to its user (GCM and
    /// other clients): the name comes from `X-AUSERNAME` of the `whoami` answer, then
    /// `whoami`'s body, then `X-AUSERNAME` of the validation endpoint (which needs a user);
    /// when none names the user, the sign-in is kept under the name git gave, or the
    /// placeholder [`DATA_CENTER_OAUTH_USER`] (git sends the token with any username).
    fn datacenter_username(
        &self,
        endpoints: &Endpoints,
        token: &Secret,
        whoami: reqwest::blocking::Response,
    ) -> Result<String, Failure> {
        let refused = |url| Failure::NewTokenRefused { url: crate::host::redacted(url) };
        if let Some(name) = api::authenticated_username(&whoami) {
            return Ok(name);
        }
        match api::read_user(&endpoints.user, whoami) {
            Ok(UserCheck::Valid(name)) => return Ok(name),
            Ok(UserCheck::Unauthorized | UserCheck::Forbidden) => return Err(refused(&endpoints.user)),
            Err(e @ crate::net::http::ApiError::BadResponse { .. }) => {
                tracing::debug!("{e}; asking the validation endpoint")
            }
            Err(e) => return Err(e.into()),
        }
        match self.http()?.get_bearer(&endpoints.validate, token) {
            Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
                return Err(refused(&endpoints.validate));
            }
            Ok(r) => match api::authenticated_username(&r) {
                Some(name) => return Ok(name),
                None => tracing::debug!("{} named no user", crate::host::redacted(&endpoints.validate)),
            },
            Err(e) => tracing::debug!("{e}"),
        }
        let name = self.target.username.clone().unwrap_or_else(|| DATA_CENTER_OAUTH_USER.to_owned());
        self.ctx.hint(&format!(
            "{} did not say who signed in (no X-AUSERNAME, and whoami answered no name); the sign-in is kept under the name {name}",
            self.target.origin()
        ));
        Ok(name)
    }

    /// Ask for a username (unless git gave one) and a token, the way git itself asks. The
    /// answer is not stored here: git calls `store` once the server has accepted it.
    pub(crate) fn sign_in_with_token(&self, account: &Account) -> Result<Option<Resolved>, Failure> {
        let prompter = self.ctx.prompter;
        if let Some(hint) = self.profile.token_hint {
            prompter.tell(hint);
        }
        let username = match &self.target.username {
            Some(u) => u.clone(),
            None => {
                match prompter.ask(&format!("Username for '{}': ", self.target.to_prompt(None)), false)? {
                    Some(u) => u,
                    None => return Ok(None),
                }
            }
        };
        let prompt = format!("Password for '{}': ", self.target.to_prompt(Some(&username)));
        let Some(token) = prompter.ask(&prompt, true)? else {
            return Ok(None);
        };
        let token = Secret::new(token);
        self.check_token(&username, &token, account)?;
        // Checked with the email (the name the REST API wants), answered with the name git
        // accepts with any API token; git's `store` then keeps it under that name.
        let username = if self.profile.rest_wants_email && username.contains('@') {
            tracing::debug!("an email is not a git username: answering {API_TOKEN_USER}");
            API_TOKEN_USER.to_owned()
        } else {
            username
        };
        Ok(Some(Resolved::Typed { username, secret: token }))
    }

    /// Ask the user endpoint about a username + secret typed by the person; `Ok` lets git try
    /// it. A 401 for a username that is not an email proves nothing where the REST API wants
    /// the email with an API token (git wants the username); a 403 is a valid token without
    /// the scope the check needs (git needs other scopes), said in one line; a failed check
    /// lets git try the token too.
    fn check_token(&self, username: &str, token: &Secret, account: &Account) -> Result<(), Failure> {
        if !self.profile.asks_for_tokens {
            return Ok(());
        }
        let endpoints = self.endpoints()?;
        let checked = self
            .http()
            .and_then(|http| Ok(http.get_basic(&endpoints.user, username, token)?))
            .and_then(|response| Ok(api::read_user(&endpoints.user, response)?));
        match checked {
            Ok(UserCheck::Unauthorized) if username.contains('@') || !self.profile.rest_wants_email => {
                Err(Failure::TypedTokenRefused { url: account.url() })
            }
            Ok(UserCheck::Forbidden) => {
                self.ctx.notice(&format!(
                    "could not check the token: {} needs the scope {READ_USER_SCOPE}, which this token does not have; git will try it (git needs read:repository:bitbucket, and write:repository:bitbucket to push)",
                    crate::host::redacted(&endpoints.user)
                ));
                Ok(())
            }
            Ok(UserCheck::Valid(_) | UserCheck::Unauthorized) => Ok(()),
            Err(e) => {
                tracing::debug!("could not check the token with the REST API ({e}); letting git try it");
                Ok(())
            }
        }
    }

    /// Step 3: a token for the application rather than a person, cached until it expires and
    /// answered as `x-token-auth` (unless git gave a username).
    pub(super) fn app_token(&self, account: &Account, grant: AppGrant) -> Result<Found, Failure> {
        let endpoints = self.endpoints()?;
        let no_client = OAuthClient {
            id: String::new(),
            secret: Secret::default(),
            origin: ClientOrigin::Settings(Source::Program),
        };
        let (client, grant) = match (grant, &self.jwt) {
            // A Connect app authenticates with its JWT alone.
            (AppGrant::Jwt, Some(jwt)) => (self.oauth_client()?.unwrap_or(&no_client), Grant::Jwt(jwt)),
            _ => (self.oauth_client()?.ok_or(Failure::NoOAuthClient)?, Grant::ClientCredentials),
        };
        tracing::debug!("{} grant for {}", grant.name(), account.url());
        let tokens = oauth::request_token(self.http()?, &endpoints, client, grant)?;
        let username = self.target.username.as_deref().unwrap_or(CLIENT_CREDENTIALS_USER);
        let issued = Issued { account, username, kind: SecretKind::ClientCredentials, client };
        self.keep_grant(issued, &endpoints, tokens)
    }
}
