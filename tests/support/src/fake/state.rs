//! The fake's mutable state (accounts, consumers, tokens, the request log, faults) and the
//! rules that decide who a request's credentials belong to, per deployment and per endpoint
//! family. Handlers hold the lock only while they read or change this state, never while git
//! runs or a delay waits.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::http::Presented;
use super::{Counts, Fault, RecordedRequest, RequestKind, User};

/// Access tokens are random URL-safe text of this many bytes before encoding: 2,624 characters,
/// like today's Bitbucket tokens (over the 2,560-byte limit of Windows Credential Manager).
const ACCESS_TOKEN_BYTES: usize = 1968;
const REFRESH_TOKEN_BYTES: usize = 32;

/// Default access token lifetime, as Bitbucket Cloud answers today.
const DEFAULT_EXPIRES_IN: u64 = 7200;

/// Who an OAuth access token acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Principal {
    User(String),
    /// A consumer (client credentials grant) or Connect app (JWT grant), by key.
    App(String),
}

/// Who a request's credentials belong to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    Anonymous,
    User(String),
    App(String),
    /// A Data Center project HTTP access token.
    Project(String),
    /// Credentials were sent and are not accepted.
    Rejected,
}

impl Identity {
    /// The name git's `REMOTE_USER` gets; `None` when the request is not authenticated.
    pub(crate) fn remote_user(&self) -> Option<String> {
        match self {
            Self::User(name) | Self::App(name) => Some(name.clone()),
            Self::Project(key) => Some(project_bot_name(key)),
            Self::Anonymous | Self::Rejected => None,
        }
    }
}

impl From<&Principal> for Identity {
    fn from(principal: &Principal) -> Self {
        match principal {
            Principal::User(name) => Self::User(name.clone()),
            Principal::App(key) => Self::App(key.clone()),
        }
    }
}

/// What Cloud's `GET /2.0/user` makes of the credentials.
pub(crate) enum CloudRestVerdict {
    Ok(Principal),
    /// A correct username and password on an account with two-step verification.
    TwoStepRequired,
    /// A valid email + API token whose scopes lack `read:user:bitbucket`: Bitbucket answers
    /// 403 ("Your credentials lack one or more required privilege scopes").
    MissingScope {
        granted: Vec<String>,
    },
    Unauthorized,
}

pub(crate) struct Consumer {
    pub(crate) secret: String,
    pub(crate) redirect_prefix: String,
    pub(crate) private: bool,
}

/// A consent page shown and not yet answered.
pub(crate) struct PendingConsent {
    pub(crate) client_id: String,
    /// Where to send the browser: the given `redirect_uri`, or the consumer's callback.
    pub(crate) redirect_uri: String,
    /// The `redirect_uri` parameter as given, which the token request must repeat.
    pub(crate) redirect_given: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) code_challenge: Option<String>,
    pub(crate) scope: String,
}

pub(crate) struct AuthCode {
    pub(crate) client_id: String,
    pub(crate) username: String,
    pub(crate) redirect_uri: String,
    pub(crate) redirect_given: Option<String>,
    pub(crate) code_challenge: Option<String>,
    pub(crate) scope: String,
    pub(crate) expires_at: SystemTime,
}

pub(crate) struct AccessToken {
    pub(crate) principal: Principal,
    pub(crate) expires_at: SystemTime,
}

pub(crate) struct RefreshToken {
    pub(crate) client_id: String,
    pub(crate) username: String,
    pub(crate) scope: String,
    pub(crate) used: bool,
    /// When it was issued (moved back by [`super::FakeBitbucket::age_refresh_token`]).
    pub(crate) issued_at: SystemTime,
}

pub(crate) struct FaultRule {
    pub(crate) prefix: String,
    pub(crate) fault: Fault,
    /// `None`: always.
    pub(crate) remaining: Option<usize>,
    /// Only requests that carry an `Authorization` header match.
    pub(crate) authenticated_only: bool,
}

pub(crate) struct State {
    pub(crate) users: Vec<User>,
    pub(crate) repos: Vec<String>,
    pub(crate) consumers: HashMap<String, Consumer>,
    pub(crate) connect_apps: HashSet<String>,
    pub(crate) consenting_user: Option<String>,
    pub(crate) expires_in: u64,
    pub(crate) consents: HashMap<String, PendingConsent>,
    pub(crate) codes: HashMap<String, AuthCode>,
    pub(crate) access_tokens: HashMap<String, AccessToken>,
    pub(crate) refresh_tokens: HashMap<String, RefreshToken>,
    pub(crate) last_access: HashMap<String, String>,
    pub(crate) last_refresh: HashMap<String, String>,
    pub(crate) access_issued: usize,
    pub(crate) refresh_issued: usize,
    pub(crate) rejected_grants: usize,
    /// (username, token)
    pub(crate) dc_personal_tokens: Vec<(String, String)>,
    /// (project key, token)
    pub(crate) dc_project_tokens: Vec<(String, String)>,
    pub(crate) log: Vec<RecordedRequest>,
    pub(crate) faults: Vec<FaultRule>,
    /// Data Center's login options list an identity provider (`IDP`) beside `LOGIN_FORM`.
    pub(crate) identity_provider: bool,
    /// How the token endpoint words its answer to a dead refresh token.
    pub(crate) dead_refresh_spelling: super::DeadRefreshSpelling,
    /// Cloud token responses say `scopes` (older servers) rather than `scope`.
    pub(crate) legacy_scopes_field: bool,
    /// Data Center puts `X-AUSERNAME` on its answers (on by default).
    pub(crate) ausername_header: bool,
    /// Data Center's `whoami` answers an empty body to a Bearer token.
    pub(crate) whoami_empty_for_bearer: bool,
    /// Data Center has its OAuth 2.0 provider (7.20 and later): `rest/oauth2/1.0/client`
    /// answers 401 to anonymous requests, else 404.
    pub(crate) oauth_provider: bool,
}

impl Default for State {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            repos: Vec::new(),
            consumers: HashMap::new(),
            connect_apps: HashSet::new(),
            consenting_user: None,
            expires_in: DEFAULT_EXPIRES_IN,
            consents: HashMap::new(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            last_access: HashMap::new(),
            last_refresh: HashMap::new(),
            access_issued: 0,
            refresh_issued: 0,
            rejected_grants: 0,
            dc_personal_tokens: Vec::new(),
            dc_project_tokens: Vec::new(),
            log: Vec::new(),
            faults: Vec::new(),
            identity_provider: false,
            dead_refresh_spelling: super::DeadRefreshSpelling::InvalidGrant,
            legacy_scopes_field: false,
            ausername_header: true,
            whoami_empty_for_bearer: false,
            oauth_provider: true,
        }
    }
}

impl State {
    pub(crate) fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for request in &self.log {
            let slot = match request.kind {
                RequestKind::Git => &mut counts.git,
                RequestKind::Rest => &mut counts.rest,
                RequestKind::Token => &mut counts.token,
                RequestKind::Authorize => &mut counts.authorize,
                RequestKind::Other => &mut counts.other,
            };
            *slot += 1;
        }
        counts
    }

    pub(crate) fn user(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }

    /// The user signed in on the consent page: the one set, else the first added.
    pub(crate) fn consenting_user(&self) -> Option<String> {
        self.consenting_user.clone().or_else(|| self.users.first().map(|u| u.username.clone()))
    }

    pub(crate) fn add_consumer(
        &mut self,
        client_id: &str,
        secret: &str,
        redirect_prefix: &str,
        private: bool,
    ) {
        let consumer =
            Consumer { secret: secret.to_owned(), redirect_prefix: redirect_prefix.to_owned(), private };
        self.consumers.insert(client_id.to_owned(), consumer);
    }

    /// The client id when `secret` is the registered consumer's secret.
    pub(crate) fn check_client(&self, client_id: &str, secret: &str) -> Option<String> {
        let consumer = self.consumers.get(client_id)?;
        (consumer.secret == secret).then(|| client_id.to_owned())
    }

    pub(crate) fn new_access_token(&mut self, principal: Principal, lifetime_secs: u64) -> String {
        let token = format!("{SECRET_MARK}at{}", random_token(ACCESS_TOKEN_BYTES));
        if let Principal::User(name) = &principal {
            self.last_access.insert(name.clone(), token.clone());
        }
        let expires_at = SystemTime::now() + Duration::from_secs(lifetime_secs);
        let entry = AccessToken { principal, expires_at };
        self.access_tokens.insert(token.clone(), entry);
        token
    }

    pub(crate) fn new_refresh_token(&mut self, username: &str, client_id: &str, scope: &str) -> String {
        let token = format!("{SECRET_MARK}rt{}", random_token(REFRESH_TOKEN_BYTES));
        let entry = RefreshToken {
            client_id: client_id.to_owned(),
            username: username.to_owned(),
            scope: scope.to_owned(),
            used: false,
            issued_at: SystemTime::now(),
        };
        self.refresh_tokens.insert(token.clone(), entry);
        self.last_refresh.insert(username.to_owned(), token.clone());
        token
    }

    /// Who a live (unexpired) access token acts for.
    fn live_access_token(&self, token: &str) -> Option<&Principal> {
        let entry = self.access_tokens.get(token)?;
        (SystemTime::now() < entry.expires_at).then_some(&entry.principal)
    }

    fn access_token_of(&self, username: &str, token: &str) -> bool {
        self.live_access_token(token) == Some(&Principal::User(username.to_owned()))
    }

    /// Cloud git over HTTPS: HTTP Basic only, with an API token (username or
    /// `x-bitbucket-api-token-auth`, never the email) or an OAuth access token (username or
    /// `x-token-auth`).
    pub(crate) fn cloud_git_identity(&self, presented: &Presented) -> Identity {
        let Presented::Basic { username, secret } = presented else {
            return match presented {
                Presented::Nothing => Identity::Anonymous,
                _ => Identity::Rejected,
            };
        };
        // An API token works for git only with `read:repository:bitbucket` (Atlassian, "API
        // token permissions"); pushing also needs the write scope (see `git.rs`).
        let readable = |u: &User| u.api_token_has_scope(secret, "read:repository:bitbucket");
        let by_api_token = || self.users.iter().find(|u| u.api_tokens.iter().any(|t| t == secret));
        match username.as_str() {
            "x-bitbucket-api-token-auth" => by_api_token()
                .filter(|u| readable(u))
                .map(|u| Identity::User(u.username.clone()))
                .unwrap_or(Identity::Rejected),
            "x-token-auth" => {
                self.live_access_token(secret).map(Identity::from).unwrap_or(Identity::Rejected)
            }
            name => match self.user(name) {
                Some(user) if user.api_tokens.iter().any(|t| t == secret) && readable(user) => {
                    Identity::User(name.to_owned())
                }
                Some(_) if self.access_token_of(name, secret) => Identity::User(name.to_owned()),
                _ => Identity::Rejected,
            },
        }
    }

    /// Cloud git: whether `presented` is an API token that lacks `scope` (pushing needs
    /// `write:repository:bitbucket`).
    pub(crate) fn cloud_api_token_lacks(&self, presented: &Presented, scope: &str) -> bool {
        let Presented::Basic { secret, .. } = presented else { return false };
        self.users
            .iter()
            .find(|u| u.api_tokens.iter().any(|t| t == secret))
            .is_some_and(|u| !u.api_token_has_scope(secret, scope))
    }

    /// Cloud `GET /2.0/user`: email + API token (403 when the token lacks
    /// `read:user:bitbucket`), Bearer access token, or username + password (403 with two-step
    /// verification). Username + API token is 401: REST wants the email.
    pub(crate) fn cloud_rest_verdict(&self, presented: &Presented) -> CloudRestVerdict {
        match presented {
            Presented::Basic { username, secret } => {
                if let Some(user) = self.users.iter().find(|u| &u.email == username)
                    && user.api_tokens.iter().any(|t| t == secret)
                {
                    if !user.api_token_has_scope(secret, "read:user:bitbucket") {
                        let granted = super::API_TOKEN_SCOPES
                            .iter()
                            .filter(|s| user.api_token_has_scope(secret, s))
                            .map(|s| (*s).to_owned())
                            .collect();
                        return CloudRestVerdict::MissingScope { granted };
                    }
                    return CloudRestVerdict::Ok(Principal::User(user.username.clone()));
                }
                match self.user(username) {
                    Some(user) if user.password.as_ref() == Some(secret) => {
                        if user.two_step {
                            CloudRestVerdict::TwoStepRequired
                        } else {
                            CloudRestVerdict::Ok(Principal::User(user.username.clone()))
                        }
                    }
                    _ => CloudRestVerdict::Unauthorized,
                }
            }
            Presented::Bearer(token) => match self.live_access_token(token) {
                Some(principal) => CloudRestVerdict::Ok(principal.clone()),
                None => CloudRestVerdict::Unauthorized,
            },
            _ => CloudRestVerdict::Unauthorized,
        }
    }

    /// Data Center, git and REST alike: Basic with username + password, personal token or
    /// access token; Bearer with an access token, personal token or project token.
    pub(crate) fn datacenter_identity(&self, presented: &Presented) -> Identity {
        match presented {
            Presented::Nothing => Identity::Anonymous,
            Presented::Basic { username, secret } => {
                // An OAuth access token is the credential, whatever the username beside it:
                // Git Credential Manager sends it under the placeholder `OAUTH_USERNAME`
                // (DataCenterConstants.OAuthUserName: "Bitbucket Server/DC does not have a
                // REST API we can use to trade an OAuth access_token for the owning username").
                if let Some(principal @ Principal::User(_)) = self.live_access_token(secret) {
                    return Identity::from(principal);
                }
                let Some(user) = self.user(username) else {
                    return Identity::Rejected;
                };
                let accepted = user.password.as_ref() == Some(secret)
                    || self
                        .dc_personal_tokens
                        .iter()
                        .any(|(owner, token)| owner == username && token == secret)
                    || self.access_token_of(username, secret);
                if accepted { Identity::User(username.clone()) } else { Identity::Rejected }
            }
            Presented::Bearer(token) => {
                if let Some(principal) = self.live_access_token(token) {
                    Identity::from(principal)
                } else if let Some((owner, _)) = self.dc_personal_tokens.iter().find(|(_, t)| t == token) {
                    Identity::User(owner.clone())
                } else if let Some((project, _)) = self.dc_project_tokens.iter().find(|(_, t)| t == token) {
                    Identity::Project(project.clone())
                } else {
                    Identity::Rejected
                }
            }
            Presented::Jwt(_) | Presented::Unusable => Identity::Rejected,
        }
    }
}

/// The user name Data Center shows for a project access token's bot user.
pub(crate) fn project_bot_name(project: &str) -> String {
    format!("project_{}_bot", project.to_ascii_lowercase())
}

/// `bytes` random bytes as unpadded base64url text.
/// Every token and code the fake issues starts with this, so a scan of any output can find
/// a leaked one without knowing its value.
pub const SECRET_MARK: &str = "fakeSECRET_";

pub(crate) fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("fake Bitbucket: the OS random source failed");
    URL_SAFE_NO_PAD.encode(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> User {
        User::new("alice", "alice@example.com").with_api_token("api-token").with_password("pw")
    }

    fn state_with_alice() -> State {
        let mut state = State::default();
        state.users.push(alice());
        state
    }

    fn basic(username: &str, secret: &str) -> Presented {
        Presented::Basic { username: username.into(), secret: secret.into() }
    }

    #[test]
    fn access_tokens_are_longer_than_2600_bytes() {
        let token = State::default().new_access_token(Principal::User("alice".into()), 60);
        assert!(token.len() >= 2600, "{}", token.len());
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn cloud_git_accepts_api_token_with_username_or_static_name() {
        let state = state_with_alice();
        let alice = Identity::User("alice".into());
        assert_eq!(state.cloud_git_identity(&basic("alice", "api-token")), alice);
        assert_eq!(state.cloud_git_identity(&basic("x-bitbucket-api-token-auth", "api-token")), alice);
        assert_eq!(state.cloud_git_identity(&basic("alice@example.com", "api-token")), Identity::Rejected);
        assert_eq!(state.cloud_git_identity(&basic("alice", "pw")), Identity::Rejected);
    }

    #[test]
    fn expired_access_token_is_rejected_by_git() {
        let mut state = state_with_alice();
        let expired = state.new_access_token(Principal::User("alice".into()), 0);
        assert_eq!(state.cloud_git_identity(&basic("x-token-auth", &expired)), Identity::Rejected);
    }

    #[test]
    fn cloud_rest_wants_the_email_with_an_api_token() {
        let state = state_with_alice();
        assert!(matches!(
            state.cloud_rest_verdict(&basic("alice@example.com", "api-token")),
            CloudRestVerdict::Ok(_)
        ));
        assert!(matches!(
            state.cloud_rest_verdict(&basic("alice", "api-token")),
            CloudRestVerdict::Unauthorized
        ));
    }

    #[test]
    fn datacenter_project_token_is_bearer_only() {
        let mut state = state_with_alice();
        state.dc_project_tokens.push(("PROJ".into(), "proj-token".into()));
        assert_eq!(
            state.datacenter_identity(&Presented::Bearer("proj-token".into())),
            Identity::Project("PROJ".into())
        );
        assert_eq!(state.datacenter_identity(&basic("alice", "proj-token")), Identity::Rejected);
    }
}
