//! A Bitbucket deployment as data: where its OAuth and REST endpoints are, which scopes to
//! ask for, how a client authenticates. Cloud and Data Center differ only here, never in
//! copied code paths.

pub mod api;

use url::Url;

use crate::host::Deployment;
use crate::settings::{OAuthClient, Settings};

/// How an OAuth client proves itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic `client_id:client_secret` (Cloud).
    Basic,
    /// `client_id` and `client_secret` in the form body (Data Center).
    Form,
}

/// Everything the helper needs to know about one Bitbucket instance.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Which kind of Bitbucket.
    pub deployment: Deployment,
    /// OAuth authorization page.
    pub authorize: Url,
    /// OAuth token endpoint.
    pub token: Url,
    /// "Who am I": JSON with `username` (Cloud) or the name as text (Data Center).
    pub user: Url,
    /// An endpoint that needs an authenticated user (to validate a stored secret).
    pub validate: Url,
    /// Scopes to request (Data Center only; Cloud takes the consumer's permissions).
    pub scopes: Option<&'static str>,
    /// How the client authenticates at `token`.
    pub client_auth: ClientAuth,
    /// Where an anonymous `GET` tells whether the server has an OAuth 2.0 provider (Data
    /// Center's `rest/oauth2/1.0/client`: 401 or 200 present, 404 absent), asked before
    /// offering OAuth; `None` where OAuth is always possible (Cloud).
    pub oauth_provider: Option<Url>,
    /// The server checks PKCE's `code_verifier` (Data Center). Cloud ignores PKCE
    /// (BCLOUD-23469): there only the `state` binds a code to this sign-in.
    pub verifies_pkce: bool,
}

/// Why the endpoints of a host cannot be known.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// A Data Center remote without `/scm/` in a known path.
    #[error(
        "cannot tell the Bitbucket Data Center base URL of {url}: set credential.bitbucketDataCenterUrl (for example `git config --global credential.{url}.bitbucketDataCenterUrl https://host/context`), or set credential.useHttpPath=true so the helper sees the /scm/ path"
    )]
    UnknownDataCenterBase {
        /// The remote (no secret).
        url: String,
    },
}

impl Endpoints {
    /// Bitbucket Cloud, from the `bitbucketCloudUrl` / `bitbucketCloudApiUrl` settings.
    pub fn cloud(settings: &Settings) -> Endpoints {
        let site = &settings.cloud_url;
        let api = &settings.cloud_api_url;
        Endpoints {
            deployment: Deployment::Cloud,
            authorize: join(site, "site/oauth2/authorize"),
            token: join(site, "site/oauth2/access_token"),
            user: join(api, "2.0/user"),
            validate: join(api, "2.0/user"),
            scopes: None,
            client_auth: ClientAuth::Basic,
            oauth_provider: None,
            verifies_pkce: false,
        }
    }

    /// A Data Center instance at `base` (context path included).
    pub fn data_center(base: &Url) -> Endpoints {
        Endpoints {
            deployment: Deployment::DataCenter,
            authorize: join(base, "rest/oauth2/latest/authorize"),
            token: join(base, "rest/oauth2/latest/token"),
            user: join(base, "plugins/servlet/applinks/whoami"),
            validate: join(base, "rest/api/1.0/profile/recent/repos"),
            scopes: Some("REPO_WRITE"),
            client_auth: ClientAuth::Form,
            oauth_provider: Some(join(base, "rest/oauth2/1.0/client")),
            verifies_pkce: true,
        }
    }

    /// The endpoints for a remote: Cloud's, or Data Center's at the configured base URL or
    /// the part of the remote URL before `/scm/`.
    pub fn for_remote(
        deployment: Deployment,
        settings: &Settings,
        scheme: &str,
        host: &str,
        path: Option<&[u8]>,
    ) -> Result<Endpoints, EndpointError> {
        if deployment == Deployment::Cloud {
            return Ok(Endpoints::cloud(settings));
        }
        if let Some(base) = &settings.datacenter_url {
            return Ok(Endpoints::data_center(base));
        }
        let unknown = || EndpointError::UnknownDataCenterBase { url: format!("{scheme}://{host}/") };
        let path = path.and_then(|p| std::str::from_utf8(p).ok()).ok_or_else(unknown)?;
        let context = if path.starts_with("scm/") {
            ""
        } else {
            path.find("/scm/").map(|i| &path[..i]).ok_or_else(unknown)?
        };
        let base = Url::parse(&format!("{scheme}://{host}/{context}")).map_err(|_| unknown())?;
        Ok(Endpoints::data_center(&base))
    }
}

/// How a deployment's sign-in differs, as data: the one place `auth` learns what Cloud and
/// Data Center do differently.
#[derive(Debug)]
pub struct Profile {
    /// The helper itself asks for a username and token (Cloud, where it can check an API
    /// token and explain what to create). `false`: git's own prompt asks (Data Center), and
    /// `store` keeps what the server accepted.
    pub asks_for_tokens: bool,
    /// Shown before the token prompt.
    pub token_hint: Option<&'static str>,
    /// Shown when OAuth is wanted but no consumer is configured.
    pub no_client_hint: Option<&'static str>,
    /// Its REST API wants the account's email, not the username, with an API token: a
    /// stored username + token cannot be checked there.
    pub rest_wants_email: bool,
    /// The settings that hold its OAuth client: (id, secret).
    pub client_settings: (&'static str, &'static str),
    /// How `login --setup-oauth` names, reads and checks its OAuth client.
    pub setup: ClientSetup,
    client: fn(&Settings) -> Option<&OAuthClient>,
}

/// How `login --setup-oauth` names, reads and checks a deployment's OAuth client.
#[derive(Debug)]
pub struct ClientSetup {
    /// What the client is called (`Cloud OAuth consumer`, `Data Center OAuth client`).
    pub name: &'static str,
    /// The prompt for its id.
    pub id_prompt: &'static str,
    /// The prompt for its secret (read without echo).
    pub secret_prompt: &'static str,
    /// The pair, in messages (`key and secret`).
    pub words: &'static str,
    /// Where the person copies them from.
    pub copied_from: &'static str,
    /// How the token endpoint is asked whether they are right.
    pub check: ClientCheck,
}

/// How `login --setup-oauth` asks the token endpoint whether a client id and secret are right,
/// without a person signing in. Either way a wrong pair is `invalid_client`: servers
/// authenticate the client before they look at the grant (RFC 6749 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCheck {
    /// The client credentials grant (Cloud): a public consumer gets `unauthorized_client`, a
    /// private one a token.
    ClientCredentials,
    /// An authorization code no server issued (Data Center, which has no client credentials
    /// grant): a right pair gets `invalid_grant`.
    UnknownCode,
}

impl Profile {
    /// The OAuth client configured for this deployment, if any.
    pub fn client<'s>(&self, settings: &'s Settings) -> Option<&'s OAuthClient> {
        (self.client)(settings)
    }
}

/// Why browser sign-in is not offered for Cloud, and how to change that.
pub const NO_CLIENT: &str = "No OAuth consumer is configured, so browser sign-in is not offered. A workspace admin can add one under Workspace settings > OAuth consumers (callback URL http://localhost:34106/, permissions Account: Read and Repositories: Write); then run: git config --global credential.bitbucketOAuthClientId KEY && git config --global credential.bitbucketOAuthClientSecret SECRET";

const CLOUD_TOKEN_HINT: &str = "Bitbucket Cloud: enter your Bitbucket username (or x-bitbucket-api-token-auth) and an API token with the scopes read:repository:bitbucket and write:repository:bitbucket (create one at https://id.atlassian.com/manage-profile/security/api-tokens). App passwords stopped working on 2026-07-28: an app password is refused (git says only \"Authentication failed\").";

const CLOUD: Profile = Profile {
    asks_for_tokens: true,
    token_hint: Some(CLOUD_TOKEN_HINT),
    no_client_hint: Some(NO_CLIENT),
    rest_wants_email: true,
    client_settings: (crate::settings::key::OAUTH_CLIENT_ID, crate::settings::key::OAUTH_CLIENT_SECRET),
    setup: ClientSetup {
        name: "Cloud OAuth consumer",
        id_prompt: "Key: ",
        secret_prompt: "Secret: ",
        words: "key and secret",
        copied_from: "the consumer's page",
        check: ClientCheck::ClientCredentials,
    },
    client: |s| s.cloud_client.as_ref(),
};

const DATA_CENTER: Profile = Profile {
    asks_for_tokens: false,
    token_hint: None,
    no_client_hint: None,
    rest_wants_email: false,
    client_settings: (
        crate::settings::key::DATACENTER_OAUTH_CLIENT_ID,
        crate::settings::key::DATACENTER_OAUTH_CLIENT_SECRET,
    ),
    setup: ClientSetup {
        name: "Data Center OAuth client",
        id_prompt: "Client ID: ",
        secret_prompt: "Client secret: ",
        words: "client ID and secret",
        copied_from: "the application link (your Bitbucket administrator has them)",
        check: ClientCheck::UnknownCode,
    },
    client: |s| s.datacenter_client.as_ref(),
};

impl Deployment {
    /// What this deployment does differently.
    pub fn profile(self) -> &'static Profile {
        match self {
            Deployment::Cloud => &CLOUD,
            Deployment::DataCenter => &DATA_CENTER,
        }
    }
}

/// `base` + `/` + `path`, keeping any context path of `base`.
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{}", base.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::RawSettings;

    fn settings() -> Settings {
        RawSettings::default().validate(None).unwrap()
    }

    #[test]
    fn cloud_defaults_are_the_real_endpoints() {
        let e = Endpoints::cloud(&settings());
        assert_eq!(e.authorize.as_str(), "https://bitbucket.org/site/oauth2/authorize");
        assert_eq!(e.token.as_str(), "https://bitbucket.org/site/oauth2/access_token");
        assert_eq!(e.user.as_str(), "https://api.bitbucket.org/2.0/user");
    }

    #[test]
    fn data_center_base_is_the_part_before_scm() {
        let s = settings();
        let e = Endpoints::for_remote(
            Deployment::DataCenter,
            &s,
            "https",
            "git.example.com",
            Some(b"bitbucket/scm/PROJ/repo.git"),
        )
        .unwrap();
        assert_eq!(e.token.as_str(), "https://git.example.com/bitbucket/rest/oauth2/latest/token");
        let e = Endpoints::for_remote(Deployment::DataCenter, &s, "https", "h:7990", Some(b"scm/P/r.git"))
            .unwrap();
        assert_eq!(e.user.as_str(), "https://h:7990/plugins/servlet/applinks/whoami");
        assert_eq!(e.validate.as_str(), "https://h:7990/rest/api/1.0/profile/recent/repos");
    }

    #[test]
    fn data_center_without_path_or_setting_says_what_to_set() {
        let err = Endpoints::for_remote(Deployment::DataCenter, &settings(), "https", "h", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(crate::settings::key::DATACENTER_URL) && err.contains("useHttpPath"), "{err}");
    }
}
