//! Every setting this helper reads, defined once, in `settings!`: its key, its git config
//! name under `credential.`, Git Credential Manager's other names for it, the environment
//! variables that override it, its default, whether its value is a secret, whether it is
//! *protected* (it decides where tokens go), and its one-line doc. The macro makes the table
//! ([`SETTINGS`]) and the typed keys ([`key`]) the rest of the crate names settings by: no
//! setting name is written as a string anywhere else (a test below checks `src/`).
//!
//! A new setting that is one value: one entry here, with its field and parser; `Settings`
//! holds the typed value (`Settings::values`, read as `settings.FIELD`). A setting that only
//! makes part of a value (an OAuth client's id and secret, the store's paths) is combined in
//! `RawSettings::validate` (`settings/mod.rs`), read through its key.

use std::time::Duration;

use url::Url;

use super::error::ConfigError;
use super::parse::{self, AuthMode, Lookup};
use crate::secret::Secret;

/// One setting, as `settings!` defines it.
#[derive(Debug, Clone, Copy)]
pub struct SettingDef {
    /// Name under `credential.` in git config, in its documented letter case.
    pub git: &'static str,
    /// Environment variables, first one wins.
    pub env: &'static [&'static str],
    /// The default, as text; `None` when there is none.
    pub default: Option<&'static str>,
    /// Whether the value is a secret (redacted by `diagnose`, kept out of child processes).
    pub secret: bool,
    /// Other names under `credential.` that mean the same (Git Credential Manager's), read
    /// only when `git` is not set.
    pub git_aliases: &'static [&'static str],
    /// Whether the setting decides where tokens go (a server URL, an OAuth client, the
    /// store): read only from the protected scopes (system, global, `git -c`) and the
    /// environment; a repository's own configuration setting it is ignored (`RawSettings`).
    pub protected: bool,
    /// What the setting does, in one line.
    #[allow(dead_code, reason = "the definition's documentation; the tests check every setting has one")]
    pub doc: &'static str,
}

/// Define every setting once: `KEY = "gitName" { env: [...], aliases: [...], default: ...,
/// secret: bool, protected: bool; field: Type = parser }` after a one-line `///` doc (the
/// typed field is left out where `validate` combines several settings into one value). Makes
/// [`SETTINGS`], [`key`] and [`Parsed`].
macro_rules! settings {
    ($(
        #[doc = $doc:literal]
        $key:ident = $git:literal {
            env: [$($env:literal),* $(,)?],
            aliases: [$($alias:literal),* $(,)?],
            default: $default:expr,
            secret: $secret:literal,
            protected: $protected:literal
            $(; $field:ident: $ty:ty = $parse:expr)? $(,)?
        }
    )*) => {
        /// Every setting's git config name (under `credential.`), by key: the one way the
        /// crate names a setting.
        pub mod key {
            #![allow(
                dead_code,
                reason = "every setting has a key; one read only through `Parsed` needs none elsewhere"
            )]
            $(
                #[doc = $doc]
                pub const $key: &str = $git;
            )*
        }

        /// Every setting, in the order `diagnose` shows them.
        pub const SETTINGS: &[SettingDef] = &[$(
            SettingDef {
                git: $git,
                env: &[$($env),*],
                default: $default,
                secret: $secret,
                git_aliases: &[$($alias),*],
                protected: $protected,
                doc: $doc.trim_ascii_start(),
            },
        )*];

        /// The typed value of every setting whose definition names a field and its parser,
        /// read in the order above; `Settings` holds it (`Settings::values`).
        #[derive(Debug, Clone)]
        pub struct Parsed {
            $($(
                #[doc = $doc]
                pub $field: $ty,
            )?)*
        }

        impl Parsed {
            /// Parse each of them; the first bad value is the error.
            pub fn read(raw: &dyn Lookup) -> Result<Parsed, ConfigError> {
                Ok(Parsed { $($( $field: ($parse)(raw, $git)?, )?)* })
            }
        }
    };
}

/// A packager's Cloud OAuth consumer, compiled in from the build environment
/// (`BITBUCKET_BUILTIN_OAUTH_CLIENT_ID` / `_SECRET`): the lowest-precedence source of the
/// Cloud client, used only when no consumer id is set in git config or the environment.
pub const BUILTIN_CLOUD_CLIENT: Option<(&str, &str)> = match (
    option_env!("BITBUCKET_BUILTIN_OAUTH_CLIENT_ID"),
    option_env!("BITBUCKET_BUILTIN_OAUTH_CLIENT_SECRET"),
) {
    (Some(id), secret) if !id.is_empty() => Some((
        id,
        match secret {
            Some(secret) => secret,
            None => "",
        },
    )),
    _ => None,
};

/// `yes` or `no`: whether this binary carries a built-in consumer (never its secret).
pub const fn builtin_consumer_word() -> &'static str {
    if BUILTIN_CLOUD_CLIENT.is_some() { "yes" } else { "no" }
}

settings! {
    /// Which provider serves the URL: `bitbucket`, `auto` (recognise it), or another tool's.
    PROVIDER = "provider" { env: [], aliases: [], default: None, secret: false, protected: false }
    /// With `provider=bitbucket`: `cloud` or `datacenter`.
    DEPLOYMENT = "bitbucketDeployment" {
        env: [], aliases: [], default: Some("datacenter"), secret: false, protected: false
    }
    /// The ways to sign in, in order: `oauth`, `token` (or `basic`), `clientcredentials`.
    AUTH_MODES = "bitbucketAuthModes" {
        env: ["GIT_BITBUCKET_AUTHMODES", "GCM_BITBUCKET_AUTHMODES"],
        aliases: [], default: Some("oauth,token"), secret: false, protected: false;
        auth_modes: Vec<AuthMode> = parse::auth_modes
    }
    /// The Cloud OAuth consumer's key.
    OAUTH_CLIENT_ID = "bitbucketOAuthClientId" {
        env: ["BITBUCKET_OAUTH_CLIENT_ID", "bitbucketKey", "GCM_BITBUCKET_CLOUD_CLIENTID"],
        aliases: ["cloudOAuthClientId"], default: None, secret: false, protected: true
    }
    /// The Cloud OAuth consumer's secret.
    OAUTH_CLIENT_SECRET = "bitbucketOAuthClientSecret" {
        env: ["BITBUCKET_OAUTH_CLIENT_SECRET", "bitbucketSecret", "GCM_BITBUCKET_CLOUD_CLIENTSECRET"],
        aliases: ["cloudOAuthClientSecret"], default: None, secret: true, protected: true
    }
    /// The Data Center OAuth client's id.
    DATACENTER_OAUTH_CLIENT_ID = "bitbucketDataCenterOAuthClientId" {
        env: ["GIT_BITBUCKET_DATACENTER_CLIENTID", "GCM_BITBUCKET_DATACENTER_CLIENTID"],
        aliases: [], default: None, secret: false, protected: true
    }
    /// The Data Center OAuth client's secret.
    DATACENTER_OAUTH_CLIENT_SECRET = "bitbucketDataCenterOAuthClientSecret" {
        env: ["GIT_BITBUCKET_DATACENTER_CLIENTSECRET", "GCM_BITBUCKET_DATACENTER_CLIENTSECRET"],
        aliases: [], default: None, secret: true, protected: true
    }
    /// The loopback port the OAuth redirect comes back to.
    OAUTH_REDIRECT_PORT = "bitbucketOAuthRedirectPort" {
        env: ["GIT_BITBUCKET_OAUTH_PORT"], aliases: [], default: Some("34106"), secret: false, protected: true
    }
    /// Git Credential Manager's form of the port (`http://localhost:PORT/`), read without the port.
    OAUTH_REDIRECT_URI = "cloudOAuthRedirectUri" {
        env: ["GCM_BITBUCKET_CLOUD_OAUTH_REDIRECTURI"], aliases: [], default: None, secret: false,
        protected: true
    }
    /// How long the browser sign-in may take, in seconds.
    OAUTH_TIMEOUT = "bitbucketOAuthTimeout" {
        env: ["GIT_BITBUCKET_OAUTH_TIMEOUT"], aliases: [], default: Some("300"), secret: false,
        protected: false;
        oauth_timeout: Duration =
            |r, n| parse::seconds(r, n, 1..=86_400, "a number of seconds from 1 to 86400")
    }
    /// Bitbucket Cloud's web URL.
    CLOUD_URL = "bitbucketCloudUrl" {
        env: ["GIT_BITBUCKET_CLOUD_URL"], aliases: [], default: Some("https://bitbucket.org"), secret: false,
        protected: true;
        cloud_url: Url = parse::cloud_url
    }
    /// Bitbucket Cloud's REST API URL.
    CLOUD_API_URL = "bitbucketCloudApiUrl" {
        env: ["GIT_BITBUCKET_CLOUD_API_URL"], aliases: [], default: Some("https://api.bitbucket.org"),
        secret: false, protected: true;
        cloud_api_url: Url = parse::cloud_url
    }
    /// The Data Center instance's base URL (its REST API lives under it).
    DATACENTER_URL = "bitbucketDataCenterUrl" {
        env: ["GIT_BITBUCKET_DATACENTER_URL"], aliases: [], default: None, secret: false, protected: true;
        datacenter_url: Option<Url> = parse::url
    }
    /// How long one request to Bitbucket may take, in seconds.
    HTTP_TIMEOUT = "bitbucketHttpTimeout" {
        env: ["GIT_BITBUCKET_HTTP_TIMEOUT"], aliases: [], default: Some("30"), secret: false,
        protected: false;
        http_timeout: Duration =
            |r, n| parse::seconds(r, n, 1..=600, "a number of seconds from 1 to 600")
    }
    /// Refresh OAuth tokens even while they are fresh.
    ALWAYS_REFRESH = "bitbucketAlwaysRefreshCredentials" {
        env: ["GIT_BITBUCKET_ALWAYS_REFRESH_CREDENTIALS", "GCM_BITBUCKET_ALWAYS_REFRESH_CREDENTIALS"],
        aliases: [], default: Some("false"), secret: false, protected: false;
        always_refresh: bool = parse::flag
    }
    /// Ask Bitbucket whether a stored secret still works before answering git with it.
    VALIDATE_STORED = "bitbucketValidateStoredCredentials" {
        env: ["GIT_BITBUCKET_VALIDATE_STORED_CREDENTIALS", "GCM_BITBUCKET_VALIDATE_STORED_CREDENTIALS"],
        aliases: [], default: Some("false"), secret: false, protected: true;
        validate_stored: bool = parse::flag
    }
    /// Where secrets are kept: the name of a store backend (`store::BACKENDS`), `keyring` by default.
    CREDENTIAL_STORE = "credentialStore" {
        env: ["GIT_BITBUCKET_CREDENTIAL_STORE"], aliases: [], default: Some("keyring"), secret: false,
        protected: true;
        store_name: String = parse::text
    }
    /// The file of the `plaintext` store.
    PLAINTEXT_STORE_PATH = "plaintextStorePath" {
        env: ["GIT_BITBUCKET_PLAINTEXT_STORE"], aliases: [], default: None, secret: false, protected: true
    }
    /// The options of `git credential-cache` for the `cache` store.
    CACHE_OPTIONS = "cacheOptions" {
        env: ["GCM_CREDENTIAL_CACHE_OPTIONS"], aliases: [], default: None, secret: false, protected: false
    }
    /// The prefix of every store key.
    NAMESPACE = "namespace" {
        env: ["GIT_BITBUCKET_NAMESPACE", "GCM_NAMESPACE"], aliases: [], default: Some("git"), secret: false,
        protected: true;
        namespace: String = parse::namespace
    }
    /// Whether the helper may prompt or open a browser.
    INTERACTIVE = "interactive" {
        env: ["GIT_BITBUCKET_INTERACTIVE", "GCM_INTERACTIVE"], aliases: [], default: Some("true"),
        secret: false, protected: false;
        interactive: bool = parse::interactive
    }
    /// Git Credential Manager's proxy for https (`http.proxy` and the rest are read by `net`).
    HTTPS_PROXY = "httpsProxy" {
        env: [], aliases: [], default: None, secret: true, protected: false;
        https_proxy: Option<Secret> = parse::secret
    }
    /// Git Credential Manager's proxy for http.
    HTTP_PROXY = "httpProxy" {
        env: [], aliases: [], default: None, secret: true, protected: false;
        http_proxy: Option<Secret> = parse::secret
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setting is named through [`key`] outside this file: a setting name written as a
    /// string elsewhere in `src/` (comments aside) would be a second definition.
    #[test]
    fn no_setting_name_is_written_outside_this_file() {
        let names: Vec<&str> = SETTINGS
            .iter()
            .flat_map(|d| std::iter::once(d.git).chain(d.git_aliases.iter().copied()))
            .collect();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![src];
        let mut found = Vec::new();
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("settings/defs.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for name in &names {
                    if line.contains(&format!("\"{name}\"")) {
                        found.push(format!("{}:{}: {name}", path.display(), n + 1));
                    }
                }
            }
        }
        assert!(found.is_empty(), "name these settings through settings::key:\n{}", found.join("\n"));
    }

    #[test]
    fn every_setting_has_a_one_line_doc_and_a_unique_name() {
        let mut seen = std::collections::HashSet::new();
        for def in SETTINGS {
            assert!(!def.doc.is_empty() && !def.doc.contains('\n'), "{}", def.git);
            assert!(seen.insert(def.git.to_ascii_lowercase()), "{} twice", def.git);
        }
        assert!(SETTINGS.iter().find(|d| d.git == key::NAMESPACE).is_some_and(|d| d.protected));
    }
}
