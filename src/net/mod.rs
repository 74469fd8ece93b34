//! How the helper reaches a server: the proxy and the TLS trust git itself would use for the
//! same URL, decided from git's `http.*` settings, GCM's `credential.httpProxy` /
//! `credential.httpsProxy` and curl's environment variables.
//!
//! Everything here is plain data and pure functions over it, except [`HttpSettings::load`],
//! the one extra `git config --get-urlmatch http URL` call, made only when the helper is about
//! to send a request (never on the hot path). Nothing here prints; a proxy URL is shown only
//! through [`redact_proxy`], which drops its user and password: a proxy password must never
//! reach stderr, a trace, `diagnose` or an error message.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use url::Url;

pub mod http;
mod tls;

use crate::settings::ConfigError;
use crate::settings::paths::expand_home;
pub use crate::settings::{CredentialProxies, Remote};

/// Where a network setting's value came from, named the way the person would set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A git config key (URL-matched), e.g. `http.proxy`.
    GitConfig(&'static str),
    /// An environment variable.
    Env(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::GitConfig(name) => write!(f, "git config {name}"),
            Origin::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// A network setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A value that does not parse.
    #[error("invalid value for {name}: expected {expected}")]
    Invalid {
        /// The setting or variable.
        name: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// A setting git would honour but this helper cannot; using it would make the helper's
    /// requests differ from git's.
    #[error(
        "{name} is set, but {what} is not supported by git-credential-bitbucket; remove it for this URL (git would use it, so the helper will not reach the server without it)"
    )]
    Unsupported {
        /// The setting or variable.
        name: String,
        /// The feature it asks for.
        what: &'static str,
    },
    /// A TLS backend that curl has only on another operating system (`schannel` on Windows,
    /// `secure-transport` on Apple's): git here refuses it too, so the value is a mistake.
    #[error(
        "http.sslBackend is {name}, {platform}'s own TLS backend, which neither git nor this helper has here; remove it, or set it only in a {platform} machine's git config"
    )]
    BackendElsewhere {
        /// The backend as written.
        name: String,
        /// The operating system that has it.
        platform: &'static str,
    },
    /// A CA file or directory that cannot be read or holds no certificate.
    #[error("cannot use {path} ({origin}) as trusted certificates: {reason}")]
    Trust {
        /// The file or directory.
        path: String,
        /// Where it was named.
        origin: Origin,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built from these settings.
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    /// `git config` could not be read.
    #[error(transparent)]
    Git(#[from] ConfigError),
}

/// The URL-matched `http.*` values git would use for one URL (keys lower case, without
/// `http.`), from one `git config --null --get-urlmatch http URL`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpSettings {
    values: HashMap<String, String>,
}

impl HttpSettings {
    /// Run `git config --null --get-urlmatch http URL`.
    pub fn load(url: &str) -> Result<HttpSettings, ConfigError> {
        let output = crate::settings::git::get_urlmatch("http", url)?;
        Ok(HttpSettings::from_git_output(&output))
    }

    /// Parse the output of `git config --null --get-urlmatch http URL`.
    pub fn from_git_output(output: &[u8]) -> HttpSettings {
        let mut values = HashMap::new();
        for entry in output.split(|&b| b == 0).filter(|e| !e.is_empty()) {
            let entry = String::from_utf8_lossy(entry);
            let (key, value) = match entry.split_once('\n') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (entry.into_owned(), "true".to_owned()),
            };
            let key = key.to_ascii_lowercase();
            let name = key.strip_prefix("http.").unwrap_or(&key).to_owned();
            values.insert(name, value);
        }
        HttpSettings { values }
    }

    /// A value by its lower-case name without `http.`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// Read the `http.*` settings for `remote` (the second `git config` call, made only here)
/// and decide its [`Network`].
pub fn load(remote: &Remote, env: &dyn Fn(&str) -> Option<String>) -> Result<Network, NetError> {
    let http = match &remote.url {
        Some(url) => HttpSettings::load(url)?,
        None => HttpSettings::default(),
    };
    let target = remote
        .url
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .unwrap_or_else(|| Url::parse("https://bitbucket.org/").expect("a constant URL"));
    decide(&target, &remote.proxies, &http, env)
}

/// The proxy chosen for a URL, with the setting it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyChoice {
    /// The proxy, user and password included (never print it: see [`ProxyChoice::redacted`]).
    pub url: Url,
    /// The setting it came from.
    pub origin: Origin,
}

impl ProxyChoice {
    /// The proxy without user or password.
    pub fn redacted(&self) -> String {
        redact_proxy(&self.url)
    }
}

impl fmt::Debug for ProxyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyChoice({} from {})", self.redacted(), self.origin)
    }
}

/// A proxy URL for people: scheme, host and port, never the user or password.
pub fn redact_proxy(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// Whether TLS certificates are checked, and against what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The operating system's trust store.
    System,
    /// Only the certificates in these files (`http.sslCAInfo`) and directories
    /// (`http.sslCAPath`): with curl, naming them replaces the default bundle.
    Only {
        /// `http.sslCAInfo` / `GIT_SSL_CAINFO`.
        ca_info: Option<(PathBuf, Origin)>,
        /// `http.sslCAPath` / `GIT_SSL_CAPATH`.
        ca_path: Option<(PathBuf, Origin)>,
    },
    /// No certificate check at all (`http.sslVerify=false` / `GIT_SSL_NO_VERIFY`).
    Off(Origin),
}

/// How an `https://` proxy's own certificate is checked. Never by `http.sslVerify`,
/// `http.sslCAInfo` or `http.sslCAPath` (nor their variables): git gives those to curl for
/// the server only (`CURLOPT_SSL_VERIFYPEER`, `CURLOPT_CAINFO`, `CURLOPT_CAPATH`), and the
/// proxy keeps curl's defaults: verified, against the system store, or against
/// `http.proxySSLCAInfo` (`CURLOPT_PROXY_CAINFO`) when set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyTrust {
    /// The operating system's trust store.
    System,
    /// Only the certificates in this file (`http.proxySSLCAInfo` / `GIT_PROXY_SSL_CAINFO`).
    Only(PathBuf, Origin),
}

/// How the helper's requests for one remote URL travel: the proxy (subject to `NO_PROXY`
/// per request host) and the TLS trust, the server's and an `https://` proxy's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The proxy in force, if any.
    pub proxy: Option<ProxyChoice>,
    /// What turned the proxy off explicitly (an empty `http.proxy`), for `diagnose`.
    pub proxy_off: Option<Origin>,
    /// The `NO_PROXY` list and where it came from.
    pub no_proxy: Option<(String, Origin)>,
    /// TLS trust for the servers.
    pub trust: Trust,
    /// TLS trust for an `https://` proxy's certificate ([`ProxyTrust::System`] when the proxy
    /// is `http://` or there is none).
    pub proxy_trust: ProxyTrust,
    /// The remote these were decided for, without user, query or fragment (for messages).
    pub remote: String,
}

impl Network {
    /// No proxy and the system trust store: what a client without any setting does.
    #[cfg(test)]
    pub fn direct() -> Network {
        Network {
            proxy: None,
            proxy_off: None,
            no_proxy: None,
            trust: Trust::System,
            proxy_trust: ProxyTrust::System,
            remote: String::new(),
        }
    }

    /// The proxy for one request, `NO_PROXY` applied to its host and port.
    pub fn proxy_for(&self, target: &Url) -> Option<&ProxyChoice> {
        let proxy = self.proxy.as_ref()?;
        let host = target.host_str()?;
        match &self.no_proxy {
            Some((list, _)) if no_proxy_matches(list, host) => None,
            _ => Some(proxy),
        }
    }

    /// Lines for `diagnose`: the proxy and TLS trust in force for `target`, and where each
    /// came from. Never a proxy password.
    pub fn describe(&self, target: &Url) -> Vec<String> {
        let mut lines = Vec::new();
        let host = target.host_str().unwrap_or_default();
        match (&self.proxy, self.proxy_for(target), &self.no_proxy) {
            (Some(_), None, Some((_, origin))) => {
                lines.push(format!("proxy: none for {host} (excluded by {origin})"));
            }
            (_, Some(proxy), _) => {
                lines.push(format!("proxy: {} for {host} (from {})", proxy.redacted(), proxy.origin));
            }
            _ => match &self.proxy_off {
                Some(origin) => {
                    lines.push(format!("proxy: none for {host} (turned off by an empty {origin})"))
                }
                None => lines.push(format!("proxy: none for {host} (no proxy setting)")),
            },
        }
        match &self.trust {
            Trust::System => {
                lines.push("tls: certificates checked against the system trust store".to_owned())
            }
            Trust::Only { ca_info, ca_path } => {
                for (path, origin) in ca_info.iter().chain(ca_path) {
                    lines.push(format!(
                        "tls: certificates checked against {} only (from {origin})",
                        path.display()
                    ));
                }
            }
            Trust::Off(origin) => {
                lines.push(format!("tls: WARNING certificate verification is OFF for {host} (from {origin})"))
            }
        }
        if let Some(proxy) = self.proxy_for(target).filter(|p| p.url.scheme() == "https") {
            let against = match &self.proxy_trust {
                ProxyTrust::System => "the system trust store".to_owned(),
                ProxyTrust::Only(path, origin) => format!("{} only (from {origin})", path.display()),
            };
            lines.push(format!(
                "tls: the proxy {}'s certificate checked against {against}; http.sslVerify, http.sslCAInfo and http.sslCAPath apply to the server only",
                proxy.redacted()
            ));
        }
        lines
    }

    /// The warning every run with verification off must show.
    pub fn warning(&self) -> Option<String> {
        let Trust::Off(origin) = &self.trust else { return None };
        Some(format!(
            "warning: TLS certificate verification is off for {} ({origin}): anyone on the network path can read and change this helper's requests, tokens included",
            self.remote
        ))
    }
}

/// Decide the proxy and TLS trust git would use for `target` (the remote URL git asked
/// about), from GCM's `credential.*` proxies, the URL-matched `http.*` values and `env`.
///
/// Proxy precedence: `credential.httpsProxy` (https targets) or `credential.httpProxy`, then
/// `http.proxy` (empty: no proxy), then the environment as git and curl read it:
/// `https_proxy`/`HTTPS_PROXY` for https targets and `http_proxy` only (lower case) for http
/// ones, then `all_proxy`/`ALL_PROXY`; lower case wins, and a variable set to the empty
/// string turns the proxy off as in git. `no_proxy`/`NO_PROXY` then applies to every proxy.
pub fn decide(
    target: &Url,
    credential: &CredentialProxies,
    http: &HttpSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Network, NetError> {
    let (proxy, proxy_off) = match proxy_setting(target.scheme(), credential, http, env) {
        Some((value, origin)) if value.is_empty() => (None, Some(origin)),
        Some((value, origin)) => (Some(parse_proxy(&value, origin)?), None),
        None => (None, None),
    };
    let no_proxy =
        ["no_proxy", "NO_PROXY"].into_iter().find_map(|var| env(var).map(|list| (list, Origin::Env(var))));
    let mut proxy_trust = ProxyTrust::System;
    if let Some(proxy) = &proxy {
        check_proxy_auth_method(http, env)?;
        if proxy.url.scheme() == "https" {
            proxy_trust = https_proxy_trust(http, env)?;
        }
    }
    let trust = trust(http, env)?;
    Ok(Network { proxy, proxy_off, no_proxy, trust, proxy_trust, remote: crate::host::redacted(target) })
}

/// The trust for an `https://` proxy's certificate, as git sets it up for curl: git passes
/// `http.proxySSLCert`/`proxySSLKey` (client certificates, refused here as `http.sslCert`
/// is) and `http.proxySSLCAInfo` only for an https proxy; the variables win over the
/// settings. `http.proxySSLCAInfo` is read with `git_config_string`, not
/// `git_config_pathname`, so a `~` in it is not expanded, here as in git. With
/// `http.sslBackend=schannel` git drops the proxy's CA file too, unless
/// `http.schannelUseSSLCAInfo` is true. An empty value counts as unset, as for `sslCAInfo`.
fn https_proxy_trust(
    http: &HttpSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ProxyTrust, NetError> {
    for (key, name, var) in [
        ("proxysslcert", "http.proxySSLCert", "GIT_PROXY_SSL_CERT"),
        ("proxysslkey", "http.proxySSLKey", "GIT_PROXY_SSL_KEY"),
    ] {
        if env(var).is_some_and(|v| !v.is_empty()) {
            return Err(unsupported(var, "a TLS client certificate for an https proxy"));
        }
        if http.get(key).is_some_and(|v| !v.is_empty()) {
            return Err(unsupported(name, "a TLS client certificate for an https proxy"));
        }
    }
    let ca_info = env("GIT_PROXY_SSL_CAINFO")
        .map(|v| (v, Origin::Env("GIT_PROXY_SSL_CAINFO")))
        .or_else(|| {
            http.get("proxysslcainfo").map(|v| (v.to_owned(), Origin::GitConfig("http.proxySSLCAInfo")))
        })
        .filter(|(v, _)| !v.is_empty());
    let schannel = http.get("sslbackend").is_some_and(|b| b.eq_ignore_ascii_case("schannel"));
    let use_ca_info = http.get("schannelusesslcainfo").and_then(git_bool).unwrap_or(false);
    match ca_info {
        Some(_) if schannel && !use_ca_info => Ok(ProxyTrust::System),
        Some((path, origin)) => Ok(ProxyTrust::Only(PathBuf::from(path), origin)),
        None => Ok(ProxyTrust::System),
    }
}

fn proxy_setting(
    scheme: &str,
    credential: &CredentialProxies,
    http: &HttpSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, Origin)> {
    let https = scheme.eq_ignore_ascii_case("https");
    if https && let Some(value) = &credential.https {
        return Some((value.expose().to_owned(), Origin::GitConfig("credential.httpsProxy")));
    }
    if let Some(value) = &credential.http {
        return Some((value.expose().to_owned(), Origin::GitConfig("credential.httpProxy")));
    }
    if let Some(value) = http.get("proxy") {
        return Some((value.to_owned(), Origin::GitConfig("http.proxy")));
    }
    // curl never reads HTTP_PROXY (upper case): a CGI program gets it from a request header.
    let scheme_vars: &[&'static str] = if https { &["https_proxy", "HTTPS_PROXY"] } else { &["http_proxy"] };
    scheme_vars
        .iter()
        .chain(&["all_proxy", "ALL_PROXY"])
        .find_map(|var| env(var).map(|value| (value, Origin::Env(var))))
}

fn origin_name(origin: &Origin) -> String {
    match origin {
        Origin::GitConfig(name) | Origin::Env(name) => (*name).to_owned(),
    }
}

fn unsupported(name: &str, what: &'static str) -> NetError {
    NetError::Unsupported { name: name.to_owned(), what }
}

/// Parse a proxy the way git does: `[scheme://][user[:password]@]host[:port]`, `http` when no
/// scheme is given, port 1080 (443 for an https proxy) when none is given.
fn parse_proxy(value: &str, origin: Origin) -> Result<ProxyChoice, NetError> {
    let name = origin_name(&origin);
    let text = if value.contains("://") { value.to_owned() } else { format!("http://{value}") };
    let scheme = text.split("://").next().unwrap_or_default().to_ascii_lowercase();
    if scheme.starts_with("socks") {
        return Err(unsupported(&name, "a SOCKS proxy"));
    }
    let invalid = || NetError::Invalid {
        name: name.clone(),
        expected: "a proxy URL such as http://proxy.example.com:3128 (http or https)",
    };
    let mut url = Url::parse(&text).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        return Err(invalid());
    }
    if !has_explicit_port(&text) {
        let port = if url.scheme() == "https" { 443 } else { 1080 };
        url.set_port(Some(port)).map_err(|_| invalid())?;
    }
    Ok(ProxyChoice { url, origin })
}

/// Whether the authority of `text` (a URL with a scheme) names a port; `Url` forgets a
/// port equal to the scheme's default, and curl's default proxy port is not the scheme's.
fn has_explicit_port(text: &str) -> bool {
    let after_scheme = text.split_once("://").map_or(text, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    host_port
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
}

fn check_proxy_auth_method(
    http: &HttpSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), NetError> {
    let (value, name) = match env("GIT_HTTP_PROXY_AUTHMETHOD") {
        Some(value) => (value, "GIT_HTTP_PROXY_AUTHMETHOD"),
        None => match http.get("proxyauthmethod") {
            Some(value) => (value.to_owned(), "http.proxyAuthMethod"),
            None => return Ok(()),
        },
    };
    match value.to_ascii_lowercase().as_str() {
        "anyauth" | "basic" => Ok(()),
        "digest" | "negotiate" | "ntlm" => Err(unsupported(name, "proxy authentication other than Basic")),
        _ => Err(NetError::Invalid {
            name: name.to_owned(),
            expected: "anyauth, basic, digest, negotiate or ntlm (this helper supports anyauth and basic)",
        }),
    }
}

/// Git's boolean words, and any integer as git config reads it (non-zero is true).
fn git_bool(value: &str) -> Option<bool> {
    crate::protocol::git_bool(value).or_else(|| value.parse::<i64>().ok().map(|n| n != 0))
}

/// The backends curl can be built with; their certificate rules are the ones applied here,
/// except `schannel`, which uses the Windows store unless `http.schannelUseSSLCAInfo` is set.
const SSL_BACKENDS: &[&str] = &[
    "openssl",
    "gnutls",
    "nss",
    "schannel",
    "secure-transport",
    "sectransp",
    "mbedtls",
    "wolfssl",
    "rustls",
    "bearssl",
];

/// An operating system that alone has one of curl's TLS backends.
#[derive(Clone, Copy)]
enum BackendPlatform {
    Windows,
    Apple,
}

impl BackendPlatform {
    fn is_this_one(self) -> bool {
        match self {
            BackendPlatform::Windows => cfg!(windows),
            BackendPlatform::Apple => cfg!(target_vendor = "apple"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            BackendPlatform::Windows => "Windows",
            BackendPlatform::Apple => "macOS",
        }
    }
}

/// Where a backend exists at all: curl builds `schannel` only for Windows and Secure
/// Transport only for Apple's systems, so git elsewhere dies with "Unsupported SSL backend".
fn backend_platform(backend: &str) -> Option<BackendPlatform> {
    match backend {
        "schannel" => Some(BackendPlatform::Windows),
        "secure-transport" | "sectransp" => Some(BackendPlatform::Apple),
        _ => None,
    }
}

fn trust(http: &HttpSettings, env: &dyn Fn(&str) -> Option<String>) -> Result<Trust, NetError> {
    for (key, name, var) in
        [("sslcert", "http.sslCert", "GIT_SSL_CERT"), ("sslkey", "http.sslKey", "GIT_SSL_KEY")]
    {
        if env(var).is_some_and(|v| !v.is_empty()) {
            return Err(unsupported(var, "a TLS client certificate"));
        }
        if http.get(key).is_some_and(|v| !v.is_empty()) {
            return Err(unsupported(name, "a TLS client certificate"));
        }
    }
    if env("GIT_SSL_NO_VERIFY").is_some() {
        return Ok(Trust::Off(Origin::Env("GIT_SSL_NO_VERIFY")));
    }
    if let Some(value) = http.get("sslverify") {
        let verify = git_bool(value).ok_or_else(|| NetError::Invalid {
            name: "http.sslVerify".to_owned(),
            expected: "true or false",
        })?;
        if !verify {
            return Ok(Trust::Off(Origin::GitConfig("http.sslVerify")));
        }
    }
    let mut ignore_ca_info = false;
    if let Some(backend) = http.get("sslbackend") {
        let backend = backend.to_ascii_lowercase();
        if !SSL_BACKENDS.contains(&backend.as_str()) {
            return Err(NetError::Invalid {
                name: "http.sslBackend".to_owned(),
                expected: "one of openssl, gnutls, schannel, secure-transport (or another curl backend)",
            });
        }
        if let Some(platform) = backend_platform(&backend).filter(|p| !p.is_this_one()) {
            return Err(NetError::BackendElsewhere { name: backend, platform: platform.name() });
        }
        let use_ca_info = http.get("schannelusesslcainfo").and_then(git_bool).unwrap_or(false);
        ignore_ca_info = backend == "schannel" && !use_ca_info;
    }
    let path_setting = |key: &str, name: &'static str, var: &'static str| {
        env(var)
            .map(|v| (v, Origin::Env(var)))
            .or_else(|| http.get(key).map(|v| (v.to_owned(), Origin::GitConfig(name))))
            .filter(|(v, _)| !v.is_empty())
            .map(|(v, origin)| (expand_home(&v, env("HOME").map(PathBuf::from).as_deref()), origin))
    };
    let ca_info = path_setting("sslcainfo", "http.sslCAInfo", "GIT_SSL_CAINFO").filter(|_| !ignore_ca_info);
    let ca_path = path_setting("sslcapath", "http.sslCAPath", "GIT_SSL_CAPATH");
    if ca_info.is_none() && ca_path.is_none() {
        return Ok(Trust::System);
    }
    Ok(Trust::Only { ca_info, ca_path })
}

/// The PEM files whose certificates are the trust anchors of [`Trust::Only`]: the
/// `sslCAInfo` file, then every regular file in the `sslCAPath` directory, in name order.
pub fn trust_files(trust: &Trust) -> Result<Vec<(PathBuf, Origin)>, NetError> {
    let Trust::Only { ca_info, ca_path } = trust else { return Ok(Vec::new()) };
    let mut files = Vec::new();
    if let Some((file, origin)) = ca_info {
        files.push((file.clone(), origin.clone()));
    }
    if let Some((dir, origin)) = ca_path {
        let entries = std::fs::read_dir(dir).map_err(|e| NetError::Trust {
            path: dir.display().to_string(),
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
        let mut names: Vec<PathBuf> =
            entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
        names.sort();
        files.extend(names.into_iter().map(|p| (p, origin.clone())));
    }
    Ok(files)
}

/// Whether `host` (and `port`) is in a `NO_PROXY` list, read as curl reads it:
/// comma-separated entries, surrounding blanks ignored, `*` alone matches everything, an
/// entry matches the host itself or any host under it at a label boundary (a leading dot
/// changes nothing: `.example.com` matches `example.com` and `www.example.com`), letter case
/// ignored, IP addresses compared as addresses, with an optional CIDR suffix
/// (`10.0.0.0/8`). An entry with a port (`host:8080`, `[::1]:8080`) matches nothing: curl
/// compares the whole entry with the host name, so such an entry never excludes a host.
pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.');
    list.split([',', ' ', '\t']).map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        match split_entry_port(entry) {
            (name, None) => entry_matches(name, host),
            (_, Some(_)) => false,
        }
    })
}

fn split_entry_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        // `[::1]:8080` or `[::1]`
        return match rest.split_once(']') {
            Some((addr, tail)) => (addr, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (rest, None),
        };
    }
    match entry.rsplit_once(':') {
        // One colon: host:port; more: a bare IPv6 address.
        Some((name, port)) if !name.contains(':') => match port.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn entry_matches(entry: &str, host: &str) -> bool {
    if let Some((net, bits)) = entry.split_once('/') {
        return match (net.parse::<IpAddr>(), bits.parse::<u8>(), host.parse::<IpAddr>()) {
            (Ok(net), Ok(bits), Ok(addr)) => in_cidr(addr, net, bits),
            _ => false,
        };
    }
    if let (Ok(a), Ok(b)) = (entry.parse::<IpAddr>(), host.parse::<IpAddr>()) {
        return a == b;
    }
    let entry = entry.trim_start_matches('.').trim_end_matches('.');
    if entry.is_empty() {
        return false;
    }
    if host.len() == entry.len() {
        return host.eq_ignore_ascii_case(entry);
    }
    host.len() > entry.len()
        && host.as_bytes()[host.len() - entry.len() - 1] == b'.'
        && host[host.len() - entry.len()..].eq_ignore_ascii_case(entry)
}

fn in_cidr(addr: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
