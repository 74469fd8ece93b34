//! Settings: git's URL-matched `credential.*` values (read in the process by [`files`], or
//! with one `git config --get-urlmatch` call; see [`git::get_urlmatch`]), then environment
//! variables, which win. Every setting is defined once, in [`defs`].
//!
//! [`RawSettings`] is what was found and where (for `diagnose`); [`Settings`] is the validated
//! form. Validation happens only once a host is known to be ours, so a broken Bitbucket
//! setting never disturbs git's work with other hosts. A wrong value is always an error that
//! names the setting; nothing is silently ignored.
//!
//! This folder also owns every decision taken from the process environment ([`mod@env`]):
//! whether prompting is allowed (`GIT_TERMINAL_PROMPT`), how to open a browser (`BROWSER`, a
//! desktop session, `PATH`), and where the helper's files live ([`Paths`]). It must never
//! import from a layer above it (`net`, `store`, ...): what those need from settings they
//! get as values ([`StoreConfig`], [`Remote`]).

use std::collections::HashMap;
use std::path::PathBuf;

use url::Url;

use crate::host::{Deployment, Provider};
use crate::protocol::git_bool as parse_bool;

mod cache_options;
pub mod defs;
mod env;
mod error;
pub(crate) mod files;
pub(crate) mod git;
mod parse;
pub mod paths;

use crate::secret::Secret;
pub use cache_options::parse_cache_options;
use defs::Parsed;
pub use defs::{BUILTIN_CLOUD_CLIENT, SETTINGS, builtin_consumer_word, key};
pub use env::{process_env, scrub_secret_env};
pub use error::ConfigError;
pub use parse::AuthMode;
use parse::Lookup;
pub use paths::Paths;
pub(crate) use paths::expand_home;

/// Which of git's configuration scopes set a value, as `git config --show-scope` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The system file (`/etc/gitconfig`, `GIT_CONFIG_SYSTEM`).
    System,
    /// The person's files (`~/.gitconfig`, `$XDG_CONFIG_HOME/git/config`, `GIT_CONFIG_GLOBAL`).
    Global,
    /// The command line: `git -c`, `GIT_CONFIG_PARAMETERS`, `GIT_CONFIG_COUNT`.
    Command,
    /// The repository's own `config`.
    Local,
    /// The repository's `config.worktree`.
    Worktree,
    /// A scope git did not name (anything else git may print).
    Unknown,
}

impl Scope {
    /// Whether the scope may set a protected setting (one that decides where tokens go): the
    /// system, global and command-line configuration, which a cloned or planted repository
    /// cannot write; never the repository's own, nor a scope not known.
    pub fn is_protected(self) -> bool {
        matches!(self, Scope::System | Scope::Global | Scope::Command)
    }

    /// git's name for the scope (`--show-scope`).
    pub fn name(self) -> &'static str {
        match self {
            Scope::System => "system",
            Scope::Global => "global",
            Scope::Command => "command",
            Scope::Local => "local",
            Scope::Worktree => "worktree",
            Scope::Unknown => "unknown",
        }
    }

    /// From git's name for it.
    fn parse(name: &str) -> Scope {
        match name {
            "system" => Scope::System,
            "global" => Scope::Global,
            "command" => Scope::Command,
            "local" => Scope::Local,
            "worktree" => Scope::Worktree,
            _ => Scope::Unknown,
        }
    }

    /// The scope of a file the in-process reader read.
    fn of(source: gix_config::Source) -> Scope {
        match source {
            gix_config::Source::System | gix_config::Source::GitInstallation => Scope::System,
            gix_config::Source::User | gix_config::Source::Git => Scope::Global,
            gix_config::Source::Local => Scope::Local,
            gix_config::Source::Worktree => Scope::Worktree,
            gix_config::Source::Cli | gix_config::Source::Env | gix_config::Source::EnvOverride => {
                Scope::Command
            }
            gix_config::Source::Api => Scope::Unknown,
        }
    }

    /// Where such a value lives, for the notice and `diagnose`.
    fn place(self) -> &'static str {
        match self {
            Scope::Local => "this repository's .git/config",
            Scope::Worktree => "this worktree's config.worktree",
            Scope::Unknown => "git configuration of unknown scope",
            Scope::System => "the system git config",
            Scope::Global => "the global git config",
            Scope::Command => "git -c",
        }
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `git config` (URL-matched), in the scope given.
    GitConfig(Scope),
    /// `git config`, under another tool's name for the same setting, in the scope given.
    GitAlias(&'static str, Scope),
    /// The named environment variable.
    Env(&'static str),
    /// The built-in default.
    Default,
    /// Set by a program using the library.
    Program,
}

impl Source {
    /// The setting `git_name` as the person set it, for messages: the environment variable,
    /// the alias, or `credential.<name>`.
    fn setting_name(&self, git_name: &str) -> String {
        match self {
            Source::Env(var) => (*var).to_owned(),
            Source::GitAlias(alias, _) => format!("credential.{alias}"),
            _ => format!("credential.{git_name}"),
        }
    }

    /// Where the value came from, for people (`diagnose`).
    pub fn describe(&self) -> String {
        match self {
            Source::GitConfig(scope) => format!("git config, {}", scope.name()),
            Source::GitAlias(name, scope) => format!("git config credential.{name}, {}", scope.name()),
            Source::Env(var) => format!("environment {var}"),
            Source::Default => "default".to_owned(),
            Source::Program => "program".to_owned(),
        }
    }
}

/// Settings as found, before validation.
#[derive(Debug, Clone, Default)]
pub struct RawSettings {
    values: HashMap<&'static str, (String, Source)>,
    /// The URL the settings were read for; `None` when git config was not read.
    url: Option<String>,
    /// Other `credential.*` keys git reported (lower case), e.g. `helper`, `usehttppath`.
    pub other: HashMap<String, String>,
    /// Protected settings set outside the protected scopes, ignored.
    ignored: Vec<Ignored>,
    process: ProcessSettings,
}

/// A protected setting's value that was ignored: set in the repository's own configuration
/// (or a scope git did not name), where a cloned or planted repository could write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// The setting as it was written, `credential.<name>` (or an alias).
    pub setting: String,
    /// Where it was set.
    pub scope: Scope,
}

impl Ignored {
    /// "credential.x from this repository's .git/config", for `diagnose`.
    pub fn describe(&self) -> String {
        format!("{} from {}", self.setting, self.scope.place())
    }
}

/// What the helper takes from the process environment besides its own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProcessSettings {
    paths: Paths,
    terminal_prompt: bool,
    browser: Browser,
    /// The `pass` password store: `PASSWORD_STORE_DIR`, else `~/.password-store`; `None`
    /// when neither is known.
    password_store: Option<PathBuf>,
    /// `PASSWORD_STORE_SIGNING_KEY`, unset when empty (as `pass` treats it).
    password_store_signing_key: Option<String>,
    gpg_tty_set: bool,
}

impl Default for ProcessSettings {
    fn default() -> Self {
        ProcessSettings::from_env(&|_| None)
    }
}

impl ProcessSettings {
    fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| env(name).filter(|v| !v.is_empty());
        let desktop = if cfg!(any(target_os = "macos", windows)) {
            env("SSH_CONNECTION").is_none()
        } else {
            set("DISPLAY").is_some() || set("WAYLAND_DISPLAY").is_some()
        };
        let paths = Paths::from_env(env);
        let password_store = match (set("PASSWORD_STORE_DIR"), &paths.home) {
            (Some(dir), home) => Some(expand_home(&dir, home.as_deref())),
            (None, Some(home)) => Some(home.join(".password-store")),
            (None, None) => None,
        };
        ProcessSettings {
            gpg_tty_set: env("GPG_TTY").is_some(),
            password_store,
            password_store_signing_key: set("PASSWORD_STORE_SIGNING_KEY"),
            paths,
            // git's own rule: anything but a false value allows prompting.
            terminal_prompt: env("GIT_TERMINAL_PROMPT").is_none_or(|v| parse_bool(&v) != Some(false)),
            browser: Browser { command: set("BROWSER"), desktop, search_path: env("PATH"), wsl: is_wsl(env) },
        }
    }
}

/// WSL sets `WSL_DISTRO_NAME` and `WSL_INTEROP` in every shell; its interop handler is
/// registered even where those were cleared.
fn is_wsl(env: &dyn Fn(&str) -> Option<String>) -> bool {
    ["WSL_DISTRO_NAME", "WSL_INTEROP"].iter().any(|v| env(v).is_some_and(|x| !x.is_empty()))
        || std::path::Path::new("/proc/sys/fs/binfmt_misc/WSLInterop").exists()
}

/// How the sign-in page is opened.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Browser {
    /// `BROWSER`: a `:`-separated list of commands, `%s` standing for the URL.
    pub command: Option<String>,
    /// Whether a desktop session is likely to show a browser the system opener starts.
    pub desktop: bool,
    /// `PATH`, where browser commands are looked up.
    pub search_path: Option<String>,
    /// Running inside WSL: the Windows browser is opened.
    pub wsl: bool,
}

impl RawSettings {
    /// Read what `git config --null --get-urlmatch credential URL` prints (in the process when
    /// possible), with each value's scope, and apply `env` on top. `url` may name the user, as
    /// git matches it. A protected setting set in the repository's own configuration is
    /// ignored, and said once per run on stderr ([`RawSettings::ignored`]).
    pub fn load(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<RawSettings, ConfigError> {
        let matched = crate::settings::git::get_urlmatch_scoped("credential", url)?;
        let mut raw = RawSettings::from_matched(matched, env);
        raw.url = Some(url.to_owned());
        raw.notice_ignored();
        Ok(raw)
    }

    /// Build from the output of `git config --null --get-urlmatch credential URL` and `env`,
    /// every value taken as set in the global configuration (a program's or a test's settings).
    pub fn from_git_output(output: &[u8], env: &dyn Fn(&str) -> Option<String>) -> RawSettings {
        let mut matched = files::UrlMatched::default();
        for entry in output.split(|&b| b == 0).filter(|e| !e.is_empty()) {
            let (key, value) = match entry.iter().position(|&b| b == b'\n') {
                Some(at) => (&entry[..at], Some(entry[at + 1..].to_vec())),
                None => (entry, None),
            };
            let key = String::from_utf8_lossy(key).to_ascii_lowercase();
            let name = key.strip_prefix("credential.").unwrap_or(&key).to_owned();
            matched.best.insert(name, files::Found { value, scope: Scope::Global });
        }
        RawSettings::from_matched(matched, env)
    }

    /// Build from the URL-matched values and their scopes, and `env`. For a protected setting
    /// (`SettingDef::protected`), a value from outside the protected scopes is ignored (kept
    /// in [`RawSettings::ignored`]) and the best value from the protected scopes, if any,
    /// applies instead.
    fn from_matched(matched: files::UrlMatched, env: &dyn Fn(&str) -> Option<String>) -> RawSettings {
        // Built here rather than from `Default`, which would read the process settings once
        // more (a file check for WSL, the lock directory) on every `get`.
        let mut raw = RawSettings {
            values: HashMap::new(),
            url: None,
            other: HashMap::new(),
            ignored: Vec::new(),
            process: ProcessSettings::from_env(env),
        };
        let files::UrlMatched { best: mut from_git, protected } = matched;
        let text = |found: files::Found| match found.value {
            Some(value) => (String::from_utf8_lossy(&value).into_owned(), found.scope),
            None => ("true".to_owned(), found.scope), // `[credential] interactive` alone
        };
        for def in SETTINGS {
            let from_env = def.env.iter().find_map(|var| env(var).map(|v| (v, Source::Env(var))));
            let mut ignored = Vec::new();
            // This setting's value under one of its git names, the protected rule applied.
            let mut take = |name: &'static str, source: &dyn Fn(Scope) -> Source| {
                let lower = name.to_ascii_lowercase();
                let found = from_git.remove(&lower).map(text)?;
                if !def.protected || found.1.is_protected() {
                    return Some((found.0, source(found.1)));
                }
                ignored.push(Ignored { setting: format!("credential.{name}"), scope: found.1 });
                let kept = protected.get(&lower).cloned().map(text)?;
                Some((kept.0, source(kept.1)))
            };
            let ours = take(def.git, &Source::GitConfig);
            let alias =
                def.git_aliases.iter().find_map(|alias| take(alias, &|scope| Source::GitAlias(alias, scope)));
            if from_env.is_none() && ours.is_none() {
                raw.ignored.append(&mut ignored);
            } else if from_env.is_none() {
                // The alias is not read when our own name is set: only our name's refusal counts.
                raw.ignored
                    .extend(ignored.into_iter().filter(|i| i.setting == format!("credential.{}", def.git)));
            }
            if let Some(found) = from_env.or(ours).or(alias) {
                raw.values.insert(def.git, found);
            }
        }
        raw.other = from_git.into_iter().map(|(name, found)| (name, text(found).0)).collect();
        raw
    }

    /// The protected settings the repository's own configuration set, ignored.
    pub fn ignored(&self) -> &[Ignored] {
        &self.ignored
    }

    /// Say on stderr, once per run, which protected settings were ignored and why; nothing
    /// when none was.
    fn notice_ignored(&self) {
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if self.ignored.is_empty() || SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let each: Vec<String> =
            self.ignored.iter().map(|i| format!("{} from {}", i.setting, i.scope.place())).collect();
        eprintln!(
            "git-credential-bitbucket: ignoring {}: settings that decide where tokens go are read only from your global or system git config, git -c, or the environment",
            each.join(", ")
        );
    }

    /// The helper's directories, as the environment places them.
    pub fn paths(&self) -> &Paths {
        &self.process.paths
    }

    /// Set a setting from a program (wins over git config and environment). Returns `false`
    /// for a name that is not a setting.
    pub fn set(&mut self, git_name: &str, value: &str) -> bool {
        match SETTINGS.iter().find(|d| d.git.eq_ignore_ascii_case(git_name)) {
            Some(def) => {
                self.values.insert(def.git, (value.to_owned(), Source::Program));
                true
            }
            None => false,
        }
    }

    /// The value of a setting and its source, defaults included.
    pub fn get(&self, git_name: &str) -> Option<(&str, Source)> {
        if let Some((value, source)) = self.values.get(git_name) {
            return Some((value.as_str(), source.clone()));
        }
        let def = SETTINGS.iter().find(|d| d.git == git_name)?;
        def.default.map(|d| (d, Source::Default))
    }

    /// Name for messages: the variable that supplied the value, or `credential.<name>`.
    fn display_name(&self, git_name: &str) -> String {
        match self.values.get(git_name) {
            Some((_, source)) => source.setting_name(git_name),
            None => format!("credential.{git_name}"),
        }
    }

    /// What `credential.provider` (and `bitbucketDeployment`) say about this URL.
    pub fn provider(&self) -> Result<Provider, ConfigError> {
        match self.value(key::PROVIDER).map(str::to_ascii_lowercase).as_deref() {
            None | Some("auto") | Some("") => Ok(Provider::Auto),
            Some("bitbucket") => {
                let value = self.value(key::DEPLOYMENT).unwrap_or("datacenter");
                let deployment = Deployment::parse(value)
                    .ok_or_else(|| self.invalid(key::DEPLOYMENT, "cloud or datacenter"))?;
                Ok(Provider::Bitbucket(deployment))
            }
            Some(_) => Ok(Provider::Other),
        }
    }

    /// Validate every setting. With `confine_to` (the origin of a host recognised by its
    /// realm only), the Data Center base URL and OAuth client apply only when the base URL is
    /// on that same origin: such a host must not receive what belongs to another instance.
    pub fn validate(&self, confine_to: Option<&str>) -> Result<Settings, ConfigError> {
        let parsed = Parsed::read(self)?;
        let (datacenter_url, datacenter_client) = self.datacenter(parsed.datacenter_url.clone(), confine_to);
        let store = self.store_config(parsed.store_name.clone())?;
        let proxies =
            CredentialProxies { https: parsed.https_proxy.clone(), http: parsed.http_proxy.clone() };
        Ok(Settings {
            auth_modes_source: self.get(key::AUTH_MODES).map_or(Source::Default, |(_, source)| source),
            cloud_client: self.cloud_client(),
            datacenter_client,
            redirect_port: self.redirect_port()?,
            datacenter_url,
            store,
            may_prompt: parsed.interactive && self.process.terminal_prompt,
            browser: self.process.browser.clone(),
            paths: self.process.paths.clone(),
            network: Remote { url: self.url.clone(), proxies },
            values: parsed,
        })
    }

    fn client(&self, id: &str, secret: &str) -> Option<OAuthClient> {
        let (id, source) = self.get(id).filter(|(v, _)| !v.is_empty())?;
        let secret = Secret::new(self.value(secret).unwrap_or_default());
        Some(OAuthClient { id: id.to_owned(), secret, origin: ClientOrigin::Settings(source) })
    }

    /// An OAuth client from the settings; an id without a secret there has its secret in the
    /// credential store, where `login --setup-oauth` put it.
    fn client_or_stored(&self, id: &str, secret: &str) -> Option<OAuthClient> {
        let mut client = self.client(id, secret)?;
        if self.value(secret).is_none() {
            client.origin = match client.origin {
                ClientOrigin::Settings(source) => ClientOrigin::Store(source),
                other => other,
            };
        }
        Some(client)
    }

    /// The Cloud consumer: from the settings (its secret possibly in the credential store),
    /// else the built-in one.
    fn cloud_client(&self) -> Option<OAuthClient> {
        match self.client_or_stored(key::OAUTH_CLIENT_ID, key::OAUTH_CLIENT_SECRET) {
            Some(client) => Some(client),
            None => BUILTIN_CLOUD_CLIENT.map(|(id, secret)| OAuthClient {
                id: id.to_owned(),
                secret: Secret::new(secret),
                origin: ClientOrigin::Builtin,
            }),
        }
    }

    /// `bitbucketOAuthRedirectPort`, else the port of Git Credential Manager's
    /// `cloudOAuthRedirectUri` (which must be `http://localhost:PORT/` or
    /// `http://127.0.0.1:PORT/`), else the default.
    fn redirect_port(&self) -> Result<u16, ConfigError> {
        const PORT: &str = key::OAUTH_REDIRECT_PORT;
        const URI: &str = key::OAUTH_REDIRECT_URI;
        let port_is_set = self.values.contains_key(PORT);
        if let (false, Some(uri)) = (port_is_set, self.value(URI)) {
            return loopback_port(uri).ok_or_else(|| {
                self.invalid(
                    URI,
                    "http://localhost:PORT/ or http://127.0.0.1:PORT/ (the helper listens on loopback)",
                )
            });
        }
        Ok(parse::number(self, PORT, 1..=65_535, "a port number from 1 to 65535")? as u16)
    }

    /// The Data Center base URL and client, confined to `confine_to` when it is given.
    fn datacenter(&self, url: Option<Url>, confine_to: Option<&str>) -> (Option<Url>, Option<OAuthClient>) {
        let client =
            self.client_or_stored(key::DATACENTER_OAUTH_CLIENT_ID, key::DATACENTER_OAUTH_CLIENT_SECRET);
        let foreign = match (confine_to, &url) {
            (Some(origin), Some(url)) => crate::host::origin_of(url) != origin,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !foreign {
            return (url, client);
        }
        if url.is_some() || client.is_some() {
            tracing::debug!(
                "the host was recognised by its realm only: not using the configured Data Center base URL or OAuth client, which belong to another origin"
            );
        }
        (None, None)
    }

    /// The store's name and the places the stores keep their secrets, as found: whether the
    /// name is a store, and whether that store has what it needs, `store::open` decides.
    fn store_config(&self, name: String) -> Result<StoreConfig, ConfigError> {
        let home = self.process.paths.home.as_ref().map(|h| h.display().to_string());
        let cache_options =
            parse_cache_options(self.value(key::CACHE_OPTIONS).unwrap_or_default(), home.as_deref())
                .map_err(|expected| self.invalid(key::CACHE_OPTIONS, expected))?;
        Ok(StoreConfig {
            name,
            name_source: self.get(key::CREDENTIAL_STORE).map_or(Source::Default, |(_, source)| source),
            plaintext_path: self.plaintext_path(),
            cache_options,
            password_store_dir: self.process.password_store.clone(),
            password_store_signing_key: self.process.password_store_signing_key.clone(),
            gpg_tty_set: self.process.gpg_tty_set,
        })
    }

    fn plaintext_path(&self) -> Result<PathBuf, ConfigError> {
        if let Some(path) = self.value(key::PLAINTEXT_STORE_PATH).filter(|v| !v.is_empty()) {
            return Ok(expand_home(path, self.process.paths.home.as_deref()));
        }
        let data = self.process.paths.data.as_ref().ok_or_else(|| {
            self.invalid(key::PLAINTEXT_STORE_PATH, "a file path (neither XDG_DATA_HOME nor HOME is set)")
        })?;
        Ok(data.join("credentials.json"))
    }
}

impl Lookup for RawSettings {
    fn value(&self, git_name: &str) -> Option<&str> {
        self.get(git_name).map(|(v, _)| v)
    }

    fn invalid(&self, git_name: &str, expected: &'static str) -> ConfigError {
        ConfigError::Invalid { name: self.display_name(git_name), expected }
    }
}

/// The port of `http://localhost:PORT/` or `http://127.0.0.1:PORT/` (nothing after the `/`).
fn loopback_port(uri: &str) -> Option<u16> {
    let url = Url::parse(uri).ok()?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1"));
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    let plain = url.username().is_empty() && url.password().is_none();
    (url.scheme() == "http" && loopback && bare && plain).then(|| url.port()).flatten()
}

/// Where secrets are kept, as the settings say: the store chosen and the place of each store
/// (`diagnose` checks them all). The one value `store::open` takes: it looks the name up among
/// its backends, and the chosen backend checks that its place is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `credentialStore` as it was set (any case), unchecked: `store::open` knows the names.
    pub name: String,
    /// Where `name` came from, so that an unknown name is refused naming the setting as the
    /// person set it ([`StoreConfig::invalid_name`]).
    pub name_source: Source,
    /// File of the plaintext store, or why it is unknown (neither `plaintextStorePath` nor
    /// XDG_DATA_HOME nor HOME is set): an error only once the plaintext store is used.
    pub plaintext_path: Result<PathBuf, ConfigError>,
    /// Options for `git credential-cache` (the `cache` store), already checked.
    pub cache_options: Vec<String>,
    /// Root of the `pass` password store (the `gpg` store): `PASSWORD_STORE_DIR`, else
    /// `~/.password-store`; `None` when neither is known.
    pub password_store_dir: Option<PathBuf>,
    /// `PASSWORD_STORE_SIGNING_KEY` (`None` when unset or empty): the fingerprints one of
    /// which must have signed `.gpg-id` (in `.gpg-id.sig`) before the `gpg` store encrypts to
    /// the keys it names, as `pass` requires.
    pub password_store_signing_key: Option<String>,
    /// `GPG_TTY` is set (gpg-agent's pinentry knows the terminal).
    pub gpg_tty_set: bool,
}

impl StoreConfig {
    /// The error for a `name` that is no store: "invalid value for credential.credentialStore
    /// (or the variable that set it): expected `expected`".
    pub fn invalid_name(&self, expected: &'static str) -> ConfigError {
        ConfigError::Invalid { name: self.name_source.setting_name(key::CREDENTIAL_STORE), expected }
    }
}

/// An OAuth consumer (Cloud) or client (Data Center).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// Client id (Cloud calls it the key).
    pub id: String,
    /// Client secret (empty until loaded when it is in the store).
    pub secret: Secret,
    /// Where it came from.
    pub origin: ClientOrigin,
}

/// Where an OAuth client came from (`diagnose` says it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOrigin {
    /// Id and secret from the settings; the id's source.
    Settings(Source),
    /// The id from the settings (its source), the secret from the credential store.
    Store(Source),
    /// Compiled into the binary by a packager.
    Builtin,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Every setting that is one value, typed as its definition in `settings/defs.rs` says
    /// (`auth_modes`, `http_timeout`, `cloud_url`, `namespace`, …): read through `Deref`, as
    /// `settings.http_timeout`. The fields below are made of several settings, or of a setting
    /// and the process.
    pub values: Parsed,
    /// Where `auth_modes` came from: anything but [`Source::Default`] is the person's choice,
    /// and the server is not asked which methods it offers.
    pub auth_modes_source: Source,
    /// Cloud OAuth consumer.
    pub cloud_client: Option<OAuthClient>,
    /// Data Center OAuth client.
    pub datacenter_client: Option<OAuthClient>,
    /// Port of the `http://localhost:PORT/` callback.
    pub redirect_port: u16,
    /// Base URL of a Data Center instance, when configured.
    pub datacenter_url: Option<Url>,
    /// Where secrets are kept: what `store::open` takes.
    pub store: StoreConfig,
    /// Prompting and opening a browser are allowed: `interactive`, and `GIT_TERMINAL_PROMPT`
    /// is not false.
    pub may_prompt: bool,
    /// How to open the sign-in page.
    pub browser: Browser,
    /// Where the helper's own files live.
    pub paths: Paths,
    /// What decides the proxy and TLS trust once a request is about to be made.
    pub network: Remote,
}

impl std::ops::Deref for Settings {
    type Target = Parsed;

    /// The one-value settings, so that `settings.namespace` reads the typed field the
    /// definition made.
    fn deref(&self) -> &Parsed {
        &self.values
    }
}

/// GCM's proxy settings, `credential.httpsProxy` and `credential.httpProxy`, as found by the
/// one `credential` settings call. Secrets, as a proxy URL may hold a password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialProxies {
    /// `credential.httpsProxy`.
    pub https: Option<Secret>,
    /// `credential.httpProxy`.
    pub http: Option<Secret>,
}

/// What the settings call knew about the remote, kept until a request is about to be made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remote {
    /// The URL git asked about, as given to `git config --get-urlmatch`; `None` when git
    /// config is not read at all (then only the environment counts).
    pub url: Option<String>,
    /// GCM's proxy settings.
    pub proxies: CredentialProxies,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn git_output_is_parsed_case_insensitively() {
        let raw = RawSettings::from_git_output(
            b"credential.provider\nbitbucket\0credential.bitbucketdeployment\ncloud\0credential.helper\nx\0credential.interactive\0",
            &no_env,
        );
        assert_eq!(raw.provider().unwrap(), Provider::Bitbucket(Deployment::Cloud));
        assert_eq!(raw.get(key::INTERACTIVE), Some(("true", Source::GitConfig(Scope::Global))));
        assert_eq!(raw.other.get("helper").map(String::as_str), Some("x"));
    }

    #[test]
    fn environment_wins_over_git_config() {
        let env = |k: &str| (k == "GIT_BITBUCKET_OAUTH_PORT").then(|| "4000".to_owned());
        let raw = RawSettings::from_git_output(b"credential.bitbucketoauthredirectport\n5000\0", &env);
        assert_eq!(
            raw.get(key::OAUTH_REDIRECT_PORT),
            Some(("4000", Source::Env("GIT_BITBUCKET_OAUTH_PORT")))
        );
        assert_eq!(raw.validate(None).unwrap().redirect_port, 4000);
    }

    #[test]
    fn defaults_are_the_real_endpoints() {
        let env = |k: &str| (k == "HOME").then(|| "/home/u".to_owned());
        let s = RawSettings::from_git_output(b"", &env).validate(None).unwrap();
        assert_eq!(s.cloud_url.as_str(), "https://bitbucket.org/");
        assert_eq!(s.cloud_api_url.as_str(), "https://api.bitbucket.org/");
        assert_eq!(s.redirect_port, 34106);
        assert_eq!(s.oauth_timeout, Duration::from_secs(300));
        assert_eq!(s.auth_modes, [AuthMode::OAuth, AuthMode::Token]);
        assert_eq!((s.store.name.as_str(), &s.store.name_source), ("keyring", &Source::Default));
        assert_eq!(s.namespace, "git");
        assert!(s.interactive);
        assert_eq!(
            s.store.plaintext_path,
            Ok(PathBuf::from("/home/u/.local/share/git-credential-bitbucket/credentials.json"))
        );
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let cases: &[(&[u8], &str)] = &[
            (b"credential.bitbucketoauthredirectport\nhttp\0", "credential.bitbucketOAuthRedirectPort"),
            (b"credential.bitbucketoauthtimeout\n-1\0", "credential.bitbucketOAuthTimeout"),
            (b"credential.cacheoptions\n--timeout soon\0", "credential.cacheOptions"),
            (b"credential.bitbucketauthmodes\noauth,magic\0", "credential.bitbucketAuthModes"),
            (b"credential.interactive\nperhaps\0", "credential.interactive"),
            (b"credential.bitbucketcloudurl\nnot a url\0", "credential.bitbucketCloudUrl"),
            (b"credential.namespace\na b\0", "credential.namespace"),
        ];
        for (output, name) in cases {
            let raw = RawSettings::from_git_output(output, &no_env);
            let err = raw.validate(None).unwrap_err().to_string();
            assert!(err.contains(name), "{err} should name {name}");
        }
        let env = |k: &str| (k == "GIT_BITBUCKET_INTERACTIVE").then(|| "sometimes".to_owned());
        let err = RawSettings::from_git_output(b"", &env).validate(None).unwrap_err().to_string();
        assert!(err.contains("GIT_BITBUCKET_INTERACTIVE"), "{err}");
    }

    #[test]
    fn interactive_accepts_git_credential_manager_words() {
        for (value, expected) in [("never", false), ("auto", true), ("always", true), ("false", false)] {
            let output = format!("credential.interactive\n{value}\0");
            let raw = RawSettings::from_git_output(output.as_bytes(), &no_env);
            assert_eq!(raw.validate(None).unwrap().interactive, expected, "{value}");
        }
    }

    #[test]
    fn bad_deployment_is_an_error_only_with_provider_bitbucket() {
        let raw = RawSettings::from_git_output(b"credential.bitbucketdeployment\nmoon\0", &no_env);
        assert_eq!(raw.provider().unwrap(), Provider::Auto);
        let raw = RawSettings::from_git_output(
            b"credential.provider\nbitbucket\0credential.bitbucketdeployment\nmoon\0",
            &no_env,
        );
        assert!(raw.provider().unwrap_err().to_string().contains("credential.bitbucketDeployment"));
    }

    #[test]
    fn gpg_and_cache_stores_and_their_places_are_read() {
        let env = |k: &str| match k {
            "HOME" => Some("/h".to_owned()),
            "PASSWORD_STORE_DIR" => Some("~/pw".to_owned()),
            "PASSWORD_STORE_SIGNING_KEY" => Some("AB12 CD34".to_owned()),
            _ => None,
        };
        let output = b"credential.credentialstore\nGPG\0credential.cacheoptions\n--timeout 60 --socket ~/s\0";
        let s = RawSettings::from_git_output(output, &env).validate(None).unwrap();
        assert_eq!(s.store.name, "GPG", "as it was set: store::open knows the names");
        assert_eq!(s.store.password_store_dir, Some(PathBuf::from("/h/pw")));
        assert_eq!(s.store.password_store_signing_key.as_deref(), Some("AB12 CD34"));
        assert_eq!(s.store.cache_options, ["--timeout=60", "--socket=/h/s"]);
        let home = |k: &str| (k == "HOME").then(|| "/h".to_owned());
        let s = RawSettings::from_git_output(b"credential.credentialstore\ncache\0", &home)
            .validate(None)
            .unwrap();
        assert_eq!(
            (s.store.name.as_str(), s.store.password_store_dir),
            ("cache", Some(PathBuf::from("/h/.password-store")))
        );
        assert_eq!(s.store.password_store_signing_key, None);
        assert!(s.store.cache_options.is_empty());
    }

    /// What each store needs is the store's business (`store::open`): without HOME the
    /// settings still validate, and say why the plaintext file and the password store are
    /// unknown.
    #[test]
    fn store_places_unknown_without_home_are_left_to_the_store() {
        let s = RawSettings::from_git_output(b"credential.credentialstore\nplaintext\0", &no_env)
            .validate(None)
            .unwrap();
        assert_eq!(s.store.password_store_dir, None);
        let err = s.store.plaintext_path.unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid value for credential.plaintextStorePath: expected a file path (neither XDG_DATA_HOME nor HOME is set)"
        );
    }

    /// An unknown store name is refused by `store::open`, naming the setting as it was set.
    #[test]
    fn the_store_name_is_refused_as_it_was_set() {
        let from_git = RawSettings::from_git_output(b"credential.credentialstore\ndpapi\0", &no_env);
        let store = from_git.validate(None).unwrap().store;
        assert_eq!(
            store.invalid_name("keyring or gpg").to_string(),
            "invalid value for credential.credentialStore: expected keyring or gpg"
        );
        let env = |k: &str| (k == "GIT_BITBUCKET_CREDENTIAL_STORE").then(|| "dpapi".to_owned());
        let store = RawSettings::from_git_output(b"", &env).validate(None).unwrap().store;
        assert_eq!(store.name_source, Source::Env("GIT_BITBUCKET_CREDENTIAL_STORE"));
        assert!(
            store
                .invalid_name("x")
                .to_string()
                .starts_with("invalid value for GIT_BITBUCKET_CREDENTIAL_STORE:")
        );
    }

    #[test]
    fn seed_environment_names_configure_the_cloud_consumer() {
        let env = |k: &str| match k {
            "bitbucketKey" => Some("key".to_owned()),
            "bitbucketSecret" => Some("shh".to_owned()),
            "HOME" => Some("/h".to_owned()),
            _ => None,
        };
        let s = RawSettings::from_git_output(b"", &env).validate(None).unwrap();
        let client = s.cloud_client.unwrap();
        assert_eq!(client.id, "key");
        assert_eq!(client.secret.expose(), "shh");
    }
    fn with_home(extra: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| match k {
            "HOME" => Some("/h".to_owned()),
            _ => extra.iter().find(|(name, _)| *name == k).map(|(_, v)| (*v).to_owned()),
        }
    }

    #[test]
    fn git_credential_manager_git_names_configure_the_cloud_consumer_and_port() {
        let output = b"credential.cloudoauthclientid\ngcm-key\0credential.cloudoauthclientsecret\ngcm-shh\0credential.cloudoauthredirecturi\nhttp://127.0.0.1:4242/\0";
        let raw = RawSettings::from_git_output(output, &with_home(&[]));
        let alias = SETTINGS.iter().find(|d| d.git == key::OAUTH_CLIENT_ID).unwrap().git_aliases[0];
        assert_eq!(raw.get(key::OAUTH_CLIENT_ID), Some(("gcm-key", Source::GitAlias(alias, Scope::Global))));
        let s = raw.validate(None).unwrap();
        let client = s.cloud_client.unwrap();
        assert_eq!((client.id.as_str(), client.secret.expose()), ("gcm-key", "gcm-shh"));
        assert_eq!(s.redirect_port, 4242);
    }

    #[test]
    fn git_credential_manager_environment_names_configure_the_cloud_consumer_and_port() {
        let env = with_home(&[
            ("GCM_BITBUCKET_CLOUD_CLIENTID", "env-key"),
            ("GCM_BITBUCKET_CLOUD_CLIENTSECRET", "env-shh"),
            ("GCM_BITBUCKET_CLOUD_OAUTH_REDIRECTURI", "http://localhost:5151/"),
        ]);
        let s = RawSettings::from_git_output(b"", &env).validate(None).unwrap();
        let client = s.cloud_client.unwrap();
        assert_eq!((client.id.as_str(), client.secret.expose()), ("env-key", "env-shh"));
        assert_eq!(s.redirect_port, 5151);
    }

    #[test]
    fn our_names_win_over_git_credential_managers() {
        let output = b"credential.cloudoauthclientid\ngcm-key\0credential.bitbucketoauthclientid\nour-key\0credential.cloudoauthredirecturi\nhttp://localhost:4242/\0credential.bitbucketoauthredirectport\n4343\0";
        let env = with_home(&[
            ("GCM_BITBUCKET_CLOUD_CLIENTSECRET", "gcm-shh"),
            ("BITBUCKET_OAUTH_CLIENT_SECRET", "our-shh"),
        ]);
        let s = RawSettings::from_git_output(output, &env).validate(None).unwrap();
        let client = s.cloud_client.unwrap();
        assert_eq!((client.id.as_str(), client.secret.expose()), ("our-key", "our-shh"));
        assert_eq!(s.redirect_port, 4343);
    }

    #[test]
    fn a_redirect_uri_that_is_not_loopback_is_an_error_naming_it() {
        for uri in [
            "https://localhost:4242/",
            "http://example.com:4242/",
            "http://localhost/",
            "http://localhost:4242/cb",
        ] {
            let output = format!("credential.cloudoauthredirecturi\n{uri}\0");
            let err =
                RawSettings::from_git_output(output.as_bytes(), &with_home(&[])).validate(None).unwrap_err();
            assert!(err.to_string().contains("credential.cloudOAuthRedirectUri"), "{uri}: {err}");
        }
        let env = with_home(&[("GCM_BITBUCKET_CLOUD_OAUTH_REDIRECTURI", "http://evil.example/")]);
        let err = RawSettings::from_git_output(b"", &env).validate(None).unwrap_err();
        assert!(err.to_string().contains("GCM_BITBUCKET_CLOUD_OAUTH_REDIRECTURI"), "{err}");
    }

    #[test]
    fn gcm_interactive_is_read_with_its_own_words_and_ours_wins() {
        for (value, expected) in
            [("never", false), ("auto", true), ("always", true), ("false", false), ("true", true)]
        {
            let env = move |k: &str| match k {
                "GCM_INTERACTIVE" => Some(value.to_owned()),
                "HOME" => Some("/h".to_owned()),
                _ => None,
            };
            assert_eq!(
                RawSettings::from_git_output(b"", &env).validate(None).unwrap().interactive,
                expected,
                "{value}"
            );
        }
        let env = with_home(&[("GCM_INTERACTIVE", "never"), ("GIT_BITBUCKET_INTERACTIVE", "true")]);
        assert!(RawSettings::from_git_output(b"", &env).validate(None).unwrap().interactive);
    }

    #[test]
    fn a_configured_key_without_a_secret_takes_the_secret_from_the_store() {
        let raw = RawSettings::from_git_output(b"credential.bitbucketoauthclientid\nkey\0", &with_home(&[]));
        let client = raw.validate(None).unwrap().cloud_client.unwrap();
        assert_eq!(client.origin, ClientOrigin::Store(Source::GitConfig(Scope::Global)));
        let output = b"credential.bitbucketoauthclientid\nkey\0credential.bitbucketoauthclientsecret\ns\0";
        let client =
            RawSettings::from_git_output(output, &with_home(&[])).validate(None).unwrap().cloud_client;
        assert_eq!(client.unwrap().origin, ClientOrigin::Settings(Source::GitConfig(Scope::Global)));

        // The same for a Data Center application link's client id.
        let raw = RawSettings::from_git_output(
            b"credential.bitbucketdatacenteroauthclientid\ndc-id\0",
            &with_home(&[]),
        );
        let client = raw.validate(None).unwrap().datacenter_client.unwrap();
        assert_eq!(
            (client.id.as_str(), client.origin),
            ("dc-id", ClientOrigin::Store(Source::GitConfig(Scope::Global)))
        );
        let output = b"credential.bitbucketdatacenteroauthclientid\ndc-id\0credential.bitbucketdatacenteroauthclientsecret\ns\0";
        let client =
            RawSettings::from_git_output(output, &with_home(&[])).validate(None).unwrap().datacenter_client;
        assert_eq!(client.unwrap().origin, ClientOrigin::Settings(Source::GitConfig(Scope::Global)));
    }

    #[test]
    fn without_settings_the_cloud_consumer_is_the_built_in_one_if_any() {
        let client = RawSettings::from_git_output(b"", &with_home(&[])).validate(None).unwrap().cloud_client;
        match BUILTIN_CLOUD_CLIENT {
            Some((id, _)) => {
                assert_eq!(client.map(|c| (c.id, c.origin)), Some((id.to_owned(), ClientOrigin::Builtin)))
            }
            None => assert_eq!(client, None),
        }
    }

    #[test]
    fn each_git_credential_manager_environment_name_sets_its_setting() {
        let cases: &[(&str, &str, &str)] = &[
            ("GCM_BITBUCKET_AUTHMODES", "basic", key::AUTH_MODES),
            ("GCM_BITBUCKET_CLOUD_CLIENTID", "k", key::OAUTH_CLIENT_ID),
            ("GCM_BITBUCKET_CLOUD_CLIENTSECRET", "s", key::OAUTH_CLIENT_SECRET),
            ("GCM_BITBUCKET_CLOUD_OAUTH_REDIRECTURI", "http://localhost:1/", key::OAUTH_REDIRECT_URI),
            ("GCM_BITBUCKET_DATACENTER_CLIENTID", "k", key::DATACENTER_OAUTH_CLIENT_ID),
            ("GCM_BITBUCKET_DATACENTER_CLIENTSECRET", "s", key::DATACENTER_OAUTH_CLIENT_SECRET),
            ("GCM_BITBUCKET_ALWAYS_REFRESH_CREDENTIALS", "true", key::ALWAYS_REFRESH),
            ("GCM_BITBUCKET_VALIDATE_STORED_CREDENTIALS", "true", key::VALIDATE_STORED),
            ("GCM_CREDENTIAL_CACHE_OPTIONS", "--timeout 60", key::CACHE_OPTIONS),
            ("GCM_NAMESPACE", "gcm", key::NAMESPACE),
            ("GCM_INTERACTIVE", "never", key::INTERACTIVE),
        ];
        for (var, value, setting) in cases {
            let env = |k: &str| (k == *var).then(|| (*value).to_owned());
            let raw = RawSettings::from_git_output(b"", &env);
            assert_eq!(raw.get(setting), Some((*value, Source::Env(var))), "{var}");
        }
        let env = |k: &str| match k {
            "GCM_BITBUCKET_AUTHMODES" => Some("basic".to_owned()),
            "GCM_BITBUCKET_DATACENTER_CLIENTID" => Some("dc".to_owned()),
            "GCM_BITBUCKET_ALWAYS_REFRESH_CREDENTIALS" => Some("true".to_owned()),
            "HOME" => Some("/h".to_owned()),
            _ => None,
        };
        let s = RawSettings::from_git_output(b"", &env).validate(None).unwrap();
        assert_eq!(s.auth_modes, [AuthMode::Token]);
        assert!(s.always_refresh);
        assert_eq!(s.datacenter_client.map(|c| c.id).as_deref(), Some("dc"));
    }

    fn matched(entries: &[(&str, &str, Scope)], protected: &[(&str, &str, Scope)]) -> files::UrlMatched {
        let map = |list: &[(&str, &str, Scope)]| {
            list.iter()
                .map(|(name, value, scope)| {
                    (
                        (*name).to_owned(),
                        files::Found { value: Some(value.as_bytes().to_vec()), scope: *scope },
                    )
                })
                .collect()
        };
        files::UrlMatched { best: map(entries), protected: map(protected) }
    }

    /// Every protected setting from the repository's own configuration (local, worktree, or a
    /// scope not named) is ignored and named; the protected scopes' value applies instead.
    #[test]
    fn a_protected_setting_from_the_repository_is_ignored_for_the_protected_scopes_value() {
        for def in SETTINGS.iter().filter(|d| d.protected) {
            let name = def.git.to_ascii_lowercase();
            for scope in [Scope::Local, Scope::Worktree, Scope::Unknown] {
                let raw = RawSettings::from_matched(matched(&[(&name, "planted", scope)], &[]), &no_env);
                assert_eq!(raw.get(def.git).map(|(v, _)| v), def.default, "{} {scope:?}", def.git);
                assert_eq!(
                    raw.ignored(),
                    [Ignored { setting: format!("credential.{}", def.git), scope }],
                    "{}",
                    def.git
                );
                let raw = RawSettings::from_matched(
                    matched(&[(&name, "planted", scope)], &[(&name, "mine", Scope::Global)]),
                    &no_env,
                );
                assert_eq!(raw.get(def.git), Some(("mine", Source::GitConfig(Scope::Global))), "{}", def.git);
            }
            for scope in [Scope::System, Scope::Global, Scope::Command] {
                let raw = RawSettings::from_matched(matched(&[(&name, "mine", scope)], &[]), &no_env);
                assert_eq!(raw.get(def.git), Some(("mine", Source::GitConfig(scope))), "{}", def.git);
                assert!(raw.ignored().is_empty());
            }
            if let Some(var) = def.env.first() {
                let env = |k: &str| (k == *var).then(|| "from-env".to_owned());
                let raw = RawSettings::from_matched(matched(&[(&name, "planted", Scope::Local)], &[]), &env);
                assert_eq!(raw.get(def.git), Some(("from-env", Source::Env(var))));
                assert!(raw.ignored().is_empty(), "the environment wins: the planted value changes nothing");
            }
        }
    }

    #[test]
    fn other_settings_and_keys_are_read_from_the_repository_as_git_reads_them() {
        let raw = RawSettings::from_matched(
            matched(&[("bitbucketoauthtimeout", "60", Scope::Local), ("helper", "x", Scope::Local)], &[]),
            &no_env,
        );
        assert_eq!(raw.get(key::OAUTH_TIMEOUT), Some(("60", Source::GitConfig(Scope::Local))));
        assert_eq!(raw.other.get("helper").map(String::as_str), Some("x"));
        assert!(raw.ignored().is_empty());
    }

    #[test]
    fn a_protected_alias_from_the_repository_is_ignored_too() {
        let raw = RawSettings::from_matched(
            matched(&[("cloudoauthclientid", "planted", Scope::Local)], &[]),
            &no_env,
        );
        assert_eq!(raw.get(key::OAUTH_CLIENT_ID), None);
        assert_eq!(raw.ignored().len(), 1);
        assert!(
            raw.ignored()[0].describe().starts_with("credential.cloudOAuthClientId from this repository's")
        );
    }

    #[test]
    fn scopes_are_read_as_git_names_them() {
        for scope in
            [Scope::System, Scope::Global, Scope::Command, Scope::Local, Scope::Worktree, Scope::Unknown]
        {
            assert_eq!(Scope::parse(scope.name()), scope);
        }
        assert_eq!(Scope::parse("submodule"), Scope::Unknown);
    }

    #[test]
    fn http_cloud_urls_only_to_loopback() {
        for url in ["http://127.0.0.1:8080", "http://127.1.2.3/", "http://localhost:1", "http://[::1]:9"] {
            for name in ["bitbucketcloudurl", "bitbucketcloudapiurl"] {
                let output = format!("credential.{name}\n{url}\0");
                assert!(
                    RawSettings::from_git_output(output.as_bytes(), &with_home(&[])).validate(None).is_ok(),
                    "{url}"
                );
            }
        }
        for url in ["http://bitbucket.org", "http://10.0.0.1", "http://localhost.example.com"] {
            let output = format!("credential.bitbucketcloudapiurl\n{url}\0");
            let err =
                RawSettings::from_git_output(output.as_bytes(), &with_home(&[])).validate(None).unwrap_err();
            assert!(
                err.to_string().contains("credential.bitbucketCloudApiUrl: expected an https URL"),
                "{err}"
            );
        }
    }
}
