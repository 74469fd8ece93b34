//! OAuth 2.0 with Bitbucket: the authorization code grant with PKCE through the browser (sent
//! everywhere, relied on only where the server verifies it: Data Center), the
//! refresh grant, the client credentials grant (CI) and the JWT-bearer grant (Connect apps).
//!
//! This module talks to the token endpoint and runs the browser round trip; it never stores
//! anything (`auth` does) and never logs a code or a token.

pub mod browser;
pub mod callback;
pub mod pkce;

use std::io::{BufRead, BufReader};
use std::sync::mpsc::Sender;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::bitbucket::{ClientAuth, Endpoints};
use crate::host::redacted;
use crate::net::http::{ApiError, Http};
use crate::secret::Secret;
use crate::settings::OAuthClient;
use callback::{Arrival, CallbackError, CallbackOutcome, Listener};

/// Longest token accepted from a token endpoint.
pub const MAX_TOKEN_BYTES: usize = 32 * 1024;

/// The tokens a token endpoint returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: Secret,
    /// Lifetime in seconds, as the server said (never a constant).
    pub expires_in: Option<u64>,
    /// The new refresh token (Bitbucket rotates them: each use returns a new one).
    pub refresh_token: Option<Secret>,
    /// `scopes` (Cloud) or `scope` (Data Center).
    pub scopes: Option<String>,
}

/// Why a token request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The server refused the grant (`invalid_grant`, `invalid_client`, ...).
    #[error("Bitbucket refused the {grant} request ({error})")]
    Rejected {
        /// Which grant.
        grant: &'static str,
        /// The OAuth error code, sanitised.
        error: String,
        /// HTTP status.
        status: u16,
        /// The code or refresh token itself is dead (`invalid_grant`, or a 400 whose
        /// description says the refresh token, or `refresh_token`, is unknown, invalid or
        /// expired); any other refusal says nothing certain about the token.
        grant_is_dead: bool,
    },
    /// The request did not complete.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Randomness for PKCE/state was unavailable.
    #[error(transparent)]
    Random(#[from] pkce::RandomError),
    /// The browser round trip failed.
    #[error(transparent)]
    Callback(#[from] CallbackError),
}

/// The grant to request.
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    /// Exchange an authorization code (with its PKCE verifier).
    AuthorizationCode {
        /// The code from the callback.
        code: &'a Secret,
        /// The same `redirect_uri` as in the authorization request.
        redirect_uri: &'a str,
        /// The PKCE verifier.
        verifier: &'a Secret,
    },
    /// Use a refresh token.
    Refresh(&'a Secret),
    /// The client's own token (private consumers).
    ClientCredentials,
    /// A Connect app's JWT (`urn:bitbucket:oauth2:jwt`).
    Jwt(&'a Secret),
}

impl Grant<'_> {
    /// The grant's name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Grant::AuthorizationCode { .. } => "authorization code",
            Grant::Refresh(_) => "refresh token",
            Grant::ClientCredentials => "client credentials",
            Grant::Jwt(_) => "JWT",
        }
    }
}

#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: Option<String>,
    expires_in: Option<serde_json::Value>,
    refresh_token: Option<String>,
    scopes: Option<String>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct RawError {
    error: Option<String>,
    error_description: Option<String>,
}

impl RawError {
    /// `invalid_grant`, or a 400 that says in words that the refresh token is unknown,
    /// invalid or expired, spelled `refresh token` or `refresh_token` (Bitbucket Cloud has
    /// answered a used refresh token with `invalid_request` and "Invalid refresh_token").
    /// A refusal of the client (`invalid_client`, `unauthorized_client`) never is.
    fn grant_is_dead(&self, status: u16) -> bool {
        let error = self.error.as_deref();
        if error == Some("invalid_grant") {
            return true;
        }
        if matches!(error, Some("invalid_client" | "unauthorized_client")) {
            return false;
        }
        let description = self.error_description.as_deref().unwrap_or_default().to_ascii_lowercase();
        let names_the_token = description.contains("refresh token") || description.contains("refresh_token");
        status == 400
            && names_the_token
            && ["expired", "unknown", "invalid", "revoked", "not found"]
                .iter()
                .any(|w| description.contains(w))
    }
}

/// What a token endpoint's answer means, from its status and body alone (no I/O).
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenResponse, ParsedError> {
    if !(200..300).contains(&status) {
        let raw = serde_json::from_slice::<RawError>(body).ok();
        let grant_is_dead = raw.as_ref().is_some_and(|r| r.grant_is_dead(status));
        let error = raw.and_then(|e| e.error).map(|e| sanitize(&e));
        return Err(match (status, error) {
            (400 | 401, Some(error)) => ParsedError::Rejected { error, status, grant_is_dead },
            (_, error) => ParsedError::Status { status, error },
        });
    }
    let raw: RawTokenResponse =
        serde_json::from_slice(body).map_err(|_| ParsedError::Malformed("the body is not a token object"))?;
    // 32 KiB: ten times today's tokens, and a `password=` line that git and we can still read.
    let valid = |t: &str| !t.is_empty() && t.len() <= MAX_TOKEN_BYTES && !t.contains(['\n', '\r', '\0']);
    let access_token =
        raw.access_token.filter(|t| valid(t)).ok_or(ParsedError::Malformed("no usable access_token"))?;
    let expires_in = match raw.expires_in {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => {
            Some(n.as_u64().ok_or(ParsedError::Malformed("expires_in is not a whole number"))?)
        }
        Some(serde_json::Value::String(s)) => {
            Some(s.parse().map_err(|_| ParsedError::Malformed("expires_in is not a number"))?)
        }
        Some(_) => return Err(ParsedError::Malformed("expires_in is not a number")),
    };
    let refresh_token = match raw.refresh_token {
        Some(t) if valid(&t) => Some(Secret::new(t)),
        Some(_) => return Err(ParsedError::Malformed("refresh_token is not usable")),
        None => None,
    };
    Ok(TokenResponse {
        access_token: Secret::new(access_token),
        expires_in,
        refresh_token,
        scopes: raw.scopes.or(raw.scope),
    })
}

/// A token endpoint answer that is not a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedError {
    /// 400/401 with an OAuth error code.
    Rejected {
        /// The code.
        error: String,
        /// The HTTP status.
        status: u16,
        /// The grant (code or refresh token) is dead, not merely refused for another reason.
        grant_is_dead: bool,
    },
    /// Another failure status.
    Status {
        /// The HTTP status.
        status: u16,
        /// The OAuth error code, if the body had one.
        error: Option<String>,
    },
    /// A success status with a body that is not a usable token.
    Malformed(&'static str),
}

fn sanitize(error: &str) -> String {
    error.chars().filter(|c| c.is_ascii_alphanumeric() || "_-.:".contains(*c)).take(64).collect()
}

/// Send one token request and read the answer.
pub fn request_token(
    http: &Http,
    endpoints: &Endpoints,
    client: &OAuthClient,
    grant: Grant<'_>,
) -> Result<TokenResponse, TokenError> {
    let mut form: Vec<(&str, &str)> = Vec::new();
    match grant {
        Grant::AuthorizationCode { code, redirect_uri, verifier } => {
            form.extend([
                ("grant_type", "authorization_code"),
                ("code", code.expose()),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier.expose()),
            ]);
        }
        Grant::Refresh(token) => {
            form.extend([("grant_type", "refresh_token"), ("refresh_token", token.expose())])
        }
        Grant::ClientCredentials => form.push(("grant_type", "client_credentials")),
        Grant::Jwt(_) => form.push(("grant_type", "urn:bitbucket:oauth2:jwt")),
    }
    let mut request = http.client().post(endpoints.token.clone());
    match (grant, endpoints.client_auth) {
        (Grant::Jwt(jwt), _) => request = request.header("Authorization", format!("JWT {}", jwt.expose())),
        (_, ClientAuth::Basic) => request = request.basic_auth(&client.id, Some(client.secret.expose())),
        (_, ClientAuth::Form) => {
            form.extend([("client_id", client.id.as_str()), ("client_secret", client.secret.expose())])
        }
    }
    let response = http.send(&endpoints.token, request.form(&form))?;
    let status = response.status().as_u16();
    let body = crate::net::http::read_body(&endpoints.token, response)?;
    tracing::debug!("token request ({}) -> HTTP {status}", grant.name());
    parse_token_response(status, &body).map_err(|e| match e {
        ParsedError::Rejected { error, status, grant_is_dead } => {
            TokenError::Rejected { grant: grant.name(), error, status, grant_is_dead }
        }
        ParsedError::Status { status, error } => {
            TokenError::Api(ApiError::Status { url: redacted(&endpoints.token), status, error })
        }
        ParsedError::Malformed(reason) => TokenError::Api(ApiError::BadResponse {
            url: redacted(&endpoints.token),
            reason: reason.to_owned(),
        }),
    })
}

/// The authorization page URL for one attempt.
pub fn authorize_url(
    endpoints: &Endpoints,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    challenge: &str,
) -> Url {
    let mut url = endpoints.authorize.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", client_id)
            .append_pair("response_type", "code")
            .append_pair("state", state)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(scopes) = endpoints.scopes {
            query.append_pair("scope", scopes);
        }
    }
    url
}

/// How the browser round trip reaches the person.
pub struct BrowserUi<'a> {
    /// How to open the page.
    pub browser: crate::settings::Browser,
    /// Whether to show progress (stderr is a terminal).
    pub chatty: bool,
    /// How messages reach the person (one line each on stderr).
    pub say: fn(&str),
    /// Read pasted answers from the terminal (`None` where there is none).
    pub paste_source: Option<Box<dyn FnOnce(Sender<Arrival>) + Send + 'a>>,
}

/// Run the authorization code grant with PKCE through the browser and exchange the code.
/// The wait for the browser can be interrupted; from the exchange on, SIGINT, SIGTERM and
/// SIGHUP are held until the caller drops the returned guard, once it has kept the tokens
/// (see `crate::signals`).
pub(crate) fn sign_in_with_browser(
    http: &Http,
    endpoints: &Endpoints,
    client: &OAuthClient,
    port: u16,
    timeout: Duration,
    ui: BrowserUi<'static>,
) -> Result<(TokenResponse, crate::signals::Held), TokenError> {
    let pkce = pkce::Pkce::new()?;
    let state = pkce::new_state()?;
    let listener = Listener::bind(port)?;
    let redirect_uri = listener.redirect_uri();
    let url = authorize_url(endpoints, &client.id, &redirect_uri, &state, &pkce.challenge);
    let (tx, rx) = callback::events();

    let opened = browser::open(url.as_str(), &ui.browser);
    let say = ui.say;
    let mut paste_source = ui.paste_source;
    let pkce_verified = endpoints.verifies_pkce;
    let mut offer_paste = |tx: &Sender<Arrival>| {
        say(&format!("open this address in a browser to sign in to Bitbucket:\n\n  {url}\n"));
        if let Some(start) = paste_source.take() {
            if pkce_verified {
                say(&format!(
                    "then paste here the address the browser was sent to (http://localhost:{port}/?code=...), or just the code:"
                ));
            } else {
                say(&format!(
                    "then paste here the whole address the browser was sent to (http://localhost:{port}/?code=...&state=...):"
                ));
            }
            start(tx.clone());
        }
    };
    match opened {
        browser::Opened::Started(mut child) => {
            if ui.chatty {
                say(
                    "opened the Bitbucket sign-in page in your browser; waiting for you to grant access (Ctrl-C to cancel)",
                );
            }
            let watcher = tx.clone();
            std::thread::spawn(move || {
                if child.wait().is_ok_and(|status| !status.success()) {
                    let _ = watcher.send(Arrival::BrowserFailed);
                }
            });
        }
        browser::Opened::Nothing => offer_paste(&tx),
    }
    let paste_tx = tx.clone();
    let code = listener.wait(&state, timeout, (tx, rx), |arrival| match arrival {
        Arrival::BrowserFailed => {
            offer_paste(&paste_tx);
            None
        }
        Arrival::Pasted(text) => match callback::judge_pasted(&text, &state, pkce_verified) {
            CallbackOutcome::Code(code) => Some(Ok(code)),
            CallbackOutcome::Denied => Some(Err(CallbackError::Denied)),
            CallbackOutcome::Failed(e) => Some(Err(CallbackError::Failed(e))),
            CallbackOutcome::Forged if pkce_verified => {
                say("that is not the sign-in address or code; paste it again");
                None
            }
            CallbackOutcome::Forged => {
                say(
                    "that is not the address of this sign-in (one with this sign-in's state, from the browser's address bar); paste it again",
                );
                None
            }
            CallbackOutcome::BareCode => {
                say(&format!(
                    "a code alone is not accepted here: Bitbucket Cloud does not check PKCE, so only the state in the address shows the code belongs to this sign-in; paste the whole address the browser was sent to (http://localhost:{port}/?code=...&state=...)"
                ));
                None
            }
        },
        Arrival::Callback(_) => None,
    })?;
    let grant =
        Grant::AuthorizationCode { code: &code, redirect_uri: &redirect_uri, verifier: &pkce.verifier };
    let held = crate::signals::hold();
    Ok((request_token(http, endpoints, client, grant)?, held))
}

/// Read pasted lines from the terminal into the wait (a thread; ends with the process).
pub fn terminal_paste_source() -> Option<Box<dyn FnOnce(Sender<Arrival>) + Send>> {
    #[cfg(unix)]
    let tty = std::fs::File::open("/dev/tty").ok()?;
    #[cfg(not(unix))]
    let tty = std::fs::File::open("CONIN$").ok()?;
    Some(Box::new(move |tx: Sender<Arrival>| {
        std::thread::spawn(move || {
            for line in BufReader::new(tty).lines() {
                let Ok(line) = line else { return };
                if line.trim().is_empty() {
                    continue;
                }
                if tx.send(Arrival::Pasted(line)).is_err() {
                    return;
                }
            }
        });
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_token_response_is_read_with_plural_scopes() {
        let body = br#"{"access_token":"a","token_type":"bearer","expires_in":7200,"refresh_token":"r","scopes":"repository:write account"}"#;
        let t = parse_token_response(200, body).unwrap();
        assert_eq!(t.access_token.expose(), "a");
        assert_eq!(t.expires_in, Some(7200));
        assert_eq!(t.refresh_token.unwrap().expose(), "r");
        assert_eq!(t.scopes.as_deref(), Some("repository:write account"));
    }

    #[test]
    fn data_center_singular_scope_and_string_expiry_are_accepted() {
        let t =
            parse_token_response(200, br#"{"access_token":"a","expires_in":"3600","scope":"REPO_WRITE"}"#)
                .unwrap();
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.scopes.as_deref(), Some("REPO_WRITE"));
        assert_eq!(t.refresh_token, None);
    }

    #[test]
    fn errors_and_garbage_are_told_apart() {
        assert_eq!(
            parse_token_response(400, br#"{"error":"invalid_grant","error_description":"x"}"#),
            Err(ParsedError::Rejected { error: "invalid_grant".into(), status: 400, grant_is_dead: true })
        );
        assert_eq!(
            parse_token_response(401, br#"{"error":"invalid_client","error_description":"bad secret"}"#),
            Err(ParsedError::Rejected { error: "invalid_client".into(), status: 401, grant_is_dead: false })
        );
        assert_eq!(
            parse_token_response(
                400,
                br#"{"error":"invalid_request","error_description":"Refresh token expired"}"#
            ),
            Err(ParsedError::Rejected { error: "invalid_request".into(), status: 400, grant_is_dead: true })
        );
        assert_eq!(
            parse_token_response(
                400,
                br#"{"error":"invalid_request","error_description":"Invalid refresh_token"}"#
            ),
            Err(ParsedError::Rejected { error: "invalid_request".into(), status: 400, grant_is_dead: true })
        );
        assert_eq!(
            parse_token_response(
                401,
                br#"{"error":"invalid_client","error_description":"Invalid refresh_token"}"#
            ),
            Err(ParsedError::Rejected { error: "invalid_client".into(), status: 401, grant_is_dead: false })
        );
        assert_eq!(
            parse_token_response(
                400,
                br#"{"error":"invalid_request","error_description":"refresh_token is missing"}"#
            ),
            Err(ParsedError::Rejected { error: "invalid_request".into(), status: 400, grant_is_dead: false })
        );
        assert_eq!(
            parse_token_response(400, br#"{"error":"invalid_request","error_description":"missing field"}"#),
            Err(ParsedError::Rejected { error: "invalid_request".into(), status: 400, grant_is_dead: false })
        );
        assert_eq!(
            parse_token_response(500, b"<html>"),
            Err(ParsedError::Status { status: 500, error: None })
        );
        assert!(matches!(parse_token_response(200, b"<html>"), Err(ParsedError::Malformed(_))));
        assert!(matches!(
            parse_token_response(200, br#"{"access_token":""}"#),
            Err(ParsedError::Malformed(_))
        ));
        assert!(matches!(
            parse_token_response(200, br#"{"access_token":"a\nb"}"#),
            Err(ParsedError::Malformed(_))
        ));
        assert!(matches!(
            parse_token_response(200, br#"{"access_token":"a","expires_in":-5}"#),
            Err(ParsedError::Malformed(_))
        ));
    }

    #[test]
    fn authorize_url_carries_pkce_state_and_redirect() {
        let settings = crate::settings::RawSettings::default().validate(None).unwrap();
        let url = authorize_url(&Endpoints::cloud(&settings), "cid", "http://localhost:34106/", "st", "ch");
        assert_eq!(
            url.as_str(),
            "https://bitbucket.org/site/oauth2/authorize?client_id=cid&response_type=code&state=st&redirect_uri=http%3A%2F%2Flocalhost%3A34106%2F&code_challenge=ch&code_challenge_method=S256"
        );
    }
}
