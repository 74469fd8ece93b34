//! A sign-in is never lost to overlapping git processes or to a fault that is not about the
//! refresh token itself: late `store`s of an older token generation, token endpoint errors
//! other than `invalid_grant`, and a store that fails right after a successful refresh.
//! Every test runs real processes against the fake Bitbucket, whose refresh tokens work once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::common::*;
use bitbucket_test_support::{Fault, FaultTimes, Gate, RequestKind};

const ALWAYS_REFRESH: (&str, &str) = ("GIT_BITBUCKET_ALWAYS_REFRESH_CREDENTIALS", "true");
/// The sign-in still works: a forced refresh succeeds with the stored refresh token, and the
/// fake never saw a spent refresh token.
fn assert_sign_in_still_works(setup: &Setup) {
    let out = setup.helper("get", &alice_input(setup), &[ALWAYS_REFRESH, NO_PROMPT]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        field(&out, "password"),
        setup.fake.last_access_token("alice").as_deref(),
        "a refresh with the stored refresh token succeeded"
    );
    assert_eq!(setup.fake.rejected_grants(), 0, "no spent refresh token was ever sent");
    assert!(setup.stored().contains(&setup.fake.last_refresh_token("alice").unwrap()));
}

#[test]
fn a_push_that_stores_its_token_after_another_process_refreshed_keeps_the_rotated_refresh_token() {
    let setup = Setup::cloud();
    let (t1, r1) = setup.seed_oauth(3600);
    let work = tempfile::tempdir().unwrap();
    let clone = work.path().join("clone");
    let remote = setup.fake.git_url("team/repo");
    let out = setup.env.command("git").args(["clone", &remote, clone.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    commit_a_change(&setup, &clone);

    // Process B: a push that holds T1 (and R1) while its first authenticated request is in
    // flight (git stores the credential once that request succeeds).
    let gate = Gate::default();
    setup.fake.inject_authenticated("/team/repo.git/info/refs", Fault::Hold(gate.clone()), FaultTimes::Once);
    let push = setup
        .env
        .command("git")
        .args(["-C", clone.to_str().unwrap(), "push", "origin", "HEAD"])
        .spawn_piped();
    assert!(gate.wait_for_arrival(Duration::from_secs(60)), "the push reached the server");

    // Process A: refreshes meanwhile; the server retires R1.
    let out = setup.helper("get", &alice_input(&setup), &[ALWAYS_REFRESH, NO_PROMPT]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t2 = field(&out, "password").unwrap().to_owned();
    assert_ne!(t2, t1);

    // B's push succeeds, and git stores T1 with R1.
    gate.open();
    let out = push.wait_with_output().unwrap();
    assert!(out.status.success(), "push: {}", String::from_utf8_lossy(&out.stderr));

    let stored = setup.stored();
    assert!(!stored.contains(&r1), "the spent refresh token was not written back");
    assert!(stored.contains(&t2), "the newer access token is still stored");
    assert_sign_in_still_works(&setup);
}

#[test]
fn twenty_overlapping_get_store_pairs_with_always_refresh_keep_the_sign_in() {
    let setup = Setup::cloud();
    setup.seed_oauth(3600);
    setup.env.config("credential.bitbucketAlwaysRefreshCredentials", "true");
    // Twenty gets, each refreshing (each answer a newer generation), whose stores then
    // arrive all at once, newest last: nineteen of them hand back a spent refresh token.
    let filled: Vec<Output> = (0..20)
        .map(|_| {
            let out = run_with_input(git_credential(&setup.env, "fill"), alice_input(&setup));
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            out
        })
        .collect();
    assert_eq!(setup.fake.count(RequestKind::Token), 20, "every get refreshed");
    std::thread::scope(|scope| {
        for out in filled.iter().rev() {
            scope.spawn(|| {
                let approved = run_with_input(git_credential(&setup.env, "approve"), &out.stdout);
                assert!(approved.status.success(), "{}", String::from_utf8_lossy(&approved.stderr));
            });
        }
    });
    assert_eq!(setup.fake.rejected_grants(), 0);
    assert_sign_in_still_works(&setup);
}

#[test]
fn a_store_of_an_older_generation_is_ignored_and_the_same_generation_is_kept() {
    let setup = Setup::cloud();
    let (t1, r1) = setup.seed_oauth(3600);
    let refreshed = setup.helper("get", &alice_input(&setup), &[ALWAYS_REFRESH]);
    let t2 = field(&refreshed, "password").unwrap().to_owned();
    let before = setup.stored();
    let expiry = unix_now() + 3600;
    let stale = format!(
        "protocol=http\nhost={}\nusername=alice\npassword={t1}\npassword_expiry_utc={expiry}\noauth_refresh_token={r1}\n\n",
        setup.fake.host()
    );
    let out = setup.helper("store", &stale, &[("GIT_BITBUCKET_TRACE", "1")]);
    assert!(out.status.success());
    assert!(setup.stored() == before, "a stale store changes nothing");
    let trace = String::from_utf8_lossy(&out.stderr);
    assert!(trace.contains("older than the stored one"), "the trace says why: {trace}");

    // Storing back what `get` answered (the current generation) is no change either.
    let current =
        format!("protocol=http\nhost={}\n{}", setup.fake.host(), String::from_utf8_lossy(&refreshed.stdout));
    let out = run_with_input(git_credential(&setup.env, "approve"), current);
    assert!(out.status.success());
    assert!(setup.stored().contains(&t2));
    assert_sign_in_still_works(&setup);
}

#[test]
fn a_wrong_consumer_secret_keeps_the_refresh_token_and_names_the_setting() {
    let setup = Setup::cloud();
    let (_, refresh) = setup.seed_oauth(0);
    let out = setup.helper(
        "get",
        &alice_input(&setup),
        &[NO_PROMPT, ("BITBUCKET_OAUTH_CLIENT_SECRET", "stale-secret-from-an-old-setup")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid_client"), "{stderr}");
    assert!(stderr.contains("bitbucketOAuthClientSecret"), "names the setting: {stderr}");
    assert!(stderr.contains("kept"), "says the sign-in was kept: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(setup.stored().contains(&refresh), "the refresh token is kept");
    assert_sign_in_still_works(&setup);
}

#[test]
fn a_server_error_or_timeout_during_refresh_keeps_the_refresh_token() {
    let setup = Setup::cloud();
    setup.env.config("credential.bitbucketHttpTimeout", "2");
    let (_, refresh) = setup.seed_oauth(0);
    for (fault, cause) in [
        (Fault::Status(500), "HTTP 500"),
        (Fault::Status(503), "HTTP 503"),
        (Fault::Delay(Duration::from_secs(20)), "timed out"),
    ] {
        setup.fake.inject("/site/oauth2/access_token", fault, FaultTimes::Once);
        let out = setup.helper("get", &alice_input(&setup), &[NO_PROMPT]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(cause), "names the cause {cause}: {stderr}");
        assert!(stderr.contains("kept"), "{stderr}");
        assert!(setup.stored().contains(&refresh), "kept after {cause}");
    }
    setup.fake.clear_faults();
    assert_sign_in_still_works(&setup);
}

#[test]
fn a_400_invalid_request_keeps_the_refresh_token_but_invalid_grant_deletes_it() {
    let setup = Setup::cloud();
    let (_, refresh) = setup.seed_oauth(0);
    // Spend the stored refresh token behind the helper's back: now it is truly dead.
    let spent = bitbucket_test_support::client::post_form(
        &format!("{}/site/oauth2/access_token", setup.fake.base_url()),
        &[("Authorization", &bitbucket_test_support::client::basic_auth(CLIENT_ID, CLIENT_SECRET))],
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .unwrap();
    assert_eq!(spent.status, 200);
    let out = setup.helper("get", &alice_input(&setup), &[NO_PROMPT]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert!(!setup.stored().contains(&refresh), "invalid_grant: the dead refresh token is deleted");
}

#[test]
fn a_failed_save_after_a_refresh_still_answers_and_the_next_run_uses_the_new_refresh_token() {
    let setup = Setup::cloud();
    let (t1, r1) = setup.seed_oauth(0);
    pad_store(&setup, 40);
    let store_size = std::fs::metadata(setup.store_file()).unwrap().len();
    assert!(store_size > 16 * 1024, "the padded store is larger than the write limit below");

    // The operating system refuses to write more than 8 KiB to any file (as a full disk or
    // a quota would): the store's new file cannot be written, a small rescue file can.
    let out = setup.helper_limited("get", &alice_input(&setup), 8 * 1024);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t2 = field(&out, "password").unwrap().to_owned();
    assert_ne!(t2, t1);
    assert_eq!(Some(t2.clone()), setup.fake.last_access_token("alice"), "git got the new token");
    assert_eq!(
        field(&out, "oauth_refresh_token"),
        setup.fake.last_refresh_token("alice").as_deref(),
        "the answer carries the new refresh token, not the one the server just retired"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("could not save"), "says what happened: {stderr}");
    for secret in [&t1, &t2, &r1] {
        assert!(!stderr.contains(secret.as_str()), "no secret on stderr");
    }
    assert!(setup.stored().contains(&r1), "the store could not be changed");
    let rescued = rescue_files(&setup);
    assert_eq!(rescued.len(), 1, "the new tokens wait in one rescue file: {rescued:?}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&rescued[0]).unwrap().permissions().mode() & 0o777, 0o600);

    // The next run finds the rescued tokens, answers T2 without a network request, and
    // moves them into the store.
    setup.fake.reset_log();
    let out = setup.helper("get", &alice_input(&setup), &[NO_PROMPT]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(field(&out, "password"), Some(t2.as_str()));
    assert_eq!(setup.fake.count(RequestKind::Token), 0);
    assert!(rescue_files(&setup).is_empty(), "the rescue file is removed once saved");
    assert!(!setup.stored().contains(&r1), "the spent refresh token is replaced");
    assert_sign_in_still_works(&setup);
}

/// Tokens left aside by a run whose save failed are secrets on disk: a later sign-in of the
/// account that the store takes makes them useless (they are applied only over the refresh
/// token they replaced), so it deletes them instead of leaving them to a refresh that may
/// never come.
#[test]
fn a_new_sign_in_deletes_the_tokens_an_earlier_run_left_aside() {
    let setup = Setup::cloud();
    setup.seed_oauth(0);
    pad_store(&setup, 40);
    let out = setup.helper_limited("get", &alice_input(&setup), 8 * 1024);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rescue_files(&setup).len(), 1, "the refreshed tokens wait aside");

    // The person signs in again (in a browser) rather than waiting for the next refresh.
    let dir = tempfile::tempdir().unwrap();
    let (browser, opened) = recording_browser(dir.path());
    let mut child = setup
        .env
        .command(HELPER)
        .args(["login", &setup.http_root(), "--method", "oauth", "--user", "alice"])
        .env("BROWSER", &browser)
        .env_remove("GIT_TERMINAL_PROMPT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = wait_for_file(&opened, &mut child);
    let callback = setup.consent_callback(&url, bitbucket_test_support::Consent::Grant);
    assert_eq!(bitbucket_test_support::client::get(&callback).unwrap().status, 200);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(setup.stored().contains(&setup.fake.last_refresh_token("alice").unwrap()));
    assert_eq!(rescue_files(&setup), Vec::<PathBuf>::new(), "the outdated rescue is gone");
}

fn commit_a_change(setup: &Setup, clone: &Path) {
    std::fs::write(clone.join("change.txt"), "a change\n").unwrap();
    for args in [&["add", "change.txt"][..], &["commit", "-q", "-m", "change"]] {
        let out = setup.env.command("git").arg("-C").arg(clone).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Other accounts' entries, so that the store file is large.
fn pad_store(setup: &Setup, entries: usize) {
    for i in 0..entries {
        let input = format!(
            "protocol=http\nhost={}\nusername=padding{i}\npassword={}\n\n",
            setup.fake.host(),
            "p".repeat(500)
        );
        let out = setup.helper("store", &input, &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

fn rescue_files(setup: &Setup) -> Vec<PathBuf> {
    let dir = setup.env.home().join(".local/state/git-credential-bitbucket/rescued");
    std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default()
}

trait SpawnPiped {
    fn spawn_piped(&mut self) -> Child;
}

impl SpawnPiped for Command {
    fn spawn_piped(&mut self) -> Child {
        self.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }
}

trait LimitedHelper {
    fn helper_limited(&self, op: &str, input: &str, max_file_bytes: u64) -> Output;
}

impl LimitedHelper for Setup {
    /// The helper under `prlimit --fsize`, with SIGXFSZ ignored so that an oversized write
    /// fails with EFBIG instead of killing the process.
    fn helper_limited(&self, op: &str, input: &str, max_file_bytes: u64) -> Output {
        let mut cmd = self.env.command("sh");
        cmd.args([
            "-c",
            "trap '' XFSZ; exec prlimit --fsize=\"$1\" -- \"$2\" \"$3\"",
            "sh",
            &max_file_bytes.to_string(),
            HELPER,
            op,
        ])
        .env("GIT_TERMINAL_PROMPT", "0");
        run_with_input(cmd, input)
    }
}

#[test]
fn a_late_store_for_an_erased_path_never_replaces_the_shared_refresh_token() {
    let setup = Setup::cloud();
    setup.env.config("credential.useHttpPath", "true");
    let (t1, r1) = setup.seed_oauth(3600);
    let path_input = |path: &str, extra: &str| {
        format!("protocol=http\nhost={}\npath={path}\nusername=alice\n{extra}\n", setup.fake.host())
    };
    let expiry = unix_now() + 3600;
    let t1_with_r1 = format!("password={t1}\npassword_expiry_utc={expiry}\noauth_refresh_token={r1}\n");
    // Both repositories got T1/R1 (a long push on repository one starts with it).
    for repo in ["team/one.git", "team/two.git"] {
        assert!(setup.helper("store", &path_input(repo, &t1_with_r1), &[]).status.success());
    }
    // Repository two refreshes: R1 is spent, R2 stored.
    let out = setup.helper("get", &path_input("team/two.git", ""), &[ALWAYS_REFRESH, NO_PROMPT]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Another process's 401 on repository one erases its token; then the push stores T1/R1.
    assert!(
        setup.helper("erase", &path_input("team/one.git", &format!("password={t1}\n")), &[]).status.success()
    );
    assert!(setup.helper("store", &path_input("team/one.git", &t1_with_r1), &[]).status.success());
    assert!(!setup.stored().contains(&r1), "the spent refresh token was not written back");
    assert_sign_in_still_works(&setup);
}

#[test]
fn erasing_a_token_that_merely_expired_keeps_the_refresh_token() {
    let setup = Setup::cloud();
    // Answered with just over a minute left; the push outlived it and git erases it.
    let (t1, r1) = setup.seed_oauth(0);
    let rejected = format!("protocol=http\nhost={}\nusername=alice\npassword={t1}\n\n", setup.fake.host());
    assert!(setup.helper("erase", &rejected, &[]).status.success());
    let stored = setup.stored();
    assert!(stored.contains(&r1), "the refresh token is kept");
    let out = setup.helper("get", &alice_input(&setup), &[NO_PROMPT]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        field(&out, "password"),
        setup.fake.last_access_token("alice").as_deref(),
        "refreshed, no sign-in"
    );
    assert_eq!(setup.fake.rejected_grants(), 0);
}

#[test]
fn erasing_a_token_rejected_before_its_expiry_deletes_the_sign_in_as_the_spec_says() {
    let setup = Setup::cloud();
    let (t1, r1) = setup.seed_oauth(3600);
    let rejected = format!("protocol=http\nhost={}\nusername=alice\npassword={t1}\n\n", setup.fake.host());
    assert!(setup.helper("erase", &rejected, &[]).status.success());
    let stored = setup.stored();
    assert!(!stored.contains(&t1) && !stored.contains(&r1), "a revoked token and its refresh token go");
}

#[test]
fn a_token_git_stores_over_an_expired_sign_in_that_cannot_refresh_is_kept() {
    let setup = Setup::cloud();
    setup.seed_oauth(0);
    // A real OAuth sign-in (refreshed by the helper) whose token has run out.
    setup.fake.set_expires_in(1);
    let refreshed = setup.helper("get", &alice_input(&setup), &[NO_PROMPT]);
    assert!(refreshed.status.success() && field(&refreshed, "password").is_some());
    assert!(setup.stored().contains("\"kind\": \"oauth\""));
    // The consumer was removed from the configuration: the expired token cannot be refreshed,
    // so git asks the person, who types an API token; git stores it.
    let unset = setup
        .env
        .command("git")
        .args(["config", "--global", "--unset", "credential.bitbucketOAuthClientId"])
        .output()
        .unwrap();
    assert!(unset.status.success());
    let out = setup.helper("get", &alice_input(&setup), &[NO_PROMPT]);
    assert!(out.stdout.is_empty(), "the expired sign-in answers nothing");
    let typed =
        format!("protocol=http\nhost={}\nusername=alice\npassword=api-token-typed\n\n", setup.fake.host());
    assert!(setup.helper("store", &typed, &[]).status.success());
    let out = setup.helper("get", &alice_input(&setup), &[NO_PROMPT]);
    assert_eq!(field(&out, "password"), Some("api-token-typed"), "the typed token is kept and answered");
}
