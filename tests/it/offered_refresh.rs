//! A refresh token git passes to `get` (git >= 2.41 hands on what a storage helper earlier in
//! the chain returned): used to refresh once when nothing usable is stored, and the result
//! kept, so the helper also works behind `cache` or `libsecret` configured before it.

use crate::common::{HELPER, Setup, field, run_with_input, unix_now};
use bitbucket_test_support::RequestKind;

#[test]
fn get_with_a_refresh_token_in_its_input_refreshes_once_and_keeps_the_result() {
    let setup = Setup::cloud();
    let offered = setup.fake.issue_refresh_token("alice", crate::common::CLIENT_ID);
    let input = format!(
        "protocol=http\nhost={}\nusername=alice\noauth_refresh_token={offered}\n\n",
        setup.fake.host()
    );
    let out = setup.helper("get", &input, &[("GIT_TERMINAL_PROMPT", "0")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let access = setup.fake.last_access_token("alice").expect("the fake issued an access token");
    assert!(field(&out, "password") == Some(access.as_str()), "the refreshed token is answered");
    assert_eq!(setup.fake.count(RequestKind::Token), 1, "one refresh request");
    assert_eq!(setup.fake.rejected_grants(), 0);
    let rotated = setup.fake.last_refresh_token("alice").unwrap();
    assert!(rotated != offered, "Bitbucket rotated the refresh token");
    assert!(setup.stored().contains(&rotated), "the rotated refresh token is kept");

    // Kept: the next get answers from the store, without a token request.
    let plain = format!("protocol=http\nhost={}\nusername=alice\n\n", setup.fake.host());
    let out = setup.helper("get", &plain, &[("GIT_TERMINAL_PROMPT", "0")]);
    assert!(field(&out, "password") == Some(access.as_str()));
    assert_eq!(setup.fake.count(RequestKind::Token), 1, "still one token request");
}

#[test]
fn a_refused_refresh_token_from_git_changes_nothing_and_answers_nothing() {
    let setup = Setup::cloud();
    let input = format!(
        "protocol=http\nhost={}\nusername=alice\noauth_refresh_token=not-a-refresh-token\n\n",
        setup.fake.host()
    );
    let out = setup.helper("get", &input, &[("GIT_TERMINAL_PROMPT", "0")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "nothing to answer with");
    assert_eq!(setup.fake.count(RequestKind::Token), 1, "one refresh attempt");
    assert!(!setup.store_file().exists(), "nothing stored");
}

/// git's own `credential-cache` configured before this helper holds an expired token and its
/// refresh token (as after a sign-in elsewhere); git hands the refresh token on to this
/// helper, which refreshes it.
#[test]
fn behind_git_credential_cache_the_refresh_token_it_returns_is_used() {
    let setup = Setup::cloud();
    let socket_dir = setup.env.path().join("cache");
    std::fs::create_dir(&socket_dir).unwrap();
    std::fs::set_permissions(&socket_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let socket = socket_dir.join("socket");
    let cache = format!("cache --timeout=300 --socket={}", socket.display());
    setup.env.git(setup.env.path(), &["config", "--global", "--unset-all", "credential.helper"]);
    setup.env.config_add("credential.helper", &cache);
    setup.env.config_add("credential.helper", HELPER);

    let expired_access = setup.fake.issue_access_token("alice", 0);
    let offered = setup.fake.issue_refresh_token("alice", crate::common::CLIENT_ID);
    let seed = format!(
        "protocol=http\nhost={}\nusername=alice\npassword={expired_access}\npassword_expiry_utc={}\noauth_refresh_token={offered}\n\n",
        setup.fake.host(),
        unix_now() - 10
    );
    let mut store_in_cache = setup.env.command("git");
    store_in_cache.args(["credential-cache", &format!("--socket={}", socket.display()), "store"]);
    let out = run_with_input(store_in_cache, &seed);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = setup.credential("fill", &setup.fill_input(), &[("GIT_TERMINAL_PROMPT", "0")]);
    let mut exit = setup.env.command("git");
    let _ = exit.args(["credential-cache", &format!("--socket={}", socket.display()), "exit"]).output();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let access = setup.fake.last_access_token("alice").unwrap();
    assert!(access != expired_access, "a new access token was issued");
    assert!(field(&out, "password") == Some(access.as_str()), "git got the refreshed token");
    assert_eq!(setup.fake.count(RequestKind::Token), 1, "one refresh request");
    assert!(setup.stored().contains(&setup.fake.last_refresh_token("alice").unwrap()));
}
