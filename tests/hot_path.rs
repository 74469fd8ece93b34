//! The hot path (SPEC §10): `get` with a fresh stored token starts exactly one `git config`
//! process and makes no network request — whatever the store, with or without an askpass.

mod common;

use common::*;

#[test]
fn get_with_a_fresh_token_runs_one_git_config_and_no_request() {
    let setup = Setup::cloud();
    setup.seed_oauth(3600);
    setup.fake.reset_log();
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = logging_git(dir.path());
    let input = alice_input(&setup);
    // Interactive allowed and no GIT_ASKPASS: core.askPass must still not be read.
    let out = setup.helper("get", &input, &[("PATH", path.as_str()), ("GIT_TERMINAL_PROMPT", "1")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(field(&out, "password").is_some());
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(calls.lines().count(), 1, "git runs: {calls}");
    let url = format!("config --null --get-urlmatch credential http://{}/", setup.fake.host());
    assert!(calls.starts_with(&url), "{calls}");
    assert!(!calls.contains("alice"), "the username is not in git's arguments: {calls}");
    assert_eq!(setup.fake.requests().len(), 0, "no network request");
}

#[test]
fn get_for_a_host_that_is_not_bitbucket_runs_one_git_config_and_nothing_else() {
    let setup = Setup::cloud();
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = logging_git(dir.path());
    let out = setup.helper("get", "protocol=https\nhost=github.com\n\n", &[("PATH", path.as_str())]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);
}
