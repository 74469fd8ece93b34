//! The fake's OAuth 2 endpoints: the consent page (authorization code; PKCE S256 verified on
//! Data Center only, ignored on Cloud as BCLOUD-23469 says), and
//! the token endpoint with the authorization code, rotating refresh token, client credentials
//! and Connect JWT grants. It is strict where Bitbucket may be lenient (a refresh token works
//! exactly once, a failed code exchange burns the code) so that client bugs show up in tests.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest, Sha256};
use tiny_http::Request;

use super::http::{self, Presented, Reply};
use super::state::{AuthCode, PendingConsent, Principal, State, random_token};
use super::{Consent, Shared};
use crate::client;

const JWT_GRANT: &str = "urn:bitbucket:oauth2:jwt";
const CLOUD_SCOPES: &str = "repository:write account";
const DATACENTER_DEFAULT_SCOPE: &str = "REPO_WRITE";
/// How long an authorization code may wait for its exchange.
const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// The scopes a token gets when the request names none.
pub(crate) fn default_scope(datacenter: bool) -> &'static str {
    if datacenter { DATACENTER_DEFAULT_SCOPE } else { CLOUD_SCOPES }
}

/// `GET` shows the consent page; `POST` is the page's form being submitted.
pub(crate) fn authorize(shared: &Shared, request: &mut Request, method: &str, query: &str) -> Reply {
    match method {
        "GET" => consent_page(shared, query),
        "POST" => match http::read_form(request) {
            Ok(form) => decide(shared, &form),
            Err(reply) => reply,
        },
        _ => Reply::text(405, "Method not allowed\n"),
    }
}

fn consent_page(shared: &Shared, query: &str) -> Reply {
    let params = http::parse_pairs(query);
    let param = |name: &str| params.get(name).cloned();
    let mut state = shared.state();
    let Some(client_id) = param("client_id") else {
        return error_page(400, "client_id is missing");
    };
    let Some(consumer) = state.consumers.get(&client_id) else {
        return error_page(400, "Invalid client_id");
    };
    if param("response_type").as_deref() != Some("code") {
        return error_page(400, "response_type must be code");
    }
    let redirect_uri = match param("redirect_uri") {
        Some(uri) if uri.starts_with(&consumer.redirect_prefix) => uri,
        Some(_) => return error_page(400, "Invalid redirect_uri"),
        None => consumer.redirect_prefix.clone(),
    };
    let code_challenge = param("code_challenge");
    if code_challenge.is_some() && param("code_challenge_method").as_deref() != Some("S256") {
        return error_page(400, "code_challenge_method must be S256");
    }
    let scope = param("scope").unwrap_or_else(|| default_scope(shared.is_datacenter()).into());
    let ticket = random_token(16);
    let user = state.consenting_user().unwrap_or_default();
    let page = render_consent(
        &format!("{}{}", shared.context(), authorize_path(shared)),
        &ticket,
        &client_id,
        &user,
        &scope,
    );
    state.consents.insert(
        ticket,
        PendingConsent {
            client_id,
            redirect_uri,
            redirect_given: param("redirect_uri"),
            state: param("state"),
            code_challenge,
            scope,
        },
    );
    Reply::html(200, page).with_header("Cache-Control", "no-store")
}

fn authorize_path(shared: &Shared) -> &'static str {
    if shared.is_datacenter() { "/rest/oauth2/latest/authorize" } else { "/site/oauth2/authorize" }
}

fn render_consent(action: &str, ticket: &str, client_id: &str, user: &str, scope: &str) -> String {
    let (client_id, user, scope) = (escape(client_id), escape(user), escape(scope));
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Authorize access</title></head>\n\
         <body>\n<h1>Authorize {client_id}</h1>\n<p id=\"user\">Signed in as {user}</p>\n\
         <p>{client_id} asks for: {scope}</p>\n\
         <form id=\"consent\" method=\"post\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\n\
         <button type=\"submit\" id=\"grant\" name=\"decision\" value=\"grant\">Grant access</button>\n\
         <button type=\"submit\" id=\"deny\" name=\"decision\" value=\"deny\">Deny</button>\n\
         </form>\n</body></html>\n"
    )
}

fn decide(shared: &Shared, form: &HashMap<String, String>) -> Reply {
    let mut state = shared.state();
    let Some(consent) = form.get("ticket").and_then(|t| state.consents.remove(t)) else {
        return error_page(400, "This consent page has expired or was already answered");
    };
    let Ok(mut location) = url::Url::parse(&consent.redirect_uri) else {
        return error_page(400, "Invalid redirect_uri");
    };
    match form.get("decision").map(String::as_str) {
        Some("grant") => {
            let Some(username) = state.consenting_user() else {
                return error_page(400, "Nobody is signed in (the fake has no users)");
            };
            let code = format!("{}code{}", super::state::SECRET_MARK, random_token(24));
            location.query_pairs_mut().append_pair("code", &code);
            state.codes.insert(
                code,
                AuthCode {
                    client_id: consent.client_id,
                    username,
                    redirect_uri: consent.redirect_uri,
                    redirect_given: consent.redirect_given,
                    code_challenge: consent.code_challenge,
                    scope: consent.scope,
                    expires_at: SystemTime::now() + CODE_LIFETIME,
                },
            );
        }
        Some("deny") => {
            location.query_pairs_mut().append_pair("error", "access_denied");
        }
        _ => return error_page(400, "decision must be grant or deny"),
    }
    if let Some(state_param) = &consent.state {
        location.query_pairs_mut().append_pair("state", state_param);
    }
    Reply::redirect(location.as_str())
}

/// `POST` to the token endpoint.
pub(crate) fn token(shared: &Shared, request: &mut Request, method: &str, presented: &Presented) -> Reply {
    if method != "POST" {
        return Reply::text(405, "Method not allowed\n");
    }
    let form = match http::read_form(request) {
        Ok(form) => form,
        Err(reply) => return reply,
    };
    let datacenter = shared.is_datacenter();
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    let mut state = shared.state();
    if grant == JWT_GRANT && !datacenter {
        return jwt_grant(&mut state, presented);
    }
    let Some(client_id) = authenticate_client(&state, datacenter, presented, &form) else {
        return oauth_error(401, "invalid_client", "Client credentials are missing or wrong");
    };
    let mut exchange = Exchange { state: &mut state, datacenter, client_id: &client_id, form: &form };
    match grant {
        "authorization_code" => exchange.authorization_code(),
        "refresh_token" => exchange.refresh_token(),
        "client_credentials" if !datacenter => exchange.client_credentials(),
        "" => oauth_error(400, "invalid_request", "grant_type is missing"),
        other => {
            oauth_error(400, "unsupported_grant_type", &format!("grant_type {other} is not supported here"))
        }
    }
}

/// Cloud: HTTP Basic `client_id:secret` only. Data Center: `client_id` + `client_secret` in
/// the form, or HTTP Basic.
fn authenticate_client(
    state: &State,
    datacenter: bool,
    presented: &Presented,
    form: &HashMap<String, String>,
) -> Option<String> {
    if let Presented::Basic { username, secret } = presented {
        return state.check_client(username, secret);
    }
    if datacenter && let (Some(id), Some(secret)) = (form.get("client_id"), form.get("client_secret")) {
        return state.check_client(id, secret);
    }
    None
}

/// One token request from an authenticated client.
struct Exchange<'a> {
    state: &'a mut State,
    datacenter: bool,
    client_id: &'a str,
    form: &'a HashMap<String, String>,
}

impl<'a> Exchange<'a> {
    fn field(&self, name: &str) -> Option<&'a str> {
        self.form.get(name).map(String::as_str)
    }

    fn authorization_code(&mut self) -> Reply {
        let Some(code) = self.field("code") else {
            return oauth_error(400, "invalid_request", "code is missing");
        };
        // Any attempt burns the code, as careful servers do.
        let Some(issued) = self.state.codes.remove(code) else {
            return self.reject("The authorization code is unknown or was already used");
        };
        if issued.client_id != self.client_id {
            return self.reject("The authorization code was issued to another client");
        }
        if SystemTime::now() >= issued.expires_at {
            return self.reject("The authorization code has expired");
        }
        let redirect_matches = match (&issued.redirect_given, self.field("redirect_uri")) {
            (Some(given), sent) => sent == Some(given.as_str()),
            (None, sent) => sent.is_none() || sent == Some(issued.redirect_uri.as_str()),
        };
        if !redirect_matches {
            return self.reject("redirect_uri does not match the one used to authorize");
        }
        // Only Data Center verifies PKCE; Cloud ignores code_challenge and code_verifier
        // (Atlassian's open suggestion BCLOUD-23469; bitbucket-api.md), so the fake Cloud must
        // not prove a protection the real one does not give.
        if self.datacenter
            && let Some(challenge) = &issued.code_challenge
        {
            match self.field("code_verifier") {
                None => return self.reject("code_verifier is missing"),
                Some(verifier) if !valid_verifier(verifier) => {
                    return self.reject("code_verifier must be 43 to 128 unreserved characters");
                }
                Some(verifier) if pkce_s256(verifier) != *challenge => {
                    return self.reject("code_verifier does not match the code_challenge");
                }
                Some(_) => {}
            }
        }
        let refresh = (self.client_id.to_owned(), issued.scope.clone());
        self.mint(Principal::User(issued.username), &issued.scope, Some(refresh))
    }

    fn refresh_token(&mut self) -> Reply {
        let Some(token) = self.field("refresh_token") else {
            return oauth_error(400, "invalid_request", "refresh_token is missing");
        };
        let client_id = self.client_id;
        let datacenter = self.datacenter;
        let verdict = match self.state.refresh_tokens.get_mut(token) {
            None => Err("The refresh token is unknown"),
            Some(entry) if entry.used => Err("The refresh token was already used (refresh tokens rotate)"),
            // Cloud: unused for about 3 months, a refresh token is dead (spec/bitbucket-api.md).
            Some(entry)
                if !datacenter
                    && entry.issued_at.elapsed().unwrap_or_default()
                        > super::CLOUD_UNUSED_REFRESH_LIFETIME =>
            {
                Err("The refresh token has expired")
            }
            Some(entry) if entry.client_id != client_id => {
                Err("The refresh token was issued to another client")
            }
            Some(entry) => {
                entry.used = true;
                Ok((entry.username.clone(), entry.scope.clone()))
            }
        };
        match verdict {
            Ok((username, scope)) => {
                let refresh = (client_id.to_owned(), scope.clone());
                self.mint(Principal::User(username), &scope, Some(refresh))
            }
            Err(description) => self.reject_refresh_token(description),
        }
    }

    /// A dead refresh token, in the spelling the test chose.
    fn reject_refresh_token(&mut self, description: &str) -> Reply {
        match self.state.dead_refresh_spelling {
            super::DeadRefreshSpelling::InvalidGrant => self.reject(description),
            super::DeadRefreshSpelling::InvalidRequest => {
                self.state.rejected_grants += 1;
                // Bitbucket Cloud's own words for a used refresh token (issue 19).
                oauth_error(400, "invalid_request", "Invalid refresh_token")
            }
        }
    }

    fn client_credentials(&mut self) -> Reply {
        let private = self.state.consumers.get(self.client_id).is_some_and(|c| c.private);
        if !private {
            return oauth_error(
                400,
                "unauthorized_client",
                "Client credentials are only for private consumers",
            );
        }
        let scope = default_scope(self.datacenter);
        self.mint(Principal::App(self.client_id.to_owned()), scope, None)
    }

    fn reject(&mut self, description: &str) -> Reply {
        self.state.rejected_grants += 1;
        oauth_error(400, "invalid_grant", description)
    }

    /// Issues an access token (and a refresh token when `refresh` names client and scope).
    fn mint(&mut self, principal: Principal, scope: &str, refresh: Option<(String, String)>) -> Reply {
        mint(self.state, self.datacenter, principal, scope, refresh)
    }
}

fn mint(
    state: &mut State,
    datacenter: bool,
    principal: Principal,
    scope: &str,
    refresh: Option<(String, String)>,
) -> Reply {
    let expires_in = state.expires_in;
    let username = match &principal {
        Principal::User(name) => Some(name.clone()),
        Principal::App(_) => None,
    };
    let access_token = state.new_access_token(principal, expires_in);
    state.access_issued += 1;
    let mut body = json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": expires_in,
    });
    // Token responses say `scope`; older Cloud ones said `scopes` (spec/bitbucket-api.md,
    // "OAuth changes enforced 2026-05-04"), which a test can ask for.
    let scope_field = if !datacenter && state.legacy_scopes_field { "scopes" } else { "scope" };
    body[scope_field] = json!(scope);
    if let (Some(username), Some((client_id, refresh_scope))) = (username, refresh) {
        let refresh_token = state.new_refresh_token(&username, &client_id, &refresh_scope);
        state.refresh_issued += 1;
        body["refresh_token"] = json!(refresh_token);
    }
    Reply::json(200, &body).with_header("Cache-Control", "no-store").with_header("Pragma", "no-cache")
}

/// The Connect app grant: `Authorization: JWT {jwt}` whose `iss` is a registered app key.
/// The signature is not checked; `exp`, when present, is.
fn jwt_grant(state: &mut State, presented: &Presented) -> Reply {
    let Presented::Jwt(jwt) = presented else {
        return oauth_error(401, "invalid_client", "The JWT grant needs Authorization: JWT");
    };
    let Some(claims) = jwt_claims(jwt) else {
        return oauth_error(400, "invalid_request", "The JWT does not parse");
    };
    let issuer = claims["iss"].as_str().unwrap_or_default().to_owned();
    if !state.connect_apps.contains(&issuer) {
        return oauth_error(401, "invalid_client", "The JWT issuer is not a registered app");
    }
    if let Some(exp) = claims["exp"].as_u64() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        if exp <= now {
            state.rejected_grants += 1;
            return oauth_error(400, "invalid_grant", "The JWT has expired");
        }
    }
    mint(state, false, Principal::App(issuer), CLOUD_SCOPES, None)
}

fn jwt_claims(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.is_object().then_some(claims)
}

/// RFC 7636: 43 to 128 characters from `[A-Za-z0-9-._~]`.
fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The S256 code challenge of a verifier: base64url(SHA-256(verifier)), unpadded.
pub(crate) fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(status, &json!({ "error": error, "error_description": description }))
        .with_header("Cache-Control", "no-store")
}

fn error_page(status: u16, message: &str) -> Reply {
    let message = escape(message);
    Reply::html(
        status,
        format!(
            "<!DOCTYPE html>\n<html><head><title>Error</title></head><body><h1 id=\"error\">{message}</h1></body></html>\n"
        ),
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Opens a consent page, submits it, and returns where the fake redirects the browser.
pub(crate) fn play_consent(authorize_url: &str, decision: Consent) -> String {
    let page =
        client::get(authorize_url).unwrap_or_else(|e| panic!("consent: GET {authorize_url} failed: {e}"));
    let html = page.text();
    assert_eq!(page.status, 200, "consent: the authorize page answered {}: {html}", page.status);
    let ticket = between(&html, "name=\"ticket\" value=\"", "\"")
        .unwrap_or_else(|| panic!("consent: no ticket on the authorize page: {html}"));
    let action = between(&html, "action=\"", "\"")
        .unwrap_or_else(|| panic!("consent: no form on the authorize page: {html}"));
    let origin = url::Url::parse(authorize_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|e| panic!("consent: bad URL {authorize_url}: {e}"));
    let decision = match decision {
        Consent::Grant => "grant",
        Consent::Deny => "deny",
    };
    let answer =
        client::post_form(&format!("{origin}{action}"), &[], &[("ticket", ticket), ("decision", decision)])
            .unwrap_or_else(|e| panic!("consent: POST {action} failed: {e}"));
    assert_eq!(answer.status, 302, "consent: the fake answered {}: {}", answer.status, answer.text());
    answer.header("Location").expect("consent: the 302 has no Location").to_owned()
}

fn between<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_an_independent_implementation() {
        // Computed with Python's hashlib + base64.urlsafe_b64encode.
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU2p1r-wW1gXk-Xe7ij"),
            "YhJappAAkj4l4CCepH0nDM0vitmTgvuSy48HQQAg9jk"
        );
    }

    #[test]
    fn jwt_payload_is_read_without_signature_check() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"my-app","exp":99}"#);
        let claims = jwt_claims(&format!("e30.{payload}.sig")).expect("claims");
        assert_eq!(claims["iss"], "my-app");
        assert!(jwt_claims("not-a-jwt").is_none());
    }

    #[test]
    fn consent_page_escapes_what_it_shows() {
        let page = render_consent("/a", "t", "<script>", "u", "s");
        assert!(page.contains("&lt;script&gt;"));
        assert!(!page.contains("<script>"));
    }
}
