//! A person types their Atlassian email and an API token at git's prompt through the helper
//! (issue 19): the token is checked with the email (the name the REST API wants), a 403 from
//! `/2.0/user` is a token without `read:user:bitbucket`, never two-step verification, and git
//! gets `x-bitbucket-api-token-auth` as the username, which it takes with any API token (the
//! fake, like Bitbucket, refuses the email as a git username). Real git, the fake, and an
//! askpass program as the person.

use std::process::{Output, Stdio};

use crate::common::*;
use bitbucket_test_support::{RequestKind, SECRET_MARK, User};

const GIT_SCOPES: [&str; 2] = ["read:repository:bitbucket", "write:repository:bitbucket"];

/// `git clone` of `team/repo` asking only through `askpass`, OAuth offered after tokens and a
/// browser that records whether it was ever opened.
fn clone_typing(setup: &Setup, email: &str, token: &str) -> (Output, std::path::PathBuf) {
    let (askpass, _) = setup.askpass("person", email, token);
    let (browser, opened) = recording_browser(setup.tmp.path());
    let out = setup
        .env
        .command("git")
        .args(["clone", "-q", &setup.fake.git_url("team/repo"), "cloned"])
        .current_dir(setup.tmp.path())
        .env_remove("GIT_TERMINAL_PROMPT")
        .env("GIT_ASKPASS", &askpass)
        .env("GIT_BITBUCKET_AUTHMODES", "token,oauth")
        .env("BROWSER", &browser)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    eprintln!("$ git clone (askpass)\n{}", stderr(&out));
    (out, opened)
}

fn assert_cloned_as_the_api_token_user(setup: &Setup, out: &Output, opened: &std::path::Path, email: &str) {
    let stderr = stderr(out);
    assert!(out.status.success(), "{stderr}");
    assert!(setup.tmp.path().join("cloned/.git").is_dir());
    assert!(!stderr.to_lowercase().contains("two-step"), "{stderr}");
    assert!(!stderr.contains(SECRET_MARK) && !stderr.contains("token-of-erin"), "{stderr}");
    assert!(!opened.exists(), "no browser");
    assert_eq!(setup.fake.count(RequestKind::Authorize) + setup.fake.count(RequestKind::Token), 0);
    assert_eq!(setup.fake.count(RequestKind::Rest), 1, "one check of the token, with the email");
    // git stored what it used: the API token user, never the email.
    let stored = setup.stored();
    assert!(stored.contains("x-bitbucket-api-token-auth"), "{stored}");
    assert!(!stored.contains(email), "{stored}");
    // And the next git command uses it without asking or checking again.
    setup.fake.reset_log();
    let fetch = setup
        .env
        .command("git")
        .args(["-C", "cloned", "fetch", "-q"])
        .current_dir(setup.tmp.path())
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(fetch.status.success(), "{}", String::from_utf8_lossy(&fetch.stderr));
    assert_eq!(setup.fake.count(RequestKind::Rest), 0);
}

#[test]
fn email_and_an_api_token_without_read_user_clone_as_the_api_token_user() {
    let setup = Setup::cloud();
    setup
        .fake
        .add_user(User::new("erin", "erin@example.com").with_scoped_api_token("token-of-erin", &GIT_SCOPES));
    let (out, opened) = clone_typing(&setup, "erin@example.com", "token-of-erin");
    assert_cloned_as_the_api_token_user(&setup, &out, &opened, "erin@example.com");
    let stderr = stderr(&out);
    assert_eq!(stderr.matches("read:user:bitbucket").count(), 1, "one line names the scope: {stderr}");
}

#[test]
fn email_and_an_api_token_with_read_user_clone_as_the_api_token_user() {
    let setup = Setup::cloud();
    setup.fake.add_user(User::new("erin", "erin@example.com").with_api_token("token-of-erin"));
    let (out, opened) = clone_typing(&setup, "erin@example.com", "token-of-erin");
    assert_cloned_as_the_api_token_user(&setup, &out, &opened, "erin@example.com");
    assert!(!stderr(&out).contains("read:user:bitbucket"), "nothing to say: {}", stderr(&out));
}
