//! A refresh that fails is never a dead end (issue 19): a dead refresh token in either of
//! Bitbucket's spellings, or one unused for 3 months, is deleted and, at a terminal, a new
//! sign-in follows; a refusal the helper cannot read keeps the refresh token and, at a
//! terminal, offers sign-in, and without one fails naming `login`; a refused consumer still
//! names the settings. The terminal is a real one (tmux); the browser is a recording script
//! whose address the test consents to on the fake.

use std::time::{Duration, Instant};

use crate::common::*;
use bitbucket_test_support::fake::{CLOUD_UNUSED_REFRESH_LIFETIME, DeadRefreshSpelling};
use bitbucket_test_support::{Consent, Fault, FaultTimes, RequestKind, SECRET_MARK, Tmux, client};

const TOKEN_PATH: &str = "/site/oauth2/access_token";

/// What the store must hold after a refresh was refused and a new sign-in replaced it.
fn assert_signed_in_again(setup: &Setup, old_refresh: &str) {
    let stored = setup.stored();
    let new_refresh = setup.fake.last_refresh_token("alice").expect("the sign-in issued a refresh token");
    assert_ne!(new_refresh, old_refresh);
    assert!(stored.contains(&new_refresh), "the new refresh token is stored");
    assert!(!stored.contains(old_refresh), "the old refresh token is gone");
    let access = setup.fake.last_access_token("alice").unwrap();
    assert!(stored.contains(&access), "the new access token is stored");
    // And it stays: the next `get` answers it without a request, the old token never comes back.
    setup.fake.reset_log();
    let out = setup.helper("get", &alice_input(setup), &[NO_PROMPT]);
    assert_eq!(field(&out, "password"), Some(access.as_str()), "{}", stderr(&out));
    assert_eq!(field(&out, "oauth_refresh_token"), Some(new_refresh.as_str()));
    assert_eq!(setup.fake.count(RequestKind::Token), 0);
}

/// `git credential fill` for alice at a real terminal, with a recording browser: waits until
/// the browser is given the sign-in address, consents on the fake, follows the callback, and
/// returns the screen once git printed its answer.
fn fill_at_a_terminal(setup: &Setup, name: &str) -> String {
    let bin_dir = std::path::Path::new(HELPER).parent().unwrap().as_os_str().to_owned();
    let (browser, opened) = recording_browser(setup.tmp.path());
    let mut vars: Vec<_> =
        setup.env.env().into_iter().filter(|(k, _)| k != "PATH" && k != "GIT_TERMINAL_PROMPT").collect();
    let mut path = bin_dir;
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    vars.push(("PATH".into(), path));
    vars.push(("BROWSER".into(), browser.into()));
    let tmux = Tmux::start(&format!("refresh-refused-{name}"), (200, 50), "PS1='$ ' exec sh -i", vars);
    tmux.wait_for("$");
    // Only the username line of git's answer reaches the screen: the password is a secret.
    tmux.type_line(&format!(
        "printf 'protocol=http\\nhost={}\\nusername=alice\\n\\n' | git credential fill | grep '^username='; echo \"fill\"\"ed-$?\"",
        setup.fake.host()
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = loop {
        if let Ok(url) = std::fs::read_to_string(&opened)
            && !url.trim().is_empty()
        {
            break url.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "the browser was never opened:\n{}", tmux.screen());
        std::thread::yield_now();
    };
    let callback = setup.consent_callback(&url, Consent::Grant);
    assert_eq!(client::get(&callback).unwrap().status, 200);
    // The command line shows `"fill""ed-$?"`: only the shell's answer reads `filled-`.
    let screen = tmux.wait_for("filled-");
    eprintln!("---- tmux capture-pane ----\n{}\n---------------------------", screen.trim_end());
    assert!(!screen.contains(SECRET_MARK), "no secret on the screen");
    assert!(screen.contains("username=alice") && screen.contains("filled-0"), "{screen}");
    screen
}

fn dead_refresh_token_at_a_terminal_signs_in_again(spelling: DeadRefreshSpelling, name: &str) {
    let setup = Setup::cloud();
    setup.fake.set_dead_refresh_spelling(spelling);
    let (_, refresh) = setup.seed_oauth(0);
    // Use the refresh token behind the helper's back: the stored one is now spent.
    let spent = client::post_form(
        &format!("{}{TOKEN_PATH}", setup.fake.base_url()),
        &[("Authorization", &client::basic_auth(CLIENT_ID, CLIENT_SECRET))],
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .unwrap();
    assert_eq!(spent.status, 200);
    setup.fake.reset_log();
    let rejected = setup.fake.rejected_grants();

    let screen = fill_at_a_terminal(&setup, name);
    assert!(screen.contains("no longer accepts the saved sign-in"), "{screen}");
    assert_eq!(setup.fake.rejected_grants(), rejected + 1, "the spent token was refused once");
    assert_eq!(setup.fake.count(RequestKind::Authorize), 2, "one consent: its page and its answer");
    assert_eq!(setup.fake.count(RequestKind::Token), 2, "the refused refresh, then the code exchange");
    assert_signed_in_again(&setup, &refresh);
}

#[test]
fn dead_refresh_token_spelled_invalid_grant_signs_in_again_at_a_terminal() {
    dead_refresh_token_at_a_terminal_signs_in_again(DeadRefreshSpelling::InvalidGrant, "dead-grant");
}

#[test]
fn dead_refresh_token_spelled_invalid_request_signs_in_again_at_a_terminal() {
    dead_refresh_token_at_a_terminal_signs_in_again(DeadRefreshSpelling::InvalidRequest, "dead-request");
}

#[test]
fn refresh_token_unused_for_three_months_signs_in_again_at_a_terminal() {
    let setup = Setup::cloud();
    let (_, refresh) = setup.seed_oauth(0);
    assert!(setup.fake.age_refresh_token(&refresh, CLOUD_UNUSED_REFRESH_LIFETIME + Duration::from_secs(60)));
    let screen = fill_at_a_terminal(&setup, "expired");
    assert!(screen.contains("no longer accepts the saved sign-in"), "{screen}");
    assert_eq!(setup.fake.count(RequestKind::Authorize), 2, "one consent: its page and its answer");
    assert_signed_in_again(&setup, &refresh);
}

/// A 400 from the token endpoint that no document shows and that names no dead token.
fn unknown_400() -> Fault {
    Fault::Json(400, r#"{"error":"invalid_request","error_description":"Request rejected"}"#.to_owned())
}

#[test]
fn unknown_400_keeps_the_refresh_token_and_signs_in_again_at_a_terminal() {
    let setup = Setup::cloud();
    let (_, refresh) = setup.seed_oauth(0);
    setup.fake.inject(TOKEN_PATH, unknown_400(), FaultTimes::Once);
    let screen = fill_at_a_terminal(&setup, "unknown400");
    assert!(
        screen.contains("refused to refresh the saved sign-in") && screen.contains("HTTP 400"),
        "{screen}"
    );
    assert_eq!(setup.fake.count(RequestKind::Authorize), 2, "one consent: its page and its answer");
    assert_signed_in_again(&setup, &refresh);
}

#[test]
fn unknown_400_without_a_terminal_keeps_every_token_and_names_login() {
    let setup = Setup::cloud();
    let (access, refresh) = setup.seed_oauth(0);
    let before = setup.stored();
    setup.fake.inject(TOKEN_PATH, unknown_400(), FaultTimes::Always);
    for _ in 0..2 {
        let out = setup.helper("get", &alice_input(&setup), &[NO_PROMPT]);
        assert_one_line_error(&out, 1, "refused to refresh");
        let stderr = stderr(&out);
        assert!(stderr.contains("git-credential-bitbucket login http://"), "{stderr}");
        assert!(stderr.contains("invalid_request"), "{stderr}");
        assert!(!stderr.contains(SECRET_MARK));
        assert_eq!(setup.stored(), before, "the refresh token and the access token are kept");
    }
    assert!(before.contains(&refresh) && before.contains(&access));
    assert_eq!(setup.fake.count(RequestKind::Authorize), 0, "no browser without a terminal");
}

#[test]
fn a_400_without_an_error_code_is_also_refused_not_stuck() {
    let setup = Setup::cloud();
    setup.seed_oauth(0);
    let before = setup.stored();
    setup.fake.inject(TOKEN_PATH, Fault::Status(400), FaultTimes::Always);
    let out = setup.helper("get", &alice_input(&setup), &[NO_PROMPT]);
    assert_one_line_error(&out, 1, "git-credential-bitbucket login");
    assert_eq!(setup.stored(), before);
}

#[test]
fn expired_refresh_token_spelled_invalid_request_is_deleted_without_a_terminal() {
    let setup = Setup::cloud();
    setup.fake.set_dead_refresh_spelling(DeadRefreshSpelling::InvalidRequest);
    let (_, refresh) = setup.seed_oauth(0);
    assert!(setup.fake.age_refresh_token(&refresh, CLOUD_UNUSED_REFRESH_LIFETIME + Duration::from_secs(60)));
    let out = setup.helper("get", &alice_input(&setup), &[NO_PROMPT]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "nothing answered");
    assert!(!setup.stored().contains(&refresh), "the dead refresh token was deleted");
}

#[test]
fn a_refused_consumer_still_names_the_settings() {
    let setup = Setup::cloud();
    setup.seed_oauth(0);
    let before = setup.stored();
    setup.fake.inject(
        TOKEN_PATH,
        Fault::Json(401, r#"{"error":"invalid_client","error_description":"Invalid refresh_token"}"#.into()),
        FaultTimes::Always,
    );
    let out = setup.helper("get", &alice_input(&setup), &[NO_PROMPT]);
    assert_one_line_error(
        &out,
        1,
        "credential.bitbucketOAuthClientId and credential.bitbucketOAuthClientSecret",
    );
    assert!(!stderr(&out).contains("login"), "{}", stderr(&out));
    assert_eq!(setup.stored(), before, "nothing deleted");
}
