//! Data Center's username after a browser sign-in without depending on `whoami` (issue 19):
//! no endpoint there is documented to map an OAuth token to its user, and `whoami` can answer
//! an empty body to a Bearer token. The name comes from `X-AUSERNAME`, and when nothing names
//! the user the sign-in is kept under Git Credential Manager's placeholder, which git sends
//! with the token over Basic. Real git, the fake Data Center, a recording browser.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::common::*;
use bitbucket_test_support::{Consent, FakeBitbucket, GitEnv, Mode, RequestKind, SECRET_MARK, User, client};

const REPO: &str = "PROJ/repo";

/// A fake Data Center under `/bitbucket` with carol consenting and an application link, and a
/// git environment using the helper for it (base URL configured, plaintext store).
fn datacenter() -> Setup {
    let fake = FakeBitbucket::start(Mode::DataCenter { context_path: "/bitbucket".to_owned() });
    fake.create_repo(REPO);
    fake.add_user(User::new("carol", "carol@example.com"));
    fake.set_consenting_user("carol");
    let mut env = GitEnv::new();
    env.config("credential.helper", HELPER);
    env.set_env("GIT_BITBUCKET_CREDENTIAL_STORE", "plaintext");
    let setup = Setup::new(fake, env);
    let port = setup.port;
    setup.fake.add_consumer(CLIENT_ID, CLIENT_SECRET, &format!("http://localhost:{port}/"));
    setup.env.config(&format!("credential.{}.provider", setup.http_root()), "bitbucket");
    setup.env.config("credential.bitbucketDataCenterUrl", &setup.fake.base_url());
    setup.env.config("credential.bitbucketDataCenterOAuthClientId", CLIENT_ID);
    setup.env.config("credential.bitbucketDataCenterOAuthClientSecret", CLIENT_SECRET);
    setup.env.config("credential.bitbucketOAuthRedirectPort", &port.to_string());
    setup
}

/// `git clone` signing in through a recording browser whose consent the test gives.
fn clone_signing_in(setup: &Setup, dir: &str) -> Output {
    let (browser, opened) = recording_browser(setup.tmp.path());
    let mut child = setup
        .env
        .command("git")
        .args(["clone", "-q", &setup.fake.git_url(REPO), dir])
        .current_dir(setup.tmp.path())
        .env_remove("GIT_TERMINAL_PROMPT")
        .env("BROWSER", &browser)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"").unwrap();
    let url = wait_for_file(&opened, &mut child);
    let location = setup.fake.consent(&url, Consent::Grant);
    let back = client::get(&location.replace("://localhost:", "://127.0.0.1:")).unwrap();
    assert_eq!(back.status, 200, "{}", back.text());
    let out = child.wait_with_output().unwrap();
    eprintln!("$ git clone (browser)\n{}", stderr(&out));
    assert!(!stderr(&out).contains(SECRET_MARK));
    out
}

/// The paths of the REST requests made so far, with their status, less the anonymous OAuth
/// 2.0 provider probe made before the browser opens.
fn rest_requests(setup: &Setup) -> Vec<(String, u16)> {
    setup
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::Rest && !r.path.ends_with("/rest/oauth2/1.0/client"))
        .map(|r| (r.path, r.status))
        .collect()
}

/// A second clone and a `git credential fill`, with prompts off: the stored sign-in serves.
fn no_prompt_again(setup: &Setup, username: &str) {
    let out = setup
        .env
        .command("git")
        .args(["clone", "-q", &setup.fake.git_url(REPO), "second"])
        .current_dir(setup.tmp.path())
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "second clone: {}", stderr(&out));
    let mut fill: Command = git_credential(&setup.env, "fill");
    fill.env("GIT_TERMINAL_PROMPT", "0");
    let filled = run_with_input(fill, format!("url={}\n\n", setup.fake.git_url(REPO)));
    assert_eq!(field(&filled, "username"), Some(username));
    assert_eq!(setup.fake.count(RequestKind::Token), 1, "one sign-in, no further token request");
}

#[test]
fn whoami_empty_for_bearer_the_username_comes_from_x_ausername() {
    let setup = datacenter();
    setup.fake.set_whoami_empty_for_bearer(true);
    let out = clone_signing_in(&setup, "first");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        rest_requests(&setup),
        [("/bitbucket/plugins/servlet/applinks/whoami".to_owned(), 200)],
        "whoami's X-AUSERNAME named the user: nothing else asked"
    );
    let host = setup.fake.host();
    let record = setup.record(&format!("git:http://carol@{host}/"), "carol");
    assert!(record.is_some_and(|r| r["kind"] == "oauth"), "stored as carol: {:?}", setup.services());
    no_prompt_again(&setup, "carol");
}

#[test]
fn with_neither_whoami_nor_x_ausername_the_sign_in_is_kept_under_the_placeholder() {
    let setup = datacenter();
    setup.fake.set_whoami_empty_for_bearer(true);
    setup.fake.set_ausername_header(false);
    let out = clone_signing_in(&setup, "first");
    assert!(out.status.success(), "the sign-in is not failed: {}", stderr(&out));
    assert!(setup.tmp.path().join("first/.git").is_dir());
    assert_eq!(
        rest_requests(&setup),
        [
            ("/bitbucket/plugins/servlet/applinks/whoami".to_owned(), 200),
            ("/bitbucket/rest/api/1.0/profile/recent/repos".to_owned(), 200),
        ],
        "whoami, then the validation endpoint's X-AUSERNAME, once each"
    );
    let host = setup.fake.host();
    let record = setup.record(&format!("git:http://OAUTH_USERNAME@{host}/"), "OAUTH_USERNAME");
    assert!(
        record.is_some_and(|r| r["kind"] == "oauth"),
        "kept under the placeholder: {:?}",
        setup.services()
    );
    no_prompt_again(&setup, "OAUTH_USERNAME");
}

#[test]
fn whoami_naming_the_user_in_its_body_alone_is_enough() {
    let setup = datacenter();
    setup.fake.set_ausername_header(false);
    let out = clone_signing_in(&setup, "first");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(rest_requests(&setup), [("/bitbucket/plugins/servlet/applinks/whoami".to_owned(), 200)]);
    assert!(setup.record(&format!("git:http://carol@{}/", setup.fake.host()), "carol").is_some());
}
