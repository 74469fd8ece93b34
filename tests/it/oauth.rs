//! Browser sign-in, refresh with rotating refresh tokens and the lock,
//! client credentials, and every way a sign-in can fail — against the fake Bitbucket, with
//! real git, and a real headless Chromium pressing the consent button.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};

use crate::common::*;
use bitbucket_test_support::{Consent, RequestKind, client, support_bin};

#[test]
fn headless_chromium_signs_in_and_git_clones_then_never_asks_again() {
    let setup = Setup::cloud();
    let work = tempfile::tempdir().unwrap();
    let trace = work.path().join("trace");
    let consent_log = work.path().join("consent-log");
    let browser = support_bin("chromium-consent");
    let clone_dir = work.path().join("clone");
    let remote = setup.fake.git_url("team/repo");

    let mut clone = setup.env.command("git");
    clone
        .args(["clone", &remote, clone_dir.to_str().unwrap()])
        .env_remove("GIT_TERMINAL_PROMPT")
        .env("BROWSER", &browser)
        .env("CONSENT_LOG", &consent_log)
        .env("GIT_BITBUCKET_TRACE", &trace);
    let out = clone.stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "clone failed: {stderr}");
    let log = finished_consent_log(&consent_log);
    eprintln!("chromium-consent steps:\n{log}");
    assert!(log.contains("clicked"), "{log}");
    assert_eq!(setup.fake.count(RequestKind::Token), 1, "one code exchange");
    assert_eq!(setup.fake.count(RequestKind::Rest), 1, "one user lookup");

    let stored = setup.stored();
    assert!(stored.contains("\"kind\": \"oauth\""), "{stored}");
    assert!(stored.contains("refresh_token"), "{stored}");

    // No secret in stderr or the trace.
    let access = setup.fake.last_access_token("alice").unwrap();
    let refresh = setup.fake.last_refresh_token("alice").unwrap();
    let trace_text = std::fs::read_to_string(&trace).unwrap();
    for secret in [access.as_str(), refresh.as_str(), CLIENT_SECRET] {
        assert!(!stderr.contains(secret), "a secret reached git's stderr");
        assert!(!trace_text.contains(secret), "a secret reached the trace");
    }
    assert!(trace_text.contains("token request (authorization code) -> HTTP 200"), "{trace_text}");

    // From now on: no prompt, no browser, no network but git's own.
    setup.fake.reset_log();
    let again = work.path().join("again");
    let out = setup
        .env
        .command("git")
        .args(["clone", &remote, again.to_str().unwrap()])
        .env("BROWSER", "/bin/false")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(setup.fake.count(RequestKind::Token), 0);
    assert_eq!(setup.fake.count(RequestKind::Rest), 0);
    assert_eq!(setup.fake.count(RequestKind::Authorize), 0);
}

#[test]
fn fifty_parallel_fills_on_an_expired_token_cost_one_refresh() {
    let setup = Setup::cloud();
    let (expired, _) = setup.seed_oauth(0);
    let children: Vec<Child> = (0..50)
        .map(|_| {
            let mut cmd = setup.env.command("git");
            cmd.args(["credential", "fill"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            let input = alice_input(&setup);
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            child
        })
        .collect();
    let outputs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let passwords: Vec<String> = outputs
        .iter()
        .map(|o| {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            field(o, "password").unwrap().to_owned()
        })
        .collect();
    assert!(passwords.iter().all(|p| *p == passwords[0]), "all 50 got the same token");
    assert_ne!(passwords[0], expired);
    assert_eq!(setup.fake.count(RequestKind::Token), 1, "exactly one refresh request");
    assert_eq!(setup.fake.rejected_grants(), 0);
    // The rotated refresh token was saved: the next refresh works.
    let stored = setup.stored();
    assert!(stored.contains(&setup.fake.last_refresh_token("alice").unwrap()));
}

#[test]
fn refresh_answers_expiry_and_saves_the_rotated_refresh_token() {
    let setup = Setup::cloud();
    let (_, first_refresh) = setup.seed_oauth(0);
    let out = setup.credential("fill", &alice_input(&setup), &[("GIT_TERMINAL_PROMPT", "0")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expiry: u64 = field(&out, "password_expiry_utc").unwrap().parse().unwrap();
    assert!(expiry > unix_now() + 7000, "uses expires_in (7200)");
    let new_refresh = setup.fake.last_refresh_token("alice").unwrap();
    assert_ne!(new_refresh, first_refresh);
    assert_eq!(field(&out, "oauth_refresh_token"), Some(new_refresh.as_str()));
    assert!(!setup.stored().contains(&first_refresh), "the used refresh token is gone");
}

#[test]
fn always_refresh_setting_refreshes_a_fresh_token() {
    let setup = Setup::cloud();
    let (fresh, _) = setup.seed_oauth(3600);
    let input = alice_input(&setup);
    let out = setup.helper("get", &input, &[("GIT_BITBUCKET_ALWAYS_REFRESH_CREDENTIALS", "true")]);
    assert!(out.status.success());
    assert_ne!(field(&out, "password"), Some(fresh.as_str()));
    assert_eq!(setup.fake.count(RequestKind::Token), 1);
    let out = setup.helper("get", &input, &[]);
    assert_eq!(setup.fake.count(RequestKind::Token), 1, "without the setting a fresh token is answered");
    assert!(field(&out, "password").is_some());
}

#[test]
fn rejected_refresh_token_is_deleted_and_nothing_is_answered() {
    let setup = Setup::cloud();
    setup.seed_oauth(0);
    // Use the refresh token behind the helper's back: the stored one is now spent.
    let stored_refresh = setup.fake.last_refresh_token("alice").unwrap();
    let spent = client::post_form(
        &format!("{}/site/oauth2/access_token", setup.fake.base_url()),
        &[("Authorization", &client::basic_auth(CLIENT_ID, CLIENT_SECRET))],
        &[("grant_type", "refresh_token"), ("refresh_token", &stored_refresh)],
    )
    .unwrap();
    assert_eq!(spent.status, 200);
    let input = alice_input(&setup);
    let out = setup.helper("get", &input, &[("GIT_TERMINAL_PROMPT", "0")]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "nothing answered");
    assert!(out.stderr.is_empty(), "stderr is not a terminal: stays empty");
    assert!(!setup.stored().contains(&stored_refresh), "the rejected refresh token was deleted");
}

#[test]
fn client_credentials_token_is_cached_until_it_expires() {
    let setup = Setup::cloud();
    setup.fake.add_consumer_private("ci-key", "ci-secret", "http://localhost/");
    let env = [
        ("GIT_BITBUCKET_AUTHMODES", "clientcredentials"),
        ("BITBUCKET_OAUTH_CLIENT_ID", "ci-key"),
        ("BITBUCKET_OAUTH_CLIENT_SECRET", "ci-secret"),
        ("GIT_TERMINAL_PROMPT", "0"),
    ];
    let input = format!("protocol=http\nhost={}\n\n", setup.fake.host());
    let first = setup.helper("get", &input, &env);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(field(&first, "username"), Some("x-token-auth"));
    let second = setup.helper("get", &input, &env);
    assert_eq!(field(&second, "password"), field(&first, "password"));
    assert_eq!(setup.fake.count(RequestKind::Token), 1, "cached until expiry");
    assert_eq!(setup.fake.count(RequestKind::Authorize), 0, "no browser");
}

#[test]
fn forged_callback_gets_400_and_the_real_one_still_signs_in() {
    let setup = Setup::cloud();
    let BrowserSignIn { child, url, .. } = setup.start_browser_sign_in(&[]);
    let forged = client::get(&format!("http://127.0.0.1:{}/?code=stolen&state=guess", setup.port)).unwrap();
    assert_eq!(forged.status, 400);
    assert!(!forged.text().contains("stolen") && !forged.text().contains("guess"), "nothing reflected");
    let back = client::get(&setup.consent_callback(&url, Consent::Grant)).unwrap();
    assert_eq!(back.status, 200);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(field(&out, "username"), Some("alice"));
    assert!(setup.stored().contains("\"kind\": \"oauth\""));
}

#[test]
fn access_denied_ends_the_attempt_and_stores_nothing() {
    let setup = Setup::cloud();
    let BrowserSignIn { child, url, .. } = setup.start_browser_sign_in(&[]);
    assert_eq!(client::get(&setup.consent_callback(&url, Consent::Deny)).unwrap().status, 200);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("access was denied"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(setup.stored(), "", "nothing stored");
}

#[test]
fn port_in_use_is_a_clear_error_naming_port_and_setting() {
    let setup = Setup::cloud();
    let _taken = TcpListener::bind(("127.0.0.1", setup.port)).unwrap();
    let out =
        setup.helper("get", &setup.fill_input(), &[("BROWSER", "/bin/true"), ("GIT_TERMINAL_PROMPT", "1")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&setup.port.to_string()) && stderr.contains("bitbucketOAuthRedirectPort"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(setup.fake.count(RequestKind::Token), 0);
    assert_eq!(setup.stored(), "");
}

#[test]
fn no_callback_within_the_timeout_is_a_clear_error() {
    let setup = Setup::cloud();
    let out = setup.helper(
        "get",
        &setup.fill_input(),
        &[("BROWSER", "/bin/true"), ("GIT_BITBUCKET_OAUTH_TIMEOUT", "1"), ("GIT_TERMINAL_PROMPT", "1")],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no sign-in arrived within 1 seconds"), "{stderr}");
    assert_eq!(setup.stored(), "");
}

#[test]
fn ctrl_c_while_waiting_ends_cleanly_and_frees_the_port() {
    let setup = Setup::cloud();
    let BrowserSignIn { child, .. } = setup.start_browser_sign_in(&[]);
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(setup.stored(), "");
    TcpListener::bind(("127.0.0.1", setup.port)).expect("the callback port is free again");
}

/// A 403 from `/2.0/user` meant two-step verification while Bitbucket took account passwords
/// (until 2022; GCM dropped the rule then). It means a missing scope now: no switch to the
/// browser, no two-step message; what was typed is left to git, which decides.
#[test]
fn a_403_from_the_user_endpoint_no_longer_switches_to_oauth() {
    let setup = Setup::cloud();
    let (askpass, _) = setup.askpass("forbidden", "alice", "pw");
    let (browser, opened) = recording_browser(setup.tmp.path());
    let out = setup.helper(
        "get",
        &setup.fill_input(),
        &[
            ("GIT_ASKPASS", askpass.to_str().unwrap()),
            ("GIT_BITBUCKET_AUTHMODES", "token,oauth"),
            ("BROWSER", browser.as_str()),
            ("GIT_TERMINAL_PROMPT", "1"),
        ],
    );
    let stderr = stderr(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        setup.fake.requests().iter().filter(|r| r.kind == RequestKind::Rest && r.status == 403).count(),
        1
    );
    assert!(!stderr.to_lowercase().contains("two-step"), "{stderr}");
    assert!(stderr.contains("read:user:bitbucket") && stderr.lines().count() == 1, "{stderr}");
    assert!(!opened.exists(), "no browser");
    assert_eq!(setup.fake.count(RequestKind::Authorize), 0);
    assert_eq!(field(&out, "username"), Some("alice"));
    assert_eq!(setup.stored(), "", "nothing stored before git accepts it");
}

/// Token responses say `scope` today; older Cloud ones said `scopes`: both refresh.
#[test]
fn an_older_token_response_saying_scopes_still_refreshes() {
    let setup = Setup::cloud();
    setup.fake.set_legacy_scopes_field(true);
    setup.seed_oauth(0);
    let out = setup.helper("get", &alice_input(&setup), &[NO_PROMPT]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(field(&out, "password"), setup.fake.last_access_token("alice").as_deref());
    assert_eq!(setup.fake.count(RequestKind::Token), 1);
}

#[test]
fn without_a_consumer_oauth_is_not_offered() {
    let setup = Setup::cloud();
    let out = setup.helper(
        "get",
        &setup.fill_input(),
        &[("BITBUCKET_OAUTH_CLIENT_ID", ""), ("GIT_BITBUCKET_AUTHMODES", "oauth"), ("BROWSER", "/bin/false")],
    );
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(setup.fake.count(RequestKind::Authorize) + setup.fake.count(RequestKind::Token), 0);
}
