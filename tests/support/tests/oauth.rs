//! The fake's OAuth endpoints: consent page, code exchange (PKCE ignored on Cloud, verified on
//! Data Center, as the real servers do), strict rotating refresh tokens, client credentials,
//! the Connect JWT grant, and Data Center's variant.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bitbucket_test_support::client::{self, HttpResponse, basic_auth};
use bitbucket_test_support::{Consent, FakeBitbucket, Mode, RequestKind, User};
use sha2::{Digest, Sha256};

const CLIENT_ID: &str = "consumer-key";
const CLIENT_SECRET: &str = "consumer-secret";
const REDIRECT_URI: &str = "http://localhost:34106/";
const VERIFIER: &str = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG";

fn cloud() -> FakeBitbucket {
    let fake = FakeBitbucket::start(Mode::Cloud);
    fake.add_user(User::new("alice", "alice@example.com"));
    fake.add_consumer(CLIENT_ID, CLIENT_SECRET, "http://localhost:34106/");
    fake
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorize_url(fake: &FakeBitbucket, path: &str, state: &str, verifier: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("state", state)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("code_challenge", &challenge(verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!("{}{path}?{query}", fake.base_url())
}

/// The value of `name` in the query of a redirect `Location`.
fn query_value(location: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(location).expect("Location is a URL");
    url.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

fn cloud_code(fake: &FakeBitbucket, verifier: &str) -> String {
    let url = authorize_url(fake, "/site/oauth2/authorize", "state-1", verifier);
    let location = fake.consent(&url, Consent::Grant);
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    assert_eq!(query_value(&location, "state").as_deref(), Some("state-1"));
    query_value(&location, "code").expect("code in the redirect")
}

fn cloud_token(fake: &FakeBitbucket, form: &[(&str, &str)]) -> HttpResponse {
    let auth = basic_auth(CLIENT_ID, CLIENT_SECRET);
    client::post_form(
        &format!("{}/site/oauth2/access_token", fake.base_url()),
        &[("Authorization", &auth)],
        form,
    )
    .expect("token request")
}

fn exchange(fake: &FakeBitbucket, code: &str, verifier: &str) -> HttpResponse {
    cloud_token(
        fake,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ],
    )
}

fn refresh(fake: &FakeBitbucket, refresh_token: &str) -> HttpResponse {
    cloud_token(fake, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
}

fn json(response: &HttpResponse) -> serde_json::Value {
    response.json().unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.text()))
}

#[test]
fn code_flow_with_pkce_issues_long_tokens_that_work() {
    let fake = cloud();
    let code = cloud_code(&fake, VERIFIER);

    let answer = exchange(&fake, &code, VERIFIER);

    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = json(&answer);
    let access = body["access_token"].as_str().expect("access_token");
    assert!(access.len() >= 2600, "{}", access.len());
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 7200);
    assert_eq!(body["scope"], "repository:write account");
    assert!(body.get("scopes").is_none(), "today's servers say `scope`");
    assert_eq!(body["refresh_token"].as_str(), fake.last_refresh_token("alice").as_deref());
    assert_eq!(fake.last_access_token("alice").as_deref(), Some(access));
    let user = client::request(
        "GET",
        &format!("{}/2.0/user", fake.base_url()),
        &[("Authorization", &format!("Bearer {access}"))],
        &[],
    )
    .expect("user request");
    assert_eq!(json(&user)["username"], "alice");
    assert_eq!((fake.access_tokens_issued(), fake.refresh_tokens_issued()), (1, 1));
    assert_eq!(fake.count(RequestKind::Authorize), 2);
    assert_eq!(fake.count(RequestKind::Token), 1);
}

#[test]
fn cloud_ignores_pkce_as_the_real_one_does() {
    // BCLOUD-23469: Cloud ignores code_challenge and checks no code_verifier.
    let fake = cloud();
    let code = cloud_code(&fake, VERIFIER);
    let wrong = exchange(&fake, &code, "another-verifier-0123456789-abcdefghijklmnopqrstuvwxyz");
    assert_eq!(wrong.status, 200, "a wrong verifier is not checked: {}", wrong.text());

    let code = cloud_code(&fake, VERIFIER);
    let none = cloud_token(
        &fake,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT_URI)],
    );
    assert_eq!(none.status, 200, "a missing verifier is not checked: {}", none.text());
    assert_eq!(fake.access_tokens_issued(), 2);
}

#[test]
fn other_redirect_uri_is_refused() {
    let fake = cloud();
    let code = cloud_code(&fake, VERIFIER);
    let other_redirect = cloud_token(
        &fake,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://localhost:34106/other"),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(json(&other_redirect)["error"], "invalid_grant");
}

fn datacenter() -> FakeBitbucket {
    let fake = FakeBitbucket::start(Mode::DataCenter { context_path: "/bitbucket".into() });
    fake.add_user(User::new("bob", "bob@example.com"));
    fake.add_consumer(CLIENT_ID, CLIENT_SECRET, "http://localhost:34106/");
    fake
}

fn datacenter_code(fake: &FakeBitbucket) -> String {
    let url = authorize_url(fake, "/rest/oauth2/latest/authorize", "dc", VERIFIER);
    let location = fake.consent(&format!("{url}&scope=REPO_WRITE"), Consent::Grant);
    query_value(&location, "code").expect("code")
}

fn datacenter_exchange(fake: &FakeBitbucket, code: &str, verifier: Option<&str>) -> HttpResponse {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
    ];
    form.extend(verifier.map(|v| ("code_verifier", v)));
    client::post_form(&format!("{}/rest/oauth2/latest/token", fake.base_url()), &[], &form)
        .expect("token request")
}

#[test]
fn datacenter_pkce_mismatch_is_refused_and_burns_the_code() {
    let fake = datacenter();
    let code = datacenter_code(&fake);
    let wrong = "another-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

    let refused = datacenter_exchange(&fake, &code, Some(wrong));
    assert_eq!(refused.status, 400);
    assert_eq!(json(&refused)["error"], "invalid_grant");
    assert!(json(&refused)["error_description"].as_str().unwrap_or_default().contains("code_verifier"));

    let reused = datacenter_exchange(&fake, &code, Some(VERIFIER));
    assert_eq!(reused.status, 400);

    let code = datacenter_code(&fake);
    let missing = datacenter_exchange(&fake, &code, None);
    assert_eq!(json(&missing)["error"], "invalid_grant");
    assert_eq!(fake.rejected_grants(), 3);
    assert_eq!(fake.access_tokens_issued(), 0);
}

#[test]
fn refresh_tokens_rotate_and_each_works_once() {
    let fake = cloud();
    let first = fake.issue_refresh_token("alice", CLIENT_ID);

    let answer = refresh(&fake, &first);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let second = json(&answer)["refresh_token"].as_str().expect("a new refresh token").to_owned();
    assert_ne!(second, first);

    let reused = refresh(&fake, &first);
    assert_eq!(reused.status, 400);
    assert_eq!(json(&reused)["error"], "invalid_grant");
    assert_eq!(fake.rejected_grants(), 1);

    let answer = refresh(&fake, &second);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(refresh(&fake, &second).status, 400);
    assert_eq!(fake.rejected_grants(), 2);
    assert_eq!(fake.refresh_tokens_issued(), 2);
    assert_eq!(fake.access_tokens_issued(), 2);
}

#[test]
fn a_dead_refresh_token_is_answered_in_the_spelling_the_test_chose() {
    use bitbucket_test_support::fake::DeadRefreshSpelling;
    let fake = cloud();
    let first = fake.issue_refresh_token("alice", CLIENT_ID);
    assert_eq!(refresh(&fake, &first).status, 200);
    fake.set_dead_refresh_spelling(DeadRefreshSpelling::InvalidRequest);
    let reused = refresh(&fake, &first);
    assert_eq!(reused.status, 400);
    assert_eq!(json(&reused)["error"], "invalid_request");
    assert_eq!(json(&reused)["error_description"], "Invalid refresh_token");
    assert_eq!(fake.rejected_grants(), 1);
    fake.set_dead_refresh_spelling(DeadRefreshSpelling::InvalidGrant);
    assert_eq!(json(&refresh(&fake, &first))["error"], "invalid_grant");
}

#[test]
fn cloud_refresh_tokens_unused_for_three_months_are_dead() {
    use bitbucket_test_support::fake::CLOUD_UNUSED_REFRESH_LIFETIME;
    use std::time::Duration;
    let fake = cloud();
    let young = fake.issue_refresh_token("alice", CLIENT_ID);
    let old = fake.issue_refresh_token("alice", CLIENT_ID);
    assert!(fake.age_refresh_token(&young, CLOUD_UNUSED_REFRESH_LIFETIME - Duration::from_secs(3600)));
    assert!(fake.age_refresh_token(&old, CLOUD_UNUSED_REFRESH_LIFETIME + Duration::from_secs(60)));
    assert!(!fake.age_refresh_token("not-issued", Duration::ZERO));
    assert_eq!(refresh(&fake, &young).status, 200, "younger than 3 months: works");
    let expired = refresh(&fake, &old);
    assert_eq!(expired.status, 400);
    assert_eq!(json(&expired)["error"], "invalid_grant");
    assert_eq!(fake.rejected_grants(), 1);
}

#[test]
fn older_cloud_token_responses_say_scopes() {
    let fake = cloud();
    fake.set_legacy_scopes_field(true);
    let answer = refresh(&fake, &fake.issue_refresh_token("alice", CLIENT_ID));
    let body = json(&answer);
    assert_eq!(body["scopes"], "repository:write account");
    assert!(body.get("scope").is_none());
}

#[test]
fn token_endpoint_wants_the_client_in_basic_auth() {
    let fake = cloud();
    let token = fake.issue_refresh_token("alice", CLIENT_ID);
    let in_body = client::post_form(
        &format!("{}/site/oauth2/access_token", fake.base_url()),
        &[],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &token),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
    )
    .expect("token request");
    assert_eq!(in_body.status, 401);
    assert_eq!(json(&in_body)["error"], "invalid_client");
    // The refused request did not use the refresh token up.
    assert_eq!(refresh(&fake, &token).status, 200);
}

#[test]
fn deny_redirects_with_access_denied_and_the_state() {
    let fake = cloud();
    let url = authorize_url(&fake, "/site/oauth2/authorize", "state-2", VERIFIER);

    let location = fake.consent(&url, Consent::Deny);

    assert_eq!(query_value(&location, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_value(&location, "state").as_deref(), Some("state-2"));
    assert_eq!(query_value(&location, "code"), None);
}

#[test]
fn consent_page_has_grant_and_deny_buttons_and_refuses_foreign_redirects() {
    let fake = cloud();
    fake.add_user(User::new("bob", "bob@example.com"));
    fake.set_consenting_user("bob");
    let page = client::get(&authorize_url(&fake, "/site/oauth2/authorize", "s", VERIFIER)).expect("page");
    let html = page.text();
    assert!(html.contains("id=\"grant\"") && html.contains("id=\"deny\""));
    assert!(html.contains("Signed in as bob"));

    let foreign = authorize_url(&fake, "/site/oauth2/authorize", "s", VERIFIER)
        .replace("localhost%3A34106", "evil.example");
    let refused = client::get(&foreign).expect("page");
    assert_eq!(refused.status, 400);
    assert!(refused.text().contains("Invalid redirect_uri"));
}

#[test]
fn client_credentials_only_for_private_consumers() {
    let fake = cloud();
    let public = cloud_token(&fake, &[("grant_type", "client_credentials")]);
    assert_eq!(public.status, 400);
    assert_eq!(json(&public)["error"], "unauthorized_client");

    fake.add_consumer_private("ci-key", "ci-secret", "http://localhost:34106/");
    let answer = client::post_form(
        &format!("{}/site/oauth2/access_token", fake.base_url()),
        &[("Authorization", &basic_auth("ci-key", "ci-secret"))],
        &[("grant_type", "client_credentials")],
    )
    .expect("token request");
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = json(&answer);
    assert!(body.get("refresh_token").is_none());
    assert!(body["access_token"].as_str().unwrap_or_default().len() >= 2600);
}

#[test]
fn jwt_grant_accepts_registered_connect_apps() {
    let fake = cloud();
    fake.add_connect_app("my-connect-app");
    let jwt = |iss: &str| {
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"iss":"{iss}","sub":"x"}}"#));
        format!("eyJhbGciOiJIUzI1NiJ9.{payload}.signature")
    };
    let grant = |iss: &str| {
        client::post_form(
            &format!("{}/site/oauth2/access_token", fake.base_url()),
            &[("Authorization", &format!("JWT {}", jwt(iss)))],
            &[("grant_type", "urn:bitbucket:oauth2:jwt")],
        )
        .expect("token request")
    };

    let accepted = grant("my-connect-app");
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    assert!(json(&accepted)["access_token"].is_string());
    assert_eq!(grant("someone-else").status, 401);
}

#[test]
fn expires_in_is_configurable() {
    let fake = cloud();
    fake.set_expires_in(90);
    let token = fake.issue_refresh_token("alice", CLIENT_ID);
    assert_eq!(json(&refresh(&fake, &token))["expires_in"], 90);
}

#[test]
fn datacenter_code_flow_with_client_in_the_form() {
    let fake = FakeBitbucket::start(Mode::DataCenter { context_path: "/bitbucket".into() });
    fake.add_user(User::new("bob", "bob@example.com"));
    fake.add_consumer(CLIENT_ID, CLIENT_SECRET, "http://localhost:34106/");
    let url = authorize_url(&fake, "/rest/oauth2/latest/authorize", "dc", VERIFIER);
    let location = fake.consent(&format!("{url}&scope=REPO_WRITE"), Consent::Grant);
    let code = query_value(&location, "code").expect("code");

    let answer = client::post_form(
        &format!("{}/rest/oauth2/latest/token", fake.base_url()),
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .expect("token request");

    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = json(&answer);
    assert_eq!(body["scope"], "REPO_WRITE");
    let access = body["access_token"].as_str().expect("access token");
    let whoami = client::request(
        "GET",
        &format!("{}/plugins/servlet/applinks/whoami", fake.base_url()),
        &[("Authorization", &format!("Bearer {access}"))],
        &[],
    )
    .expect("whoami");
    assert_eq!(whoami.text(), "bob");
    assert_eq!(fake.count(RequestKind::Token), 1);
    assert_eq!(fake.count(RequestKind::Rest), 1);
}
