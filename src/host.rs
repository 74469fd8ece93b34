//! Which hosts this helper serves, and as which kind of Bitbucket (docs/configuration.md, "Which hosts are served").
//!
//! Bitbucket Cloud is exactly `bitbucket.org` (any case, port 443 or none). Any other host is
//! served only when the user configured `credential.<url>.provider=bitbucket`, or, for https
//! only, when git passes a `WWW-Authenticate` header with Data Center's realm. This module
//! must never widen that: a secret handed to the wrong host is the worst thing a helper can do.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};
use serde::{Deserialize, Serialize};
use url::Url;

/// The two kinds of Bitbucket. They differ only in data (endpoints, scopes, user lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Deployment {
    /// Bitbucket Cloud (`bitbucket.org`).
    Cloud,
    /// Bitbucket Data Center / Server, on the company's own host.
    #[serde(rename = "datacenter")]
    DataCenter,
}

impl Deployment {
    /// Parse a `bitbucketDeployment` value.
    pub fn parse(value: &str) -> Option<Deployment> {
        match value.to_ascii_lowercase().as_str() {
            "cloud" => Some(Deployment::Cloud),
            "datacenter" | "data-center" | "server" => Some(Deployment::DataCenter),
            _ => None,
        }
    }

    /// The name used in settings and messages.
    pub fn name(self) -> &'static str {
        match self {
            Deployment::Cloud => "cloud",
            Deployment::DataCenter => "datacenter",
        }
    }
}

/// Why a request for a host is refused outright.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// `http://bitbucket.org`: Bitbucket Cloud is https only; answering would leak a token.
    #[error("refusing plain http to bitbucket.org: use https://bitbucket.org/... as the remote URL")]
    PlainHttpCloud,
}

/// What the user configured for the host, as far as recognition is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// `credential.provider` unset or `auto`: recognise Bitbucket by itself.
    Auto,
    /// `credential.provider=bitbucket`, with `bitbucketDeployment` (default Data Center).
    Bitbucket(Deployment),
    /// Another provider was chosen explicitly (e.g. `github`): not ours.
    Other,
}

/// The realm Bitbucket Data Center announces in `WWW-Authenticate`.
pub const DATA_CENTER_REALM: &str = "realm=\"atlassian bitbucket\"";

/// What git asked about, as far as recognition is concerned: its `protocol`, `host` and
/// `wwwauth[]` values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked<'a> {
    /// git's `protocol`.
    pub protocol: Option<&'a str>,
    /// git's `host`.
    pub host: Option<&'a str>,
    /// git's `wwwauth[]` values.
    pub wwwauth: &'a [String],
}

/// Decide whether this helper serves the host git `asked` about, and as which deployment.
pub fn classify(asked: Asked, provider: Provider) -> Result<Option<Deployment>, HostError> {
    let (Some(protocol), Some(host)) = (asked.protocol, asked.host) else {
        return Ok(None);
    };
    let protocol = protocol.to_ascii_lowercase();
    if protocol != "https" && protocol != "http" {
        return Ok(None);
    }
    if provider == Provider::Other {
        return Ok(None);
    }
    if protocol == "http" && split_port(host).0.eq_ignore_ascii_case("bitbucket.org") {
        // Whatever the port: a secret for bitbucket.org never travels in clear text.
        return Err(HostError::PlainHttpCloud);
    }
    if is_cloud_host(host) {
        return Ok(Some(Deployment::Cloud));
    }
    if let Provider::Bitbucket(deployment) = provider {
        return Ok(Some(deployment));
    }
    if protocol == "https" && announces_data_center(asked.wwwauth) {
        return Ok(Some(Deployment::DataCenter));
    }
    Ok(None)
}

/// True for `bitbucket.org` in any letter case, with port 443 or none.
pub fn is_cloud_host(host: &str) -> bool {
    let (name, port) = split_port(host);
    name.eq_ignore_ascii_case("bitbucket.org") && matches!(port, None | Some("443"))
}

/// True when one of git's `wwwauth[]` values carries Data Center's realm.
pub fn announces_data_center(wwwauth: &[String]) -> bool {
    wwwauth.iter().any(|h| h.to_ascii_lowercase().contains(DATA_CENTER_REALM))
}

/// Split `host[:port]` (IPv6 literals in brackets keep their colons).
pub fn split_port(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let port = rest[end + 1..].strip_prefix(':');
            return (&host[..end + 2], port);
        }
        return (host, None);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, Some(port)),
        _ => (host, None),
    }
}

/// The host as it goes into store keys: lower case, default port dropped.
pub fn canonical_host(protocol: &str, host: &str) -> String {
    let (name, port) = split_port(host);
    let default = match protocol {
        "https" => Some("443"),
        "http" => Some("80"),
        _ => None,
    };
    let name = name.to_ascii_lowercase();
    match port {
        Some(p) if Some(p) != default && !p.is_empty() => format!("{name}:{p}"),
        _ => name,
    }
}

/// `scheme://host/[path]`, the path percent-encoded as in store keys.
pub fn web_url(scheme: &str, host: &str, path: Option<&[u8]>) -> String {
    let path = path.map(encode_path).unwrap_or_default();
    format!("{scheme}://{host}/{path}")
}

/// `scheme://host[:port]` of a configured URL, canonical like a request's origin.
pub fn origin_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let host = url.port().map_or_else(|| host.to_owned(), |port| format!("{host}:{port}"));
    format!("{}://{}", url.scheme(), canonical_host(url.scheme(), &host))
}

/// The URL without query, fragment or user info, for messages and traces.
pub fn redacted(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// What a username keeps unencoded in a key: RFC 3986 unreserved and sub-delims. Every other
/// byte becomes `%XX` (upper-case hex), so `me@x.com` is `me%40x.com`.
const USERINFO_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

/// What a repository path keeps unencoded in a key: the user info set plus `:`, `@` and `/`.
const PATH_SAFE: &AsciiSet = &USERINFO_SAFE.remove(b':').remove(b'@').remove(b'/');

/// A username percent-encoded for the user part of a URL (`me@x.com` → `me%40x.com`).
pub fn encode_userinfo(username: &str) -> String {
    percent_encode(username.as_bytes(), USERINFO_SAFE).to_string()
}

/// A repository path percent-encoded as in store keys and URLs (`a b` → `a%20b`).
pub fn encode_path(path: &[u8]) -> String {
    percent_encode(path, PATH_SAFE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred<'a>(protocol: &'a str, host: &'a str) -> Asked<'a> {
        Asked { protocol: Some(protocol), host: Some(host), wwwauth: &[] }
    }

    #[test]
    fn cloud_is_exactly_bitbucket_org() {
        for host in ["bitbucket.org", "BITBUCKET.ORG", "bitbucket.org:443"] {
            assert_eq!(classify(cred("https", host), Provider::Auto), Ok(Some(Deployment::Cloud)), "{host}");
        }
        for host in [
            "evilbitbucket.org",
            "api.bitbucket.org",
            "bitbucket.org.evil.com",
            "github.com",
            "bitbucket.org:8443",
        ] {
            assert_eq!(classify(cred("https", host), Provider::Auto), Ok(None), "{host}");
        }
    }

    #[test]
    fn plain_http_to_cloud_is_refused_even_when_configured() {
        assert_eq!(classify(cred("http", "bitbucket.org"), Provider::Auto), Err(HostError::PlainHttpCloud));
        let configured = Provider::Bitbucket(Deployment::Cloud);
        assert_eq!(classify(cred("http", "bitbucket.org"), configured), Err(HostError::PlainHttpCloud));
        assert_eq!(classify(cred("http", "BitBucket.org:80"), configured), Err(HostError::PlainHttpCloud));
    }

    #[test]
    fn configured_provider_serves_other_hosts_including_http() {
        let dc = Provider::Bitbucket(Deployment::DataCenter);
        assert_eq!(classify(cred("http", "127.0.0.1:7990"), dc), Ok(Some(Deployment::DataCenter)));
        let cloud = Provider::Bitbucket(Deployment::Cloud);
        assert_eq!(classify(cred("https", "git.example.com"), cloud), Ok(Some(Deployment::Cloud)));
    }

    #[test]
    fn another_provider_wins_over_recognition() {
        assert_eq!(classify(cred("https", "bitbucket.org"), Provider::Other), Ok(None));
    }

    #[test]
    fn realm_recognises_data_center_over_https_only() {
        let realm = ["Basic realm=\"Atlassian Bitbucket\"".to_owned()];
        let mut c = Asked { wwwauth: &realm, ..cred("https", "git.example.com") };
        assert_eq!(classify(c, Provider::Auto), Ok(Some(Deployment::DataCenter)));
        c.protocol = Some("http");
        assert_eq!(classify(c, Provider::Auto), Ok(None));
    }

    #[test]
    fn other_protocols_and_missing_parts_are_not_ours() {
        assert_eq!(classify(cred("ssh", "bitbucket.org"), Provider::Auto), Ok(None));
        assert_eq!(classify(Asked::default(), Provider::Auto), Ok(None));
    }

    #[test]
    fn canonical_host_drops_default_port_and_case() {
        assert_eq!(canonical_host("https", "BitBucket.org:443"), "bitbucket.org");
        assert_eq!(canonical_host("http", "127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(canonical_host("https", "[::1]:443"), "[::1]");
        assert_eq!(canonical_host("https", "[::1]:7990"), "[::1]:7990");
    }

    #[test]
    fn origin_of_a_configured_url_is_canonical() {
        let url = Url::parse("HTTPS://Git.Example.com:443/ctx").unwrap();
        assert_eq!(origin_of(&url), "https://git.example.com");
        let url = Url::parse("http://127.0.0.1:7990/").unwrap();
        assert_eq!(origin_of(&url), "http://127.0.0.1:7990");
    }
}
