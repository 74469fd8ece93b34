//! The hot path (docs/performance.md): `get` with a fresh stored token starts no process (git's
//! configuration is read in the process) and makes no network request — whatever the store,
//! with or without an askpass. A configuration the in-process reader declines falls back to
//! exactly one `git config` call, which never carries the username. `strace` confirms that
//! no program at all is executed and no internet socket opened.

use crate::common::*;

/// A `get` for alice with a fresh stored token, `extra` in its environment: asserts it
/// answers without a network request and returns the git command lines it ran.
fn fresh_get_git_calls(extra: &[(&str, &str)]) -> (String, String) {
    let setup = Setup::cloud();
    setup.seed_oauth(3600);
    setup.fake.reset_log();
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = logging_git(dir.path());
    let input = alice_input(&setup);
    let mut env = vec![("PATH", path.as_str())];
    env.extend_from_slice(extra);
    let out = setup.helper("get", &input, &env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(field(&out, "password").is_some());
    assert_eq!(setup.fake.requests().len(), 0, "no network request");
    (std::fs::read_to_string(&log).unwrap_or_default(), setup.fake.host())
}

#[test]
fn get_with_a_fresh_token_starts_no_git_and_makes_no_request() {
    // Interactive allowed and no GIT_ASKPASS: core.askPass must still not be read.
    let (calls, _) = fresh_get_git_calls(&[("GIT_TERMINAL_PROMPT", "1")]);
    assert_eq!(calls, "", "no git process");
}

#[test]
fn a_configuration_the_reader_declines_costs_one_git_config_without_the_username() {
    let (calls, host) = fresh_get_git_calls(&[ASK_GIT_FOR_SETTINGS]);
    assert_eq!(calls.lines().count(), 1, "git runs: {calls}");
    // git lists the credential section with each value's scope; the URL is matched in the
    // process, so neither the URL nor the username is in git's arguments.
    assert!(calls.starts_with("config --null --show-scope --get-regexp ^credential\\."), "{calls}");
    assert!(!calls.contains("alice") && !calls.contains(&host), "the URL is not in git's arguments: {calls}");
}

#[test]
fn get_for_a_host_that_is_not_bitbucket_starts_no_git_and_prints_nothing() {
    let setup = Setup::cloud();
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = logging_git(dir.path());
    let out = setup.helper("get", "protocol=https\nhost=github.com\n\n", &[("PATH", path.as_str())]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    assert_eq!(std::fs::read_to_string(&log).unwrap_or_default(), "");
}

#[test]
fn get_with_a_fresh_token_executes_nothing_and_opens_no_internet_socket() {
    let setup = Setup::cloud();
    setup.seed_oauth(3600);
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    // Every process (of any program) and every socket the helper and its threads start.
    let mut cmd = setup.env.command("strace");
    cmd.args(["-f", "-qq", "-e", "trace=process,network", "-o"]).arg(&trace).args([HELPER, "get"]);
    let out = run_with_input(cmd, alice_input(&setup));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(field(&out, "password").is_some());
    let text = std::fs::read_to_string(&trace).unwrap();
    let execs: Vec<&str> = text.lines().filter(|l| l.contains("execve(")).collect();
    assert_eq!(execs.len(), 1, "only the helper itself runs: {execs:?}");
    assert!(!text.contains("AF_INET"), "no internet socket: {text}");
}
