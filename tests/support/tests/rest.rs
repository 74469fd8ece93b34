//! The fake's REST endpoints follow `bitbucket-api.md`: Cloud `/2.0/user` wants the email with
//! an API token, 403s a password with two-step verification; Data Center answers some
//! endpoints anonymously and needs a user for `profile/recent/repos`.

use bitbucket_test_support::client::{self, HttpResponse, basic_auth};
use bitbucket_test_support::{FakeBitbucket, Mode, RequestKind, User};

fn get(url: &str, authorization: Option<&str>) -> HttpResponse {
    let headers: Vec<(&str, &str)> =
        authorization.map(|value| vec![("Authorization", value)]).unwrap_or_default();
    client::request("GET", url, &headers, &[]).expect("request")
}

#[test]
fn cloud_user_endpoint_applies_the_credential_rules() {
    let fake = FakeBitbucket::start(Mode::Cloud);
    fake.add_user(User::new("alice", "alice@example.com").with_api_token("api-token"));
    fake.add_user(User::new("carol", "carol@example.com").with_password("carol-pw"));
    fake.add_user(User::new("dave", "dave@example.com").with_password("dave-pw").with_two_step());
    let url = format!("{}/2.0/user", fake.base_url());
    let status = |authorization: Option<&str>| get(&url, authorization).status;

    let with_email = get(&url, Some(&basic_auth("alice@example.com", "api-token")));
    assert_eq!(with_email.status, 200);
    let user = with_email.json().expect("JSON");
    assert_eq!(user["username"], "alice");
    for field in ["display_name", "account_id", "uuid"] {
        assert!(user[field].is_string(), "{field} missing: {user}");
    }
    // Git accepts username + API token, REST does not: the trap the helper must avoid.
    assert_eq!(status(Some(&basic_auth("alice", "api-token"))), 401);
    assert_eq!(status(Some(&basic_auth("carol", "carol-pw"))), 200);
    assert_eq!(status(Some(&basic_auth("dave", "dave-pw"))), 403);
    assert_eq!(status(Some(&basic_auth("dave", "wrong"))), 401);
    assert_eq!(status(None), 401);
    let bearer = format!("Bearer {}", fake.issue_access_token("alice", 60));
    assert_eq!(status(Some(&bearer)), 200);
    let expired = format!("Bearer {}", fake.issue_access_token("alice", 0));
    assert_eq!(status(Some(&expired)), 401);
    assert_eq!(fake.count(RequestKind::Rest), 8);
}

#[test]
fn datacenter_endpoints_distinguish_anonymous_users() {
    let fake = FakeBitbucket::start(Mode::DataCenter { context_path: "/bitbucket".into() });
    fake.add_user(User::new("bob", "bob@example.com").with_password("bob-pw"));
    fake.add_dc_personal_token("bob", "BBDC-personal");
    fake.create_repo("PROJ/repo");
    let base = fake.base_url();
    let personal = basic_auth("bob", "BBDC-personal");

    let repos = get(&format!("{base}/rest/api/1.0/repos"), None);
    assert_eq!(repos.status, 200);
    assert_eq!(repos.json().expect("JSON")["values"][0]["slug"], "repo");
    let recent = format!("{base}/rest/api/1.0/profile/recent/repos");
    assert_eq!(get(&recent, None).status, 401);
    assert_eq!(get(&recent, Some(&personal)).status, 200);
    assert_eq!(get(&recent, Some("Bearer BBDC-personal")).status, 200);
    assert_eq!(get(&recent, Some(&basic_auth("bob", "wrong"))).status, 401);

    let whoami = format!("{base}/plugins/servlet/applinks/whoami");
    assert_eq!(get(&whoami, Some("Bearer BBDC-personal")).text(), "bob");
    assert_eq!(get(&whoami, None).text(), "");

    let user = get(&format!("{base}/rest/api/latest/users/bob"), Some(&personal));
    assert_eq!(user.status, 200);
    assert_eq!(user.json().expect("JSON")["emailAddress"], "bob@example.com");
    assert_eq!(get(&format!("{base}/rest/api/latest/users/nobody"), Some(&personal)).status, 404);
    assert!(fake.requests().iter().all(|r| r.kind == RequestKind::Rest && r.path.starts_with("/bitbucket/")));
}

#[test]
fn datacenter_oauth_provider_probe_is_401_when_present_and_404_when_absent() {
    let fake = FakeBitbucket::start(Mode::DataCenter { context_path: "/ctx".to_owned() });
    fake.add_user(User::new("alice", "alice@example.com"));
    fake.add_dc_personal_token("alice", "alice-token");
    let url = format!("{}/rest/oauth2/1.0/client", fake.base_url());
    assert_eq!(get(&url, None).status, 401, "present: listing clients needs an administrator");
    assert_eq!(get(&url, Some(&basic_auth("alice", "alice-token"))).status, 403, "alice is no administrator");
    fake.set_oauth_provider(false);
    assert_eq!(get(&url, None).status, 404, "absent on a server older than 7.20");
    assert_eq!(fake.count(RequestKind::Rest), 3);

    // Login options list the login form only by default; IDP is single sign-on, not OAuth.
    let options = get(&format!("{}/rest/authconfig/1.0/login-options", fake.base_url()), None);
    assert_eq!(options.json().expect("JSON")["results"], serde_json::json!([{ "type": "LOGIN_FORM" }]));
}
