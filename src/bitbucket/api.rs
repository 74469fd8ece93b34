//! Bitbucket's REST answers: who am I, is this secret accepted, is an OAuth 2.0 provider
//! there. The requests go through [`Http`]; nothing here prints.

use reqwest::StatusCode;
use reqwest::blocking::Response;
use serde::Deserialize;
use url::Url;

use crate::host::redacted;
use crate::net::http::{ApiError, Http, read_body};

/// What a REST "who am I" says about a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCheck {
    /// Accepted; the account's username.
    Valid(String),
    /// 401: not accepted (or, for Cloud API tokens, a username instead of the email).
    Unauthorized,
    /// 403: valid credentials without the scope the endpoint needs (`read:user:bitbucket` on
    /// Cloud). Bitbucket answered 403 to account passwords with two-step verification until
    /// it stopped taking passwords in 2022; it means a missing scope now.
    Forbidden,
}

#[derive(Deserialize)]
struct CloudUser {
    username: Option<String>,
    nickname: Option<String>,
    account_id: Option<String>,
}

/// What Data Center's OAuth 2.0 provider probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderProbe {
    /// 401 (listing clients needs an administrator) or 200 with JSON: the provider is there.
    Present,
    /// 404: no OAuth 2.0 provider (a server older than Data Center 7.20).
    Absent,
    /// Anything else (network, 5xx, a redirect, not JSON): nothing can be concluded.
    Unknown(String),
}

/// Ask a Data Center server, without credentials, whether it has an OAuth 2.0 provider
/// (`GET …/rest/oauth2/1.0/client`), the question Git Credential Manager asks
/// (`IsOAuthInstalledAsync`).
pub fn oauth_provider(http: &Http, url: &Url) -> ProviderProbe {
    let response = match http.send(url, http.client().get(url.clone())) {
        Ok(response) => response,
        Err(e) => return ProviderProbe::Unknown(e.to_string()),
    };
    match response.status() {
        StatusCode::UNAUTHORIZED => ProviderProbe::Present,
        StatusCode::NOT_FOUND => ProviderProbe::Absent,
        StatusCode::OK => match read_body(url, response) {
            Ok(body) if serde_json::from_slice::<serde_json::Value>(&body).is_ok() => ProviderProbe::Present,
            Ok(_) => ProviderProbe::Unknown(format!(
                "{} answered 200 with something that is not JSON",
                redacted(url)
            )),
            Err(e) => ProviderProbe::Unknown(e.to_string()),
        },
        status => ProviderProbe::Unknown(format!("{} answered HTTP {}", redacted(url), status.as_u16())),
    }
}

/// Read a "who am I" response: Cloud's JSON (`username`), or Data Center's text (`whoami`).
pub fn read_user(url: &Url, response: Response) -> Result<UserCheck, ApiError> {
    match response.status() {
        StatusCode::UNAUTHORIZED => return Ok(UserCheck::Unauthorized),
        StatusCode::FORBIDDEN => return Ok(UserCheck::Forbidden),
        s if !s.is_success() => {
            return Err(ApiError::Status { url: redacted(url), status: s.as_u16(), error: None });
        }
        _ => {}
    }
    let json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let body = read_body(url, response)?;
    let bad = |reason: &str| ApiError::BadResponse { url: redacted(url), reason: reason.to_owned() };
    let name = if json {
        let user: CloudUser = serde_json::from_slice(&body).map_err(|_| bad("not a user object"))?;
        user.username.or(user.nickname).or(user.account_id).ok_or_else(|| bad("no username in it"))?
    } else {
        String::from_utf8(body).map_err(|_| bad("not UTF-8 text"))?.trim().to_owned()
    };
    if !is_usable_username(&name) {
        return Err(bad("no usable username in it"));
    }
    Ok(UserCheck::Valid(name))
}

/// The user Data Center says an answer was authenticated as: its `X-AUSERNAME` header
/// (Atlassian's Seraph filter sets it, URL-encoded, on every answer; `anonymous` when the
/// request was not authenticated). Only a success status is believed. `None` when absent,
/// anonymous or unusable.
pub fn authenticated_username(response: &Response) -> Option<String> {
    if !response.status().is_success() {
        return None;
    }
    ausername(response.headers().get("X-AUSERNAME")?.to_str().ok()?)
}

/// The username in an `X-AUSERNAME` value: URL-decoded; `None` for `anonymous` or a name
/// that is not usable.
pub fn ausername(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let name = url::form_urlencoded::parse(raw.as_bytes()).next().map(|(name, _)| name.into_owned())?;
    (name != "anonymous" && is_usable_username(&name)).then_some(name)
}

/// A username from a server may end up in a terminal, a store key and git's protocol: no
/// control character (ESC included) and at most 255 bytes.
pub fn is_usable_username(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_with_any_control_character_are_refused() {
        assert!(is_usable_username("alice"));
        assert!(is_usable_username("Ålice Ünicode"));
        for bad in ["", "a\u{1b}[31mred", "a\nb", "a\rb", "a\0b", "a\tb", "a\u{7f}b", "a\u{9b}b"] {
            assert!(!is_usable_username(bad), "{bad:?}");
        }
        assert!(!is_usable_username(&"a".repeat(256)));
    }

    #[test]
    fn ausername_is_decoded_and_anonymous_is_nobody() {
        assert_eq!(ausername("alice").as_deref(), Some("alice"));
        assert_eq!(ausername("j%C3%BCrgen.m%40corp").as_deref(), Some("jürgen.m@corp"));
        assert_eq!(ausername("anne+marie").as_deref(), Some("anne marie"));
        assert_eq!(ausername("anonymous"), None);
        assert_eq!(ausername(""), None);
        assert_eq!(ausername("a%1Bb"), None, "no control character");
    }
}
