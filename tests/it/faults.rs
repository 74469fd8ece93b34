//! The fault table of docs/security.md: a broken or hostile server, a hostile or noisy
//! callback, a store that is unavailable or unwritable, an interrupted write. Each test checks
//! the exit code, the one-line message, and that nothing stored was lost or leaked.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::*;
use bitbucket_test_support::{Consent, Fault, FaultTimes, KeyringSession, RequestKind, SECRET_MARK, client};

const TOKEN_PATH: &str = "/site/oauth2/access_token";

/// Refresh through a broken token endpoint: exit 1, one line naming the problem, the
/// refresh token and the (expired) access token still stored, no secret in stderr.
fn refresh_fails_cleanly(fault: Fault, extra_env: &[(&str, &str)], expected: &str) {
    let setup = Setup::cloud();
    let (access, refresh) = setup.seed_oauth(0);
    let before = setup.stored();
    setup.fake.inject(TOKEN_PATH, fault, FaultTimes::Always);
    let mut env = vec![("GIT_TERMINAL_PROMPT", "0")];
    env.extend_from_slice(extra_env);
    let out = setup.helper("get", &alice_input(&setup), &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("git-credential-bitbucket: ") && stderr.contains(expected), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(!stderr.contains(SECRET_MARK), "no secret in the message");
    assert_eq!(setup.stored(), before, "nothing lost: the store is unchanged");
    assert!(before.contains(&refresh) && before.contains(&access));
}

#[test]
fn token_endpoint_500_fails_cleanly_and_keeps_the_refresh_token() {
    refresh_fails_cleanly(Fault::Status(500), &[], "access_token answered HTTP 500");
}

#[test]
fn token_endpoint_429_fails_cleanly_and_keeps_the_refresh_token() {
    refresh_fails_cleanly(Fault::Status(429), &[], "answered HTTP 429");
}

#[test]
fn token_endpoint_garbage_fails_cleanly() {
    refresh_fails_cleanly(Fault::Garbage, &[], "not the expected JSON");
}

#[test]
fn slow_token_endpoint_times_out_within_the_bound() {
    // The fake would answer after 20 s; the helper gives up after 1 s.
    refresh_fails_cleanly(
        Fault::Delay(Duration::from_secs(20)),
        &[("GIT_BITBUCKET_HTTP_TIMEOUT", "1")],
        "timed out",
    );
}

#[test]
fn redirect_to_another_host_is_not_followed_and_carries_no_secret() {
    let thief = TcpListener::bind("127.0.0.1:0").unwrap();
    let thief_port = thief.local_addr().unwrap().port();
    let visits = Arc::new(AtomicUsize::new(0));
    let counter = visits.clone();
    // Blocks until something connects; the thread ends with the test process.
    std::thread::spawn(move || {
        for _ in thief.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    refresh_fails_cleanly(
        Fault::RedirectTo(format!("http://127.0.0.1:{thief_port}/steal")),
        &[],
        "not following it",
    );
    assert_eq!(visits.load(Ordering::SeqCst), 0, "nothing went to the other host");
}

#[test]
fn tls_refused_is_a_clear_network_error() {
    let setup = Setup::cloud();
    setup.seed_oauth(0);
    let before = setup.stored();
    // The fake speaks plain HTTP: a TLS handshake with it fails.
    let https = format!("https://{}", setup.fake.host());
    let out = setup.helper(
        "get",
        &alice_input(&setup),
        &[("GIT_TERMINAL_PROMPT", "0"), ("GIT_BITBUCKET_CLOUD_URL", https.as_str())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("could not reach https://"), "{stderr}");
    assert_eq!(setup.stored(), before);
}

#[test]
fn user_endpoint_failure_after_sign_in_stores_nothing() {
    let setup = Setup::cloud();
    setup.fake.inject("/2.0/user", Fault::Status(500), FaultTimes::Always);
    let BrowserSignIn { child, url, .. } = setup.start_browser_sign_in(&[]);
    client::get(&setup.consent_callback(&url, Consent::Grant)).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("2.0/user answered HTTP 500"), "{stderr}");
    assert_eq!(setup.stored(), "", "no token without its owner");
}

#[test]
fn replayed_callback_of_an_earlier_attempt_is_refused() {
    let setup = Setup::cloud();
    // First attempt: signed in; remember the address the browser was sent to.
    let BrowserSignIn { child, url, browser, opened, dir: _dir } = setup.start_browser_sign_in(&[]);
    let first = setup.consent_callback(&url, Consent::Grant);
    assert_eq!(client::get(&first).unwrap().status, 200);
    assert!(child.wait_with_output().unwrap().status.success());
    std::fs::remove_file(&opened).unwrap();
    // Second attempt (a new sign-in): the old callback is replayed and refused.
    let mut cmd = setup.env.command(HELPER);
    cmd.args(["login", &format!("http://{}", setup.fake.host()), "--method", "oauth"])
        .env("BROWSER", &browser)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut second = cmd.spawn().unwrap();
    let url = wait_for_file(&opened, &mut second);
    assert_eq!(client::get(&first).unwrap().status, 400, "replay refused");
    let fresh = setup.consent_callback(&url, Consent::Grant);
    assert_eq!(client::get(&fresh).unwrap().status, 200);
    let out = second.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(setup.fake.count(RequestKind::Token), 2, "the replayed code was never exchanged");
}

#[test]
fn callback_flood_is_answered_400_and_the_real_callback_still_wins() {
    let setup = Setup::cloud();
    let BrowserSignIn { child, url, .. } = setup.start_browser_sign_in(&[]);
    let mut refused = 0;
    for i in 0..300 {
        let forged = client::get(&format!("http://127.0.0.1:{}/?code=c{i}&state=s{i}", setup.port)).unwrap();
        refused += usize::from(forged.status == 400);
    }
    assert_eq!(refused, 300);
    assert_eq!(client::get(&setup.consent_callback(&url, Consent::Grant)).unwrap().status, 200);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(setup.fake.count(RequestKind::Token), 1);
}

#[test]
fn locked_keyring_is_a_clear_error_naming_the_plaintext_store() {
    let session = KeyringSession::start();
    let setup = Setup::cloud();
    let mut env: Vec<(String, String)> = session.bus_env();
    env.push(("GIT_BITBUCKET_CREDENTIAL_STORE".into(), "keyring".into()));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let stored = setup.helper(
        "store",
        &format!("protocol=http\nhost={}\nusername=alice\npassword=tok\n\n", setup.fake.host()),
        &env_refs,
    );
    assert!(stored.status.success(), "{}", String::from_utf8_lossy(&stored.stderr));
    let lock = Command::new("dbus-send")
        .envs(session.bus_env())
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
            "array:objpath:/org/freedesktop/secrets/collection/login",
        ])
        .output()
        .unwrap();
    assert!(lock.status.success(), "{}", String::from_utf8_lossy(&lock.stderr));
    let out = setup.helper("get", &alice_input(&setup), &env_refs);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("credentialStore plaintext"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn unwritable_plaintext_store_is_a_clear_error() {
    let setup = Setup::cloud();
    let blocker = setup.env.home().join("not-a-directory");
    std::fs::write(&blocker, "a file where the store's directory should be").unwrap();
    let path = blocker.join("credentials.json");
    let out = setup.helper(
        "store",
        &format!("protocol=http\nhost={}\nusername=alice\npassword=tok\n\n", setup.fake.host()),
        &[("GIT_BITBUCKET_PLAINTEXT_STORE", path.to_str().unwrap())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the plaintext store") && stderr.contains("not-a-directory"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
    assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "a file where the store's directory should be");
}

#[test]
fn killed_between_refresh_and_access_write_the_next_get_recovers() {
    let setup = Setup::cloud();
    let (expired, _) = setup.seed_oauth(0);
    // What a process killed right after the refresh-first write leaves: the rotated refresh
    // token is stored, the access token is still the old, expired one.
    let rotated = client::post_form(
        &format!("{}{TOKEN_PATH}", setup.fake.base_url()),
        &[("Authorization", &client::basic_auth(CLIENT_ID, CLIENT_SECRET))],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &setup.fake.last_refresh_token("alice").unwrap()),
        ],
    )
    .unwrap();
    assert_eq!(rotated.status, 200);
    let new_refresh = rotated.json().unwrap()["refresh_token"].as_str().unwrap().to_owned();
    let path = setup.store_file();
    let mut file: serde_json::Value = serde_json::from_str(&setup.stored()).unwrap();
    let key = format!("git:http://alice@{}/refresh_token", setup.fake.host());
    file["entries"][&key]["alice"]["secret"] = serde_json::Value::String(new_refresh.clone());
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();

    let out = setup.helper("get", &alice_input(&setup), &[("GIT_TERMINAL_PROMPT", "0")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let password = field(&out, "password").unwrap();
    assert_ne!(password, expired);
    assert_eq!(password, setup.fake.last_access_token("alice").unwrap());
    assert_eq!(setup.fake.rejected_grants(), 0);
}

#[test]
fn children_get_no_secret_in_argv_or_environment() {
    let setup = Setup::cloud();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("browser-dump");
    let opened = dir.path().join("opened");
    let browser = dir.path().join("browser");
    write_script(
        &browser,
        &format!(
            "#!/bin/sh\n{{ printf '%s\\n' \"$@\"; env; }} > {0}\nprintf '%s' \"$1\" > {1}.tmp && mv {1}.tmp {1}\n",
            dump.display(),
            opened.display()
        ),
    );
    // The client secret comes from the environment here: the browser must not inherit it.
    let mut child = spawn_get(
        &setup,
        &[("BROWSER", browser.to_str().unwrap()), ("BITBUCKET_OAUTH_CLIENT_SECRET", CLIENT_SECRET)],
    );
    let url = wait_for_file(&opened, &mut child);
    let location = setup.consent_callback(&url, Consent::Grant);
    client::get(&location).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dumped = std::fs::read_to_string(&dump).unwrap();
    assert!(dumped.contains("code_challenge="), "the dump holds the sign-in URL");
    assert!(!dumped.contains(CLIENT_SECRET), "no client secret in the browser's argv or environment");
    assert!(!dumped.contains(SECRET_MARK), "no token or code in the browser's argv or environment");
}

/// `get` for an https host that announces Data Center's realm, with a Data Center OAuth client
/// and base URL configured globally (not for that host).
fn realm_host_get(setup: &Setup, host: &str, browser: &str) -> std::process::Output {
    setup.env.config("credential.bitbucketDataCenterOAuthClientId", "dc-client");
    setup.env.config("credential.bitbucketDataCenterOAuthClientSecret", "dc-client-secret");
    setup.env.config("credential.bitbucketDataCenterUrl", "https://bitbucket.corp.example/context");
    let input = format!("protocol=https\nhost={host}\nwwwauth[]=Basic realm=\"Atlassian Bitbucket\"\n\n");
    setup.helper(
        "get",
        &input,
        &[("BROWSER", browser), ("GIT_TERMINAL_PROMPT", "1"), ("GIT_BITBUCKET_OAUTH_TIMEOUT", "1")],
    )
}

#[test]
fn a_host_recognised_by_its_realm_never_gets_another_instances_client_or_base_url() {
    let setup = Setup::cloud();
    let dir = tempfile::tempdir().unwrap();
    let (browser, opened) = recording_browser(dir.path());
    let out = realm_host_get(&setup, "impostor.example", &browser);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "nothing answered");
    assert!(!opened.exists(), "no sign-in was started with the other instance's client");

    // The same settings for the instance itself: the browser sign-in is offered.
    let out = realm_host_get(&setup, "bitbucket.corp.example", &browser);
    let url = std::fs::read_to_string(&opened).expect("the browser was opened");
    assert!(url.starts_with("https://bitbucket.corp.example/context/rest/oauth2/latest/authorize?"), "{url}");
    assert!(url.contains("client_id=dc-client") && !url.contains("dc-client-secret"), "{url}");
    assert_eq!(out.status.code(), Some(1), "times out: nobody signs in");
}
