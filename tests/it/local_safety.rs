//! What a local attacker, a hostile server or a shared setting cannot do: plant files in a
//! shared store directory, hold the refresh lock forever, make one repository's rejected token
//! cost the account's sign-in, send an endless body, or read a username from another
//! process's arguments — and `diagnose` never prints a secret found in git's configuration.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::common::*;
use bitbucket_test_support::{Consent, Fault, FaultTimes, client};

#[test]
fn a_plaintext_store_in_a_directory_others_can_write_is_refused() {
    let setup = Setup::cloud();
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let store = shared.path().join("credentials.json");
    let input = format!("protocol=http\nhost={}\nusername=bob\npassword=api-token\n\n", setup.fake.host());
    let out = setup.helper("store", &input, &[("GIT_BITBUCKET_PLAINTEXT_STORE", store.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("can be written by other users"), "{stderr}");
    assert!(stderr.contains("plaintextStorePath"), "{stderr}");
    assert_eq!(std::fs::read_dir(shared.path()).unwrap().count(), 0, "nothing was written there");
}

/// The lock directory the helper uses in `setup`'s environment (no XDG_RUNTIME_DIR there).
fn lock_dir(setup: &Setup) -> PathBuf {
    setup.env.home().join(".cache/git-credential-bitbucket/locks")
}

#[test]
fn a_refresh_lock_held_by_a_hung_process_times_out_and_keeps_the_tokens() {
    let setup = Setup::cloud();
    setup.env.config("credential.bitbucketHttpTimeout", "1");
    setup.seed_oauth(0);
    let locks: Vec<PathBuf> =
        std::fs::read_dir(lock_dir(&setup)).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(locks.len(), 1, "the seeding store took the account's lock: {locks:?}");
    let held = File::options().read(true).write(true).open(&locks[0]).unwrap();
    held.lock().unwrap();
    let before = setup.stored();
    let out = setup.helper("get", &alice_input(&setup), &[NO_PROMPT]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has held the refresh lock") && stderr.contains("7 s"), "{stderr}");
    assert!(setup.stored() == before, "no token changed");
    drop(held);
    let out = setup.helper("get", &alice_input(&setup), &[NO_PROMPT]);
    assert!(out.status.success() && field(&out, "password").is_some(), "works once the lock is free");
}

#[test]
fn a_lock_directory_that_is_a_symlink_is_refused() {
    let setup = Setup::cloud();
    let elsewhere = tempfile::tempdir().unwrap();
    let base = setup.env.home().join(".cache/git-credential-bitbucket");
    std::fs::create_dir_all(&base).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), base.join("locks")).unwrap();
    let input = format!("protocol=http\nhost={}\nusername=bob\npassword=api-token\n\n", setup.fake.host());
    let out = setup.helper("store", &input, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refresh lock") && stderr.contains("symlink"), "{stderr}");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0, "no lock file planted there");
    assert_eq!(setup.stored(), "", "nothing stored");
}

#[test]
fn erasing_one_repositorys_token_keeps_the_refresh_token_every_repository_shares() {
    let setup = Setup::cloud();
    setup.env.config("credential.useHttpPath", "true");
    let refresh = setup.fake.issue_refresh_token("alice", CLIENT_ID);
    let expiry = unix_now() + 3600;
    let mut tokens = Vec::new();
    for repo in ["team/one.git", "team/two.git"] {
        let token = setup.fake.issue_access_token("alice", 3600);
        let input = format!(
            "protocol=http\nhost={}\npath={repo}\nusername=alice\npassword={token}\npassword_expiry_utc={expiry}\noauth_refresh_token={refresh}\n\n",
            setup.fake.host()
        );
        assert!(setup.helper("store", &input, &[]).status.success());
        tokens.push(token);
    }
    let rejected = format!(
        "protocol=http\nhost={}\npath=team/one.git\nusername=alice\npassword={}\n\n",
        setup.fake.host(),
        tokens[0]
    );
    assert!(setup.helper("erase", &rejected, &[]).status.success());
    let stored = setup.stored();
    assert!(!stored.contains(&tokens[0]), "the rejected token is gone");
    assert!(stored.contains(&tokens[1]), "the other repository's token is kept");
    assert!(stored.contains(&refresh), "the shared refresh token is kept");
    let two = format!("protocol=http\nhost={}\npath=team/two.git\nusername=alice\n\n", setup.fake.host());
    let out = setup.helper("get", &two, &[("GIT_BITBUCKET_ALWAYS_REFRESH_CREDENTIALS", "true"), NO_PROMPT]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(field(&out, "password"), setup.fake.last_access_token("alice").as_deref(), "refreshed");
}

#[test]
fn an_endless_user_object_is_refused_and_nothing_is_stored() {
    let setup = Setup::cloud();
    setup.fake.inject("/2.0/user", Fault::Oversized(4 * 1024 * 1024), FaultTimes::Once);
    let BrowserSignIn { child, url, .. } = setup.start_browser_sign_in(&[]);
    assert_eq!(client::get(&setup.consent_callback(&url, Consent::Grant)).unwrap().status, 200);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("larger than 256 KiB"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert_eq!(setup.stored(), "", "nothing stored");
}

#[test]
fn a_username_from_the_remote_url_never_reaches_git_configs_arguments() {
    let setup = Setup::cloud();
    let bin = tempfile::tempdir().unwrap();
    let (path, argv_log) = logging_git(bin.path());
    let input = format!("protocol=http\nhost={}\nusername=jane.doe@example.com\n\n", setup.fake.host());
    // Settings are read in the process (the username never leaves it); make the helper ask git.
    let out = setup.helper("get", &input, &[("PATH", &path), NO_PROMPT, ASK_GIT_FOR_SETTINGS]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let argv = std::fs::read_to_string(&argv_log).unwrap();
    assert!(argv.contains("--get-regexp"), "the helper read its settings through git: {argv}");
    assert!(!argv.contains("jane.doe"), "the username reached git's arguments: {argv}");
}

#[test]
fn diagnose_redacts_secrets_in_helper_commands_and_urls() {
    let setup = Setup::cloud();
    setup.env.config_add("credential.helper", "!f() { echo password=hunter2-in-config; }; f");
    setup.env.config("credential.https://alice:url-secret-7@example.com.helper", "store");
    setup.env.config(
        "credential.bitbucketCloudApiUrl",
        &setup.fake.base_url().replace("http://", "http://api:api-url-secret-8@"),
    );
    let out = setup.helper("diagnose", "", &[]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("git config:"), "{text}");
    assert!(!text.contains("hunter2-in-config"), "{text}");
    assert!(!text.contains("url-secret-7"), "{text}");
    assert!(!text.contains("api-url-secret-8"), "a setting's URL user info: {text}");
    assert!(text.contains("REDACTED"), "{text}");
}
