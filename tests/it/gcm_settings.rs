//! Git Credential Manager's setting names carried over: its Cloud consumer and redirect URI
//! in git config and in the environment sign in through the browser, and `GCM_TRACE` writes
//! the same redacted trace as `GIT_BITBUCKET_TRACE` (`GCM_TRACE_SECRETS` is ignored).

use crate::common::{BrowserSignIn, CLIENT_ID, CLIENT_SECRET, Setup, field};
use bitbucket_test_support::{Consent, client};

/// A Cloud set-up whose consumer and port are not given under this helper's names.
fn setup_without_our_consumer_settings() -> Setup {
    let setup = Setup::cloud();
    for key in ["bitbucketOAuthClientId", "bitbucketOAuthClientSecret", "bitbucketOAuthRedirectPort"] {
        setup.env.git(setup.env.path(), &["config", "--global", "--unset", &format!("credential.{key}")]);
    }
    setup
}

/// Sign in through a recording browser; returns the authorize URL and `get`'s output.
fn browser_sign_in(setup: &Setup, env: &[(&str, &str)]) -> (url::Url, std::process::Output) {
    let BrowserSignIn { child, url, .. } = setup.start_browser_sign_in(env);
    let back = client::get(&setup.consent_callback(&url, Consent::Grant)).unwrap();
    assert_eq!(back.status, 200);
    let out = child.wait_with_output().unwrap();
    (url::Url::parse(&url).unwrap(), out)
}

fn query(url: &url::Url, name: &str) -> String {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
}

#[test]
fn gcm_cloud_consumer_and_redirect_uri_in_git_config_sign_in() {
    let setup = setup_without_our_consumer_settings();
    setup.env.config("credential.cloudOAuthClientId", CLIENT_ID);
    setup.env.config("credential.cloudOAuthClientSecret", CLIENT_SECRET);
    setup.env.config("credential.cloudOAuthRedirectUri", &format!("http://localhost:{}/", setup.port));
    let (url, out) = browser_sign_in(&setup, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(query(&url, "client_id"), CLIENT_ID);
    assert_eq!(query(&url, "redirect_uri"), format!("http://localhost:{}/", setup.port));
    assert_eq!(field(&out, "username"), Some("alice"));
    assert!(!stderr.contains(CLIENT_SECRET));
}

#[test]
fn gcm_cloud_consumer_and_redirect_uri_in_the_environment_sign_in() {
    let setup = setup_without_our_consumer_settings();
    let redirect = format!("http://127.0.0.1:{}/", setup.port);
    let env = [
        ("GCM_BITBUCKET_CLOUD_CLIENTID", CLIENT_ID),
        ("GCM_BITBUCKET_CLOUD_CLIENTSECRET", CLIENT_SECRET),
        ("GCM_BITBUCKET_CLOUD_OAUTH_REDIRECTURI", redirect.as_str()),
    ];
    let (url, out) = browser_sign_in(&setup, &env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(query(&url, "client_id"), CLIENT_ID);
    assert_eq!(query(&url, "redirect_uri"), format!("http://localhost:{}/", setup.port));
}

#[test]
fn a_gcm_redirect_uri_that_is_not_loopback_is_a_one_line_error_naming_it() {
    let setup = setup_without_our_consumer_settings();
    setup.env.config("credential.cloudOAuthRedirectUri", "https://example.com/callback");
    let out = setup.helper("get", &setup.fill_input(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("git-credential-bitbucket: "), "{stderr}");
    assert!(stderr.contains("credential.cloudOAuthRedirectUri"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn gcm_interactive_never_answers_nothing_without_opening_a_browser() {
    let setup = Setup::cloud();
    let dir = tempfile::tempdir().unwrap();
    let (browser, opened) = crate::common::recording_browser(dir.path());
    let mut get = setup.env.command(crate::common::HELPER);
    get.arg("get").env_remove("GIT_TERMINAL_PROMPT").env("BROWSER", &browser).env("GCM_INTERACTIVE", "never");
    let out = crate::common::run_with_input(get, setup.fill_input());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(!opened.exists(), "no browser was opened");
    assert_eq!(setup.fake.count(bitbucket_test_support::RequestKind::Authorize), 0);
}

#[test]
fn gcm_trace_writes_the_redacted_trace_and_gcm_trace_secrets_changes_nothing() {
    let setup = Setup::cloud();
    let (access, refresh) = setup.seed_oauth(3600);
    let trace = setup.env.path().join("gcm-trace");
    let trace_path = trace.display().to_string();
    let env = [("GCM_TRACE", trace_path.as_str()), ("GCM_TRACE_SECRETS", "1")];
    let input = format!("protocol=http\nhost={}\nusername=alice\n\n", setup.fake.host());
    let out = setup.helper("get", &input, &env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(field(&out, "password") == Some(access.as_str()), "answered from the store");
    let text = std::fs::read_to_string(&trace).expect("GCM_TRACE names the trace file");
    assert!(text.contains("is fresh: answering"), "{text}");
    assert!(text.contains("GCM_TRACE_SECRETS is ignored"), "{text}");
    for secret in [access.as_str(), refresh.as_str(), CLIENT_SECRET] {
        assert!(!text.contains(secret), "a secret reached the trace");
    }
}
