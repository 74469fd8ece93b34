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
fn an_api_token_without_read_user_gets_403_from_the_user_endpoint_and_still_clones() {
    let fake = FakeBitbucket::start(Mode::Cloud);
    let git_scopes = ["read:repository:bitbucket", "write:repository:bitbucket"];
    fake.add_user(User::new("erin", "erin@example.com").with_scoped_api_token("git-only", &git_scopes));
    fake.add_user(
        User::new("fay", "fay@example.com").with_scoped_api_token("user-only", &["read:user:bitbucket"]),
    );
    let url = format!("{}/2.0/user", fake.base_url());

    let forbidden = get(&url, Some(&basic_auth("erin@example.com", "git-only")));
    assert_eq!(forbidden.status, 403);
    let body = forbidden.json().expect("JSON");
    assert_eq!(body["error"]["detail"]["required"][0], "read:user:bitbucket");
    assert_eq!(body["error"]["detail"]["granted"].as_array().map(Vec::len), Some(2));
    assert_eq!(get(&url, Some(&basic_auth("fay@example.com", "user-only"))).status, 200);

    // git: the repository scopes are what counts; an email is never a git username.
    fake.create_repo("team/repo");
    let refs = format!("{}/team/repo.git/info/refs?service=git-upload-pack", fake.base_url());
    let push = format!("{}/team/repo.git/info/refs?service=git-receive-pack", fake.base_url());
    assert_eq!(get(&refs, Some(&basic_auth("x-bitbucket-api-token-auth", "git-only"))).status, 200);
    assert_eq!(get(&refs, Some(&basic_auth("erin", "git-only"))).status, 200);
    assert_eq!(get(&push, Some(&basic_auth("erin", "git-only"))).status, 200);
    assert_eq!(get(&refs, Some(&basic_auth("erin@example.com", "git-only"))).status, 401);
    assert_eq!(get(&refs, Some(&basic_auth("x-bitbucket-api-token-auth", "user-only"))).status, 401);
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
fn datacenter_names_the_user_in_x_ausername_and_whoami_can_say_nothing_to_bearer() {
    let fake = FakeBitbucket::start(Mode::DataCenter { context_path: String::new() });
    fake.add_user(User::new("bob", "bob@example.com"));
    fake.create_repo("PROJ/repo");
    let base = fake.base_url();
    let whoami = format!("{base}/plugins/servlet/applinks/whoami");
    let recent = format!("{base}/rest/api/1.0/profile/recent/repos");
    let bearer = format!("Bearer {}", fake.issue_access_token("bob", 60));

    let answer = get(&whoami, Some(&bearer));
    assert_eq!((answer.text().as_str(), answer.header("X-AUSERNAME")), ("bob", Some("bob")));
    assert_eq!(get(&whoami, None).header("X-AUSERNAME"), Some("anonymous"));
    assert_eq!(get(&recent, Some("Bearer wrong")).header("X-AUSERNAME"), None);

    fake.set_whoami_empty_for_bearer(true);
    let answer = get(&whoami, Some(&bearer));
    assert_eq!((answer.status, answer.text().as_str()), (200, ""));
    assert_eq!(answer.header("X-AUSERNAME"), Some("bob"), "the header still names the user");

    fake.set_ausername_header(false);
    assert_eq!(get(&recent, Some(&bearer)).header("X-AUSERNAME"), None);
}

#[test]
fn datacenter_takes_an_oauth_token_over_basic_with_any_username() {
    let fake = FakeBitbucket::start(Mode::DataCenter { context_path: String::new() });
    fake.add_user(User::new("bob", "bob@example.com"));
    fake.create_repo("PROJ/repo");
    let token = fake.issue_access_token("bob", 60);
    let refs = format!("{}/scm/PROJ/repo.git/info/refs?service=git-upload-pack", fake.base_url());
    for username in ["bob", "OAUTH_USERNAME", "anyone"] {
        let answer = get(&refs, Some(&basic_auth(username, &token)));
        assert_eq!(answer.status, 200, "{username}");
        assert_eq!(answer.header("X-AUSERNAME"), Some("bob"));
    }
    let expired = fake.issue_access_token("bob", 0);
    assert_eq!(get(&refs, Some(&basic_auth("OAUTH_USERNAME", &expired))).status, 401);
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
