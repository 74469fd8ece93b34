//! Which hosts this helper serves, and as which kind of Bitbucket (docs/configuration.md, "Which hosts are served").
//!
//! Bitbucket Cloud is exactly `bitbucket.org` (any case, port 443 or none). Any other host is
//! served only when the user configured `credential.<url>.provider=bitbucket`, or, for https
//! only, when git passes a `WWW-Authenticate` header with Data Center's realm. This module
//! must never widen that: a secret handed to the wrong host is the worst thing a helper can do.

use serde::{Deserialize, Serialize};

use crate::protocol::Credential;

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

/// Decide whether this helper serves `cred`'s host, and as which deployment.
pub fn classify(cred: &Credential, provider: Provider) -> Result<Option<Deployment>, HostError> {
    let (Some(protocol), Some(host)) = (cred.protocol.as_deref(), cred.host.as_deref()) else {
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
    if protocol == "https" && announces_data_center(cred) {
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
pub fn announces_data_center(cred: &Credential) -> bool {
    cred.wwwauth.iter().any(|h| h.to_ascii_lowercase().contains(DATA_CENTER_REALM))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(protocol: &str, host: &str) -> Credential {
        Credential { protocol: Some(protocol.into()), host: Some(host.into()), ..Credential::default() }
    }

    #[test]
    fn cloud_is_exactly_bitbucket_org() {
        for host in ["bitbucket.org", "BITBUCKET.ORG", "bitbucket.org:443"] {
            assert_eq!(classify(&cred("https", host), Provider::Auto), Ok(Some(Deployment::Cloud)), "{host}");
        }
        for host in [
            "evilbitbucket.org",
            "api.bitbucket.org",
            "bitbucket.org.evil.com",
            "github.com",
            "bitbucket.org:8443",
        ] {
            assert_eq!(classify(&cred("https", host), Provider::Auto), Ok(None), "{host}");
        }
    }

    #[test]
    fn plain_http_to_cloud_is_refused_even_when_configured() {
        assert_eq!(classify(&cred("http", "bitbucket.org"), Provider::Auto), Err(HostError::PlainHttpCloud));
        let configured = Provider::Bitbucket(Deployment::Cloud);
        assert_eq!(classify(&cred("http", "bitbucket.org"), configured), Err(HostError::PlainHttpCloud));
        assert_eq!(classify(&cred("http", "BitBucket.org:80"), configured), Err(HostError::PlainHttpCloud));
    }

    #[test]
    fn configured_provider_serves_other_hosts_including_http() {
        let dc = Provider::Bitbucket(Deployment::DataCenter);
        assert_eq!(classify(&cred("http", "127.0.0.1:7990"), dc), Ok(Some(Deployment::DataCenter)));
        let cloud = Provider::Bitbucket(Deployment::Cloud);
        assert_eq!(classify(&cred("https", "git.example.com"), cloud), Ok(Some(Deployment::Cloud)));
    }

    #[test]
    fn another_provider_wins_over_recognition() {
        assert_eq!(classify(&cred("https", "bitbucket.org"), Provider::Other), Ok(None));
    }

    #[test]
    fn realm_recognises_data_center_over_https_only() {
        let mut c = cred("https", "git.example.com");
        c.wwwauth = vec!["Basic realm=\"Atlassian Bitbucket\"".into()];
        assert_eq!(classify(&c, Provider::Auto), Ok(Some(Deployment::DataCenter)));
        c.protocol = Some("http".into());
        assert_eq!(classify(&c, Provider::Auto), Ok(None));
    }

    #[test]
    fn other_protocols_and_missing_parts_are_not_ours() {
        assert_eq!(classify(&cred("ssh", "bitbucket.org"), Provider::Auto), Ok(None));
        assert_eq!(classify(&Credential::default(), Provider::Auto), Ok(None));
    }

    #[test]
    fn canonical_host_drops_default_port_and_case() {
        assert_eq!(canonical_host("https", "BitBucket.org:443"), "bitbucket.org");
        assert_eq!(canonical_host("http", "127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(canonical_host("https", "[::1]:443"), "[::1]");
        assert_eq!(canonical_host("https", "[::1]:7990"), "[::1]:7990");
    }
}
