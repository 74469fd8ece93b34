//! Where secrets live: the store trait, the key layout of docs/architecture.md ("Store layout"), and the stored record.
//!
//! A [`SecretStore`] maps a [`StoreKey`] (service + account, as the OS keyrings name them) to
//! a [`StoredSecret`]: the secret with its kind, owner and expiry. Backends: [`KeyringStore`]
//! (the OS keyring), [`GpgStore`] (`pass`-compatible GnuPG files), [`CacheStore`] (git's
//! credential-cache daemon), [`PlaintextStore`] (a 0600 JSON file), [`MemoryStore`] (tests,
//! library users). Backends never print and never decide policy; `auth` decides what to read
//! and write.

mod cache;
mod gpg;
mod keyring;
mod memory;
mod pipe;
#[cfg(all(unix, not(target_os = "macos")))]
mod plain_session;
mod plaintext;

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

pub use self::cache::CacheStore;
pub use self::gpg::GpgStore;
pub use self::keyring::KeyringStore;
pub use self::memory::MemoryStore;
pub use self::plaintext::PlaintextStore;
use crate::host::{Deployment, canonical_host, encode_path, encode_userinfo};
use crate::secret::Secret;
pub use crate::settings::parse_cache_options;
use crate::settings::{ConfigError, StoreConfig};

/// The name of one entry: `service` is the key string of "Store layout" in docs/architecture.md, `account` the username.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StoreKey {
    /// `{namespace}:{scheme}://[user@]host/[path]`.
    pub service: String,
    /// The username, or empty for a host default entry.
    pub account: String,
}

/// What kind of secret a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SecretKind {
    /// An API token, app password, Data Center HTTP access token, or any secret git stored.
    Token,
    /// An OAuth access token from the authorization code grant.
    #[serde(rename = "oauth")]
    OAuth,
    /// An OAuth access token from the client credentials grant.
    #[serde(rename = "clientcredentials")]
    ClientCredentials,
    /// An OAuth refresh token.
    Refresh,
    /// A Data Center project or repository token, usable only as `Authorization: Bearer`.
    Bearer,
    /// An OAuth consumer's secret (`login --setup-oauth`); the account is the consumer key.
    Consumer,
}

impl SecretKind {
    /// The name used in the store and by `list`.
    pub fn name(self) -> &'static str {
        match self {
            SecretKind::Token => "token",
            SecretKind::OAuth => "oauth",
            SecretKind::ClientCredentials => "clientcredentials",
            SecretKind::Refresh => "refresh",
            SecretKind::Bearer => "bearer",
            SecretKind::Consumer => "consumer",
        }
    }
}

/// One stored secret with its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSecret {
    /// What it is.
    pub kind: SecretKind,
    /// Whose it is (the git username to answer).
    pub username: String,
    /// The secret itself.
    pub secret: Secret,
    /// Expiry, Unix seconds (UTC); `None` when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// For OAuth tokens: the deployment that issued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
    /// For OAuth tokens: the client id that obtained it (a refresh must use the same client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Whether a refresh token is stored for this account (saves a look-up on the hot path).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_refresh_token: bool,
}

impl StoredSecret {
    /// A secret of `kind` for `username` with no further metadata.
    pub fn new(kind: SecretKind, username: impl Into<String>, secret: Secret) -> Self {
        StoredSecret {
            kind,
            username: username.into(),
            secret,
            expires_at: None,
            deployment: None,
            client_id: None,
            has_refresh_token: false,
        }
    }

    /// Serialize for a backend that stores strings.
    pub(crate) fn to_json(&self) -> String {
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parse what a backend stored. A value that is not our JSON was written by another tool
    /// under the same key (for example Git Credential Manager): take it as a token of
    /// unknown expiry for the key's account.
    pub(crate) fn from_stored(value: String, account: &str) -> StoredSecret {
        match serde_json::from_str::<StoredSecret>(&value) {
            Ok(record) => record,
            Err(_) => StoredSecret::new(SecretKind::Token, account, Secret::new(value)),
        }
    }
}

/// A store failure, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The OS keyring cannot be used here (no D-Bus session, locked, no Secret Service).
    #[error(
        "the OS keyring is not available ({detail}); choose another store, one of: git config --global credential.credentialStore gpg (GnuPG-encrypted files as pass keeps them; run pass init KEYID first) | git config --global credential.credentialStore cache (in memory until a timeout) | git config --global credential.credentialStore plaintext (a 0600 file)"
    )]
    Unavailable {
        /// What the keyring said (never a secret).
        detail: String,
    },
    /// The plaintext file exists but is not ours to read.
    #[error(
        "the plaintext store {path} is corrupt ({detail}); it was left as it is: repair it or move it away"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// Parser message (never a secret).
        detail: String,
    },
    /// The plaintext file's directory could be changed by another user.
    #[error(
        "refusing to use the plaintext store {path}: {detail}; choose a private directory with credential.plaintextStorePath"
    )]
    Unsafe {
        /// The file.
        path: String,
        /// What is wrong with its directory.
        detail: String,
    },
    /// Reading or writing the plaintext file failed.
    #[error("the plaintext store {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Any other backend failure (never a secret in `detail`).
    #[error("the {store} store failed: {detail}")]
    Backend {
        /// Backend name.
        store: &'static str,
        /// What failed.
        detail: String,
    },
}

/// A place to keep secrets. Implementations must be safe to call from several processes at
/// once for different keys; `auth` serialises writers of one account with a file lock.
pub trait SecretStore {
    /// Read the record at `key`, `None` when there is none.
    fn load(&self, key: &StoreKey) -> Result<Option<StoredSecret>, StoreError>;
    /// Create or replace the record at `key`.
    fn save(&self, key: &StoreKey, value: &StoredSecret) -> Result<(), StoreError>;
    /// Delete the record at `key`; `Ok(false)` when there was none.
    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError>;
    /// Every record whose service starts with `{namespace}:`.
    fn list(&self, namespace: &str) -> Result<Vec<(StoreKey, StoredSecret)>, StoreError>;
    /// Short name for messages and `diagnose`.
    fn name(&self) -> &'static str;
    /// Whether this store promises that nothing it holds ever reaches a disk: then tokens it
    /// refused are not kept aside in a rescue file either.
    fn memory_only(&self) -> bool {
        false
    }
}

impl<T: SecretStore + ?Sized> SecretStore for &T {
    fn load(&self, key: &StoreKey) -> Result<Option<StoredSecret>, StoreError> {
        (**self).load(key)
    }
    fn save(&self, key: &StoreKey, value: &StoredSecret) -> Result<(), StoreError> {
        (**self).save(key, value)
    }
    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        (**self).delete(key)
    }
    fn list(&self, namespace: &str) -> Result<Vec<(StoreKey, StoredSecret)>, StoreError> {
        (**self).list(namespace)
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn memory_only(&self) -> bool {
        (**self).memory_only()
    }
}

/// What `open` builds a store with: the store's own checks of what it needs from the
/// settings (the plaintext file, the password store), then the store, boxed.
type Open = fn(&StoreConfig) -> Result<Box<dyn SecretStore>, ConfigError>;

/// What `diagnose` learns from a store: usable and why (`Ok`), or why not (`Err`). Nothing is
/// written.
type Usable = fn(&StoreConfig) -> Result<String, String>;

/// One store backend: `Backend(names, open, usable)` — the names `credentialStore` takes for
/// it (any case; its own first, then Git Credential Manager's names for the same store), how
/// it is opened, and how `diagnose` checks it (`None`: not listed there).
struct Backend(&'static [&'static str], Open, Option<Usable>);

/// Every store backend, in the order `diagnose` lists them: **a new store is one file in this
/// folder (its `open`, and its `usable` for `diagnose`; declared with `mod` above, and its
/// type `pub use`d when library users may build it) and one line here.**
const BACKENDS: &[Backend] = &[
    Backend(&["keyring", "secretservice", "keychain", "wincredman"], keyring::open, Some(keyring::usable)),
    Backend(&["gpg"], gpg::open, Some(gpg::usable)),
    Backend(&["cache"], cache::open, Some(cache::usable)),
    Backend(&["plaintext"], plaintext::open, Some(plaintext::usable)),
    Backend(&["memory"], memory::open, None),
];

/// The backend `credentialStore` names, or the error listing the names it could be, naming
/// the setting as the person set it. Nothing is opened.
fn backend(config: &StoreConfig) -> Result<&'static Backend, ConfigError> {
    BACKENDS
        .iter()
        .find(|Backend(names, ..)| names.iter().any(|n| n.eq_ignore_ascii_case(&config.name)))
        .ok_or_else(|| config.invalid_name(accepted_names()))
}

/// "keyring, gpg, cache, plaintext or memory": each backend's own name, from [`BACKENDS`]
/// (built once, and only for the error).
fn accepted_names() -> &'static str {
    static NAMES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let names: Vec<&str> = BACKENDS.iter().map(|Backend(names, ..)| names[0]).collect();
        match names.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    });
    NAMES.as_str()
}

/// Refuse a `credentialStore` that names no store, as [`open`] does, without opening one: for
/// a caller that brings its own store (a typo in the settings is still a typo).
pub(crate) fn check_name(config: &StoreConfig) -> Result<(), ConfigError> {
    backend(config).map(|_| ())
}

/// Open the store the settings name: an unknown name, or a store whose place the settings
/// cannot tell (the plaintext file, the password store without HOME), is a [`ConfigError`]
/// before anything is touched. The keyring connects lazily, on first use.
pub(crate) fn open(config: &StoreConfig) -> Result<Box<dyn SecretStore>, ConfigError> {
    (backend(config)?.1)(config)
}

/// Which stores work on this machine, for `diagnose`: each store's name and what was found
/// (`Ok`: usable, and why; `Err`: why not). Nothing is written; the keyring is asked for an
/// entry that does not exist.
pub(crate) fn usable_stores(config: &StoreConfig) -> Vec<(&'static str, Result<String, String>)> {
    BACKENDS.iter().filter_map(|Backend(names, _, usable)| Some((names[0], (*usable)?(config)))).collect()
}

/// Which of an account's keys a [`StoreKey`] is (see [`Account::from_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// [`Account::access_key`] of an account with a username.
    Access,
    /// [`Account::refresh_key`].
    Refresh,
    /// [`Account::host_default_key`].
    HostDefault,
}

/// One account on one host (optionally one repository path): the keys of "Store layout" in docs/architecture.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Key prefix (`git` by default).
    pub namespace: String,
    /// `https` or `http`.
    pub scheme: String,
    /// Canonical host: lower case, default port dropped.
    pub host: String,
    /// Repository path when git sent one (`credential.useHttpPath`).
    pub path: Option<Vec<u8>>,
    /// The username; `None` means "whoever the host default is".
    pub username: Option<String>,
}

impl Account {
    /// Build from git's parts.
    pub fn new(
        namespace: &str,
        scheme: &str,
        host: &str,
        path: Option<&[u8]>,
        username: Option<&str>,
    ) -> Account {
        let scheme = scheme.to_ascii_lowercase();
        Account {
            namespace: namespace.to_owned(),
            host: canonical_host(&scheme, host),
            scheme,
            path: path.filter(|p| !p.is_empty()).map(<[u8]>::to_vec),
            username: username.map(str::to_owned),
        }
    }

    /// The same host and path, for `username`.
    pub fn with_username(&self, username: &str) -> Account {
        Account { username: Some(username.to_owned()), ..self.clone() }
    }

    fn prefix(&self, user: Option<&str>) -> String {
        let user = user.map(|u| format!("{}@", encode_userinfo(u))).unwrap_or_default();
        format!("{}:{}://{}{}/", self.namespace, self.scheme, user, self.host)
    }

    fn path_suffix(&self) -> String {
        self.path.as_deref().map(encode_path).unwrap_or_default()
    }

    /// Where the access token (or API token) lives: the user's key, or the host default when
    /// no username is known.
    pub fn access_key(&self) -> StoreKey {
        StoreKey {
            service: format!("{}{}", self.prefix(self.username.as_deref()), self.path_suffix()),
            account: self.username.clone().unwrap_or_default(),
        }
    }

    /// The host default key `{namespace}:{scheme}://{host}/[path]`.
    pub fn host_default_key(&self) -> StoreKey {
        StoreKey { service: format!("{}{}", self.prefix(None), self.path_suffix()), account: String::new() }
    }

    /// Where the user's refresh token lives (per account, not per path). `None` without a username.
    pub fn refresh_key(&self) -> Option<StoreKey> {
        let user = self.username.as_deref()?;
        Some(StoreKey {
            service: format!("{}refresh_token", self.prefix(Some(user))),
            account: user.to_owned(),
        })
    }

    /// Read a key back: the account it belongs to and which of its keys it is. The exact
    /// inverse of [`access_key`](Self::access_key), [`refresh_key`](Self::refresh_key) and
    /// [`host_default_key`](Self::host_default_key): `None` for any key they do not build
    /// (another namespace's, another tool's). A host default key gives an account without a
    /// username.
    ///
    /// The access key of the repository path `refresh_token` is the same key as the account's
    /// refresh key, so the store cannot hold both; it is read as the refresh key.
    pub(crate) fn from_key(namespace: &str, key: &StoreKey) -> Option<(Account, KeyKind)> {
        let rest = key.service.strip_prefix(namespace)?.strip_prefix(':')?;
        let (scheme, rest) = rest.split_once("://")?;
        let (authority, path) = rest.split_once('/')?;
        let (username, host) = match authority.split_once('@') {
            Some((user, host)) => (Some(percent_decode_str(user).decode_utf8().ok()?.into_owned()), host),
            None => (None, authority),
        };
        let kind = match (&username, path) {
            (None, _) => KeyKind::HostDefault,
            (Some(_), "refresh_token") => KeyKind::Refresh,
            (Some(_), _) => KeyKind::Access,
        };
        let path = (kind != KeyKind::Refresh && !path.is_empty()).then(|| percent_decode_str(path).collect());
        let account = Account {
            namespace: namespace.to_owned(),
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            path,
            username,
        };
        let rebuilt = match kind {
            KeyKind::Access => Some(account.access_key()),
            KeyKind::Refresh => account.refresh_key(),
            KeyKind::HostDefault => Some(account.host_default_key()),
        };
        (rebuilt.as_ref() == Some(key)).then_some((account, kind))
    }

    /// `scheme://host/[path]`, for messages (no username, no secret).
    pub fn url(&self) -> String {
        crate::host::web_url(&self.scheme, &self.host, self.path.as_deref())
    }
}

/// Where the secret of the OAuth consumer `client_id` of the Bitbucket at `site` lives:
/// `{namespace}:oauth-consumer:{origin of site}/`, account = the consumer key.
pub(crate) fn consumer_key(namespace: &str, site: &url::Url, client_id: &str) -> StoreKey {
    consumer_key_at(namespace, &crate::host::origin_of(site), client_id)
}

/// [`consumer_key`] for a server known by its origin (`scheme://host[:port]`): where a Data
/// Center OAuth client's secret lives.
pub(crate) fn consumer_key_at(namespace: &str, origin: &str, client_id: &str) -> StoreKey {
    StoreKey { service: format!("{namespace}:oauth-consumer:{origin}/"), account: client_id.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::RawSettings;

    /// The store settings for `credentialStore=name` with `env` (a home at `/h` unless `env`
    /// says otherwise).
    fn config(name: &str, env: &dyn Fn(&str) -> Option<String>) -> StoreConfig {
        let output = format!("credential.credentialstore\n{name}\0");
        RawSettings::from_git_output(output.as_bytes(), env).validate(None).unwrap().store
    }

    fn home(k: &str) -> Option<String> {
        (k == "HOME").then(|| "/h".to_owned())
    }

    #[test]
    fn every_name_opens_its_backend_in_any_case() {
        let cases = [
            ("keyring", "keyring"),
            ("secretservice", "keyring"),
            ("Keychain", "keyring"),
            ("WINCREDMAN", "keyring"),
            ("gpg", "gpg"),
            ("GPG", "gpg"),
            ("cache", "cache"),
            ("plaintext", "plaintext"),
            ("memory", "memory"),
        ];
        for (name, opened) in cases {
            assert_eq!(open(&config(name, &home)).unwrap().name(), opened, "{name}");
        }
    }

    #[test]
    fn no_name_belongs_to_two_backends_and_each_backend_is_named_after_itself() {
        let mut seen = std::collections::HashSet::new();
        for Backend(names, ..) in BACKENDS {
            for name in *names {
                assert!(seen.insert(name.to_ascii_lowercase()), "{name} twice");
            }
            assert_eq!(open(&config(names[0], &home)).unwrap().name(), names[0]);
        }
    }

    /// The one line an unknown store gets, before anything is opened: the setting as it was
    /// set, and every store's own name.
    #[test]
    fn an_unknown_name_is_refused_naming_the_setting_and_the_stores() {
        for name in ["dpapi", "none", ""] {
            let err = open(&config(name, &home)).err().expect("refused").to_string();
            assert_eq!(
                err,
                "invalid value for credential.credentialStore: expected keyring, gpg, cache, plaintext or memory"
            );
            assert_eq!(check_name(&config(name, &home)), Err(open(&config(name, &home)).err().unwrap()));
        }
        let env = |k: &str| (k == "GIT_BITBUCKET_CREDENTIAL_STORE").then(|| "wallet".to_owned());
        let from_env = RawSettings::from_git_output(b"", &env).validate(None).unwrap().store;
        let err = open(&from_env).err().expect("refused").to_string();
        assert!(
            err.starts_with("invalid value for GIT_BITBUCKET_CREDENTIAL_STORE: expected keyring,"),
            "{err}"
        );
        assert_eq!(check_name(&config("keychain", &home)), Ok(()));
    }

    /// Without HOME the keyring, cache and memory stores open; the stores that need a place
    /// say which setting would give it.
    #[test]
    fn each_store_checks_its_own_place() {
        let no_env = |_: &str| None;
        for name in ["keyring", "cache", "memory"] {
            assert!(open(&config(name, &no_env)).is_ok(), "{name}");
        }
        let err = open(&config("gpg", &no_env)).err().expect("refused").to_string();
        assert_eq!(
            err,
            "invalid value for PASSWORD_STORE_DIR: expected the directory of the password store (HOME is not set either)"
        );
        let err = open(&config("plaintext", &no_env)).err().expect("refused").to_string();
        assert!(err.contains("credential.plaintextStorePath") && err.contains("HOME"), "{err}");
        let dir = |k: &str| (k == "PASSWORD_STORE_DIR").then(|| "/pw".to_owned());
        assert_eq!(open(&config("gpg", &dir)).unwrap().name(), "gpg");
        let file = |k: &str| (k == "GIT_BITBUCKET_PLAINTEXT_STORE").then(|| "/f.json".to_owned());
        assert_eq!(open(&config("plaintext", &file)).unwrap().name(), "plaintext");
        // `diagnose` says the same of them, without the keyring or git being asked here.
        let unknown = config("plaintext", &no_env);
        assert!(plaintext::usable(&unknown).unwrap_err().contains("credential.plaintextStorePath"));
        assert!(gpg::usable(&unknown).unwrap_err().contains("PASSWORD_STORE_DIR"));
        let listed: Vec<&str> = BACKENDS.iter().filter(|b| b.2.is_some()).map(|b| b.0[0]).collect();
        assert_eq!(listed, ["keyring", "gpg", "cache", "plaintext"], "diagnose lists them as before");
    }

    #[test]
    fn keys_follow_the_seed_layout() {
        let a = Account::new("git", "https", "Bitbucket.org:443", None, Some("alice"));
        assert_eq!(
            a.access_key(),
            StoreKey { service: "git:https://alice@bitbucket.org/".into(), account: "alice".into() }
        );
        assert_eq!(a.refresh_key().unwrap().service, "git:https://alice@bitbucket.org/refresh_token");
        assert_eq!(
            a.host_default_key(),
            StoreKey { service: "git:https://bitbucket.org/".into(), account: String::new() }
        );
    }

    #[test]
    fn path_and_port_are_part_of_the_key() {
        let a = Account::new("ns", "http", "127.0.0.1:7990", Some(b"scm/p/r.git"), Some("bob"));
        assert_eq!(a.access_key().service, "ns:http://bob@127.0.0.1:7990/scm/p/r.git");
        assert_eq!(a.host_default_key().service, "ns:http://127.0.0.1:7990/scm/p/r.git");
        assert_eq!(a.refresh_key().unwrap().service, "ns:http://bob@127.0.0.1:7990/refresh_token");
    }

    #[test]
    fn odd_usernames_and_paths_are_encoded() {
        let a = Account::new("git", "https", "h", Some(b"a b\xff"), Some("me@x.com"));
        assert_eq!(a.access_key().service, "git:https://me%40x.com@h/a%20b%FF");
        assert_eq!(a.access_key().account, "me@x.com");
    }

    #[test]
    fn empty_username_is_its_own_account() {
        let a = Account::new("git", "https", "sso.tld", None, Some(""));
        assert_eq!(a.access_key().service, "git:https://@sso.tld/");
        assert_ne!(a.access_key(), a.host_default_key());
    }

    #[test]
    fn every_byte_is_encoded_as_in_the_seed_layout() {
        // The keys in people's keyrings were built with these safe sets: alphanumerics and
        // the listed bytes stay, every other byte is `%XX` in upper-case hex.
        let expected = |b: u8, safe: &[u8]| {
            if b.is_ascii_alphanumeric() || safe.contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        };
        for b in 0..=u8::MAX {
            assert_eq!(encode_path(&[b]), expected(b, b"-._~!$&'()*+,;=:@/"), "path byte {b}");
            if let Ok(text) = std::str::from_utf8(&[b]) {
                assert_eq!(encode_userinfo(text), expected(b, b"-._~!$&'()*+,;="), "username byte {b}");
            }
        }
        assert_eq!(encode_userinfo("é"), "%C3%A9");
    }

    #[test]
    fn every_key_reads_back_as_its_account_and_kind() {
        for a in [
            Account::new("git", "https", "bitbucket.org", None, Some("alice")),
            Account::new("ns", "http", "127.0.0.1:7990", Some(b"scm/p/r.git"), Some("bob")),
            Account::new("git", "https", "h", Some(b"a b\xff@:/%"), Some("me@x.com/é:%")),
            Account::new("a:b", "https", "sso.tld", None, Some("")),
        ] {
            let host_default = Account { username: None, ..a.clone() };
            assert_eq!(Account::from_key(&a.namespace, &a.access_key()), Some((a.clone(), KeyKind::Access)));
            assert_eq!(
                Account::from_key(&a.namespace, &a.host_default_key()),
                Some((host_default, KeyKind::HostDefault))
            );
            let refresh = Account { path: None, ..a.clone() };
            let key = a.refresh_key().unwrap();
            assert_eq!(Account::from_key(&a.namespace, &key), Some((refresh, KeyKind::Refresh)));
        }
    }

    #[test]
    fn keys_this_layout_does_not_build_are_not_read() {
        let key =
            |service: &str, account: &str| StoreKey { service: service.into(), account: account.into() };
        for (service, account) in [
            ("git:https://bitbucket.org", "alice"),
            ("git:https://alice@bitbucket.org/", "bob"),
            ("git:https://bitbucket.org/", "alice"),
            ("git:https://alice@bitbucket.org/a%2fb", "alice"),
            ("git:https://al%FFice@bitbucket.org/", "al\u{fffd}ice"),
            ("other:https://alice@bitbucket.org/", "alice"),
            ("gitx:https://alice@bitbucket.org/", "alice"),
            ("git:alice@bitbucket.org/", "alice"),
        ] {
            assert_eq!(Account::from_key("git", &key(service, account)), None, "{service} {account}");
        }
    }

    proptest::proptest! {
        #[test]
        fn keys_read_back_for_any_username_and_path(
            username in proptest::option::of(".*"),
            path in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24)),
            host in "[a-z0-9.-]{1,12}(:[0-9]{1,5})?",
        ) {
            let a = Account::new("git", "https", &host, path.as_deref(), username.as_deref());
            let access = a.access_key();
            let read = Account::from_key("git", &access);
            if a.username.is_some() && a.path.as_deref() == Some(b"refresh_token") {
                proptest::prop_assert_eq!(read.map(|(_, kind)| kind), Some(KeyKind::Refresh));
            } else if a.username.is_some() {
                proptest::prop_assert_eq!(read, Some((a.clone(), KeyKind::Access)));
            } else {
                proptest::prop_assert_eq!(read, Some((a.clone(), KeyKind::HostDefault)));
            }
            if let Some(key) = a.refresh_key() {
                let refresh = Account { path: None, ..a.clone() };
                proptest::prop_assert_eq!(Account::from_key("git", &key), Some((refresh, KeyKind::Refresh)));
            }
        }
    }

    #[test]
    fn foreign_values_are_read_as_tokens() {
        let r = StoredSecret::from_stored("plain-password".into(), "alice");
        assert_eq!(r.kind, SecretKind::Token);
        assert_eq!(r.username, "alice");
        assert_eq!(r.secret.expose(), "plain-password");
    }

    #[test]
    fn record_json_round_trips() {
        let mut r = StoredSecret::new(SecretKind::OAuth, "alice", Secret::new("tok"));
        r.expires_at = Some(1_900_000_000);
        r.deployment = Some(Deployment::Cloud);
        r.client_id = Some("cid".into());
        assert_eq!(StoredSecret::from_stored(r.to_json(), "x"), r);
    }
}
