//! Ctrl-C never costs a sign-in: SIGINT, SIGTERM or SIGHUP sent to the whole process group
//! while a refresh (or a code exchange) is in flight is held until the new tokens are kept,
//! then acted on; outside those windows (the browser wait, a prompt) a signal ends the helper
//! at once. Real git in its own process group, the fake token endpoint rotating and then
//! holding its answer back, as a slow network does. Unix only: Windows has no such signals
//! (docs/decisions.md).
#![cfg(unix)]

use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use bitbucket_test_support::{Consent, Fault, FaultTimes, Gate, RequestKind, client};

const TOKEN_PATH: &str = "/site/oauth2/access_token";
/// How long the fake holds its answer back after rotating.
const ANSWER_LATE: Duration = Duration::from_secs(3);
/// The bound on every wait for something the test started.
const BOUND: Duration = Duration::from_secs(60);

/// `(signal, name)` for the three signals that are held.
const SIGNALS: [(i32, &str); 3] =
    [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM"), (libc::SIGHUP, "SIGHUP")];

/// What git asks for when it fetches from the fake (no path: `useHttpPath` is off).
fn host_input(setup: &Setup) -> String {
    format!("protocol=http\nhost={}\n\n", setup.fake.host())
}

/// A real `git credential fill` in its own process group that signs in through the browser
/// (a recording `BROWSER`; the test presses Grant), waiting until the browser was opened:
/// `(git, callback address)`.
fn start_git_sign_in(setup: &Setup, dir: &std::path::Path) -> (Child, String) {
    let (browser, opened) = recording_browser(dir);
    let mut fill = git_credential(&setup.env, "fill");
    fill.env_remove("GIT_TERMINAL_PROMPT").env("BROWSER", &browser);
    let mut git = spawn_in_own_group(fill, &host_input(setup));
    let url = wait_for_file(&opened, &mut git);
    (git, setup.consent_callback(&url, Consent::Grant))
}

/// Sign in through the browser with access tokens that live 30 s, inside the expiry margin:
/// the next `get` refreshes. Then tokens live an hour again, and the request log starts
/// afresh.
fn signed_in_with_a_short_lived_token() -> Setup {
    let setup = Setup::cloud();
    setup.fake.set_expires_in(30);
    let dir = tempfile::tempdir().unwrap();
    let (git, callback) = start_git_sign_in(&setup, dir.path());
    client::get(&callback).unwrap();
    let out = git.wait_with_output().unwrap();
    assert!(out.status.success(), "sign-in: {}", stderr(&out));
    assert_eq!(setup.fake.refresh_tokens_issued(), 1);
    setup.fake.set_expires_in(3600);
    setup.fake.reset_log();
    setup
}

/// Send `signal` to the process group `leader` leads.
fn signal_group(leader: &Child, signal: i32) {
    let group = i32::try_from(leader.id()).unwrap();
    // SAFETY: sends a signal to the test's own child process group.
    assert_eq!(unsafe { libc::kill(-group, signal) }, 0, "{}", std::io::Error::last_os_error());
}

/// `cmd` in a process group of its own, `input` on stdin (left open, as git leaves it), the
/// held signals at their default action ([`with_default_signals`]).
fn spawn_in_own_group(mut cmd: Command, input: &str) -> Child {
    cmd.process_group(0).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    with_default_signals(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    child.stdin.as_mut().unwrap().write_all(input.as_bytes()).unwrap();
    child
}

/// No prompt, no browser: the next `git credential fill` answers a token the fake issued,
/// the fake never saw a spent refresh token, and nobody was sent to sign in again.
fn assert_next_fill_needs_no_sign_in(setup: &Setup) {
    let out = run_with_input(
        {
            let mut cmd = git_credential(&setup.env, "fill");
            cmd.env("GIT_TERMINAL_PROMPT", "0").env("BROWSER", "/bin/false");
            cmd
        },
        host_input(setup),
    );
    assert!(out.status.success(), "next fill: {}", stderr(&out));
    assert_eq!(
        field(&out, "password"),
        setup.fake.last_access_token("alice").as_deref(),
        "answered with the token the fake issued last: {}",
        stderr(&out)
    );
    assert_eq!(setup.fake.rejected_grants(), 0, "no spent refresh token or code was sent");
    assert_eq!(setup.fake.count(RequestKind::Authorize), 0, "no new sign-in");
    assert!(setup.stored().contains(&setup.fake.last_refresh_token("alice").unwrap()));
}

#[test]
fn a_signal_to_git_and_the_helper_mid_refresh_keeps_the_rotated_sign_in() {
    for (signal, name) in SIGNALS {
        let setup = signed_in_with_a_short_lived_token();
        let rotated = Gate::default();
        setup.fake.inject(TOKEN_PATH, Fault::AnswerLate(ANSWER_LATE, rotated.clone()), FaultTimes::Once);

        let mut fill = git_credential(&setup.env, "fill");
        fill.env("GIT_TERMINAL_PROMPT", "0");
        let git = spawn_in_own_group(fill, &host_input(&setup));
        assert!(rotated.wait_for_arrival(BOUND), "{name}: the refresh reached the fake");
        signal_group(&git, signal);
        let out = git.wait_with_output().unwrap();
        assert_eq!(out.status.signal(), Some(signal), "{name}: git ended by the signal: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{name}: no answer");

        // The helper finishes in the background and keeps the new pair under the account's
        // lock; the next fill waits for that lock and then finds the new token.
        assert_next_fill_needs_no_sign_in(&setup);
        assert_eq!(setup.fake.count(RequestKind::Token), 1, "{name}: the one refresh, never repeated");
    }
}

#[test]
fn the_helper_ends_by_the_held_signal_after_keeping_the_refresh() {
    let setup = signed_in_with_a_short_lived_token();
    let rotated = Gate::default();
    setup.fake.inject(TOKEN_PATH, Fault::AnswerLate(ANSWER_LATE, rotated.clone()), FaultTimes::Once);
    let mut get = setup.env.command(HELPER);
    get.arg("get").env("GIT_TERMINAL_PROMPT", "0");
    let helper = spawn_in_own_group(get, &host_input(&setup));
    assert!(rotated.wait_for_arrival(BOUND), "the refresh reached the fake");
    let sent = Instant::now();
    signal_group(&helper, libc::SIGINT);
    let out = helper.wait_with_output().unwrap();
    assert!(sent.elapsed() >= ANSWER_LATE / 2, "the helper waited for the answer");
    assert_eq!(out.status.signal(), Some(libc::SIGINT), "ended by SIGINT (130 in a shell): {}", stderr(&out));
    assert!(out.stdout.is_empty(), "no answer to git");
    // Everything was kept before the helper ended: the next fill makes no request at all.
    assert!(setup.stored().contains(&setup.fake.last_refresh_token("alice").unwrap()));
    assert_next_fill_needs_no_sign_in(&setup);
    assert_eq!(setup.fake.count(RequestKind::Token), 1);
}

#[test]
fn a_signal_during_the_code_exchange_keeps_the_new_sign_in() {
    let setup = Setup::cloud();
    let exchanged = Gate::default();
    setup.fake.inject(TOKEN_PATH, Fault::AnswerLate(ANSWER_LATE, exchanged.clone()), FaultTimes::Once);
    let dir = tempfile::tempdir().unwrap();
    let (git, callback) = start_git_sign_in(&setup, dir.path());
    // The browser's request ends once the code is in; it may outlive the helper.
    let browser_side = std::thread::spawn(move || client::get(&callback));
    assert!(exchanged.wait_for_arrival(BOUND), "the code exchange reached the fake");
    signal_group(&git, libc::SIGTERM);
    let out = git.wait_with_output().unwrap();
    let _ = browser_side.join();
    assert_eq!(out.status.signal(), Some(libc::SIGTERM), "git ended by the signal: {}", stderr(&out));
    assert!(out.stdout.is_empty(), "no answer");
    setup.fake.reset_log();
    assert_next_fill_needs_no_sign_in(&setup);
    assert_eq!(setup.fake.count(RequestKind::Token), 0, "the kept token is fresh");
}

#[test]
fn a_signal_at_the_browser_wait_ends_the_helper_at_once() {
    for (signal, name) in SIGNALS {
        let setup = Setup::cloud();
        let BrowserSignIn { child, .. } =
            setup.start_browser_sign_in(&[("GIT_BITBUCKET_OAUTH_TIMEOUT", "300")]);
        let sent = Instant::now();
        // SAFETY: sends a signal to the test's own child.
        assert_eq!(unsafe { libc::kill(i32::try_from(child.id()).unwrap(), signal) }, 0);
        let out = child.wait_with_output().unwrap();
        assert!(sent.elapsed() < Duration::from_secs(10), "{name}: ended at once");
        assert_eq!(out.status.signal(), Some(signal), "{name}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
        assert_eq!(setup.stored(), "", "{name}: nothing stored");
        assert_eq!(setup.fake.count(RequestKind::Token), 0);
    }
}

#[test]
fn a_signal_at_a_prompt_ends_the_helper_at_once() {
    for (signal, name) in SIGNALS {
        let setup = Setup::cloud();
        // An askpass that says it was asked, then never answers (until the test ends it).
        let asked = setup.tmp.path().join("asked");
        let askpass = setup.tmp.path().join("askpass-never");
        write_script(&askpass, &format!("#!/bin/sh\n: > '{}'\nexec sleep 300\n", asked.display()));
        let mut get = setup.env.command(HELPER);
        get.arg("get")
            .env_remove("GIT_TERMINAL_PROMPT")
            .env("GIT_ASKPASS", &askpass)
            .env("GIT_BITBUCKET_AUTHMODES", "token");
        let mut helper = spawn_in_own_group(get, &setup.fill_input());
        wait_for_file(&asked, &mut helper);
        let group = i32::try_from(helper.id()).unwrap();
        let sent = Instant::now();
        // SAFETY: sends a signal to the test's own child (not to its askpass).
        assert_eq!(unsafe { libc::kill(group, signal) }, 0);
        let status = helper.wait().unwrap();
        assert!(sent.elapsed() < Duration::from_secs(10), "{name}: ended at once");
        // The askpass is left waiting, holding the helper's stderr: end it (it is in the
        // helper's process group) before reading the helper's output.
        // SAFETY: sends a signal to the test's own child process group.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let out = helper.wait_with_output().unwrap();
        assert_eq!(status.signal(), Some(signal), "{name}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
        assert_eq!(setup.stored(), "", "{name}: nothing stored");
    }
}
