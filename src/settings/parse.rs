//! The parsers a setting's definition names (`settings!` in `defs.rs`): each reads one
//! setting's text through a [`Lookup`] and gives its typed value, or an error that names the
//! setting (as the person set it) and what it accepts.

use std::ops::RangeInclusive;
use std::time::Duration;

use url::Url;

use super::error::ConfigError;
use crate::protocol::git_bool;
use crate::secret::Secret;

/// Where parsers read a setting: its text (the default included), and the error naming it
/// the way it was set (`credential.x`, an alias, or the environment variable).
pub trait Lookup {
    /// The setting's text, the default included; `None` when unset and without default.
    fn value(&self, name: &str) -> Option<&str>;
    /// "invalid value for NAME: expected `expected`", NAME as the person set it.
    fn invalid(&self, name: &str, expected: &'static str) -> ConfigError;
}

/// An interactive (or CI) way of signing in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// OAuth in the browser.
    OAuth,
    /// Username + API token (or app password, or Data Center HTTP access token).
    Token,
    /// OAuth client credentials grant, for CI.
    ClientCredentials,
}

/// A boolean as git spells it; unset is false.
pub fn flag(raw: &dyn Lookup, name: &str) -> Result<bool, ConfigError> {
    match raw.value(name) {
        None => Ok(false),
        Some(value) => git_bool(value).ok_or_else(|| raw.invalid(name, "true or false")),
    }
}

/// A whole number in `range`.
pub fn number(
    raw: &dyn Lookup,
    name: &str,
    range: RangeInclusive<u64>,
    expected: &'static str,
) -> Result<u64, ConfigError> {
    raw.value(name)
        .and_then(|v| v.parse().ok())
        .filter(|n| range.contains(n))
        .ok_or_else(|| raw.invalid(name, expected))
}

/// A number of seconds in `range`.
pub fn seconds(
    raw: &dyn Lookup,
    name: &str,
    range: RangeInclusive<u64>,
    expected: &'static str,
) -> Result<Duration, ConfigError> {
    number(raw, name, range, expected).map(Duration::from_secs)
}

/// An http(s) URL without its trailing `/`; unset or empty is `None`.
pub fn url(raw: &dyn Lookup, name: &str) -> Result<Option<Url>, ConfigError> {
    let Some(value) = raw.value(name).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let url = Url::parse(value.trim_end_matches('/'))
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| raw.invalid(name, "an http(s) URL"))?;
    Ok(Some(url))
}

/// An http(s) URL that must be there (it has a default).
pub fn required_url(raw: &dyn Lookup, name: &str) -> Result<Url, ConfigError> {
    url(raw, name)?.ok_or_else(|| raw.invalid(name, "an http(s) URL"))
}

/// A Bitbucket Cloud URL: `https://`, or `http://` only to a loopback host (`localhost`,
/// 127.0.0.0/8, `::1`), where nothing leaves the machine (the tests' fakes).
pub fn cloud_url(raw: &dyn Lookup, name: &str) -> Result<Url, ConfigError> {
    let url = required_url(raw, name)?;
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if url.scheme() == "http" && !loopback {
        return Err(raw.invalid(name, "an https URL (http only to localhost, 127.0.0.0/8 or ::1)"));
    }
    Ok(url)
}

/// A secret text (a proxy URL may hold a password).
pub fn secret(raw: &dyn Lookup, name: &str) -> Result<Option<Secret>, ConfigError> {
    Ok(raw.value(name).map(Secret::new))
}

/// `bitbucketAuthModes`: a comma- or space-separated list, each mode once, in order.
pub fn auth_modes(raw: &dyn Lookup, name: &str) -> Result<Vec<AuthMode>, ConfigError> {
    let value = raw.value(name).unwrap_or_default();
    let mut modes = Vec::new();
    for word in value.split([',', ' ']).map(str::trim).filter(|w| !w.is_empty()) {
        let mode = match word.to_ascii_lowercase().as_str() {
            "oauth" => AuthMode::OAuth,
            // GCM calls username + password/token "basic".
            "token" | "basic" => AuthMode::Token,
            "clientcredentials" => AuthMode::ClientCredentials,
            _ => return Err(raw.invalid(name, "a comma-separated list of oauth, token, clientcredentials")),
        };
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    Ok(modes)
}

/// The text as it was set, unchecked here: for a setting whose accepted values a layer above
/// knows (`credentialStore`: the store backends, which `store::open` looks up by name).
pub fn text(raw: &dyn Lookup, name: &str) -> Result<String, ConfigError> {
    Ok(raw.value(name).unwrap_or_default().to_owned())
}

/// `namespace`: letters, digits, `-`, `_` or `.`.
pub fn namespace(raw: &dyn Lookup, name: &str) -> Result<String, ConfigError> {
    let value = raw.value(name).unwrap_or("git");
    let ok = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok { Ok(value.to_owned()) } else { Err(raw.invalid(name, "letters, digits, '-', '_' or '.'")) }
}

/// `credential.interactive`: a boolean, or Git Credential Manager's `auto`/`always` (prompt)
/// and `never` (do not).
pub fn interactive(raw: &dyn Lookup, name: &str) -> Result<bool, ConfigError> {
    match raw.value(name).map(str::to_ascii_lowercase).as_deref() {
        Some("auto" | "always") => Ok(true),
        Some("never") => Ok(false),
        _ => flag(raw, name),
    }
}
