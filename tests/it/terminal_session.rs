//! A person at a real terminal (tmux): `login --method token` prompts on the terminal, then
//! `list` shows the account, then `logout` removes it; and an OAuth sign-in from a machine
//! without a browser, finished by pasting the address the browser was sent to (on Cloud, which
//! does not check PKCE, a bare code and another sign-in's address are refused). The screen is
//! captured with `tmux capture-pane` and printed, so each session reads as a person saw it.

use std::time::{Duration, Instant};

use crate::common::*;
use bitbucket_test_support::{Consent, FakeBitbucket, GitEnv, Mode, Tmux, User};

/// A terminal running an interactive `sh` with `env`'s environment, the helper first on
/// PATH, prompts allowed, and no desktop (no DISPLAY, no BROWSER).
fn terminal(env: &GitEnv, name: &str) -> Tmux {
    let bin_dir = std::path::Path::new(HELPER).parent().unwrap().as_os_str().to_owned();
    let mut vars: Vec<_> =
        env.env().into_iter().filter(|(k, _)| k != "PATH" && k != "GIT_TERMINAL_PROMPT").collect();
    let mut path = bin_dir;
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    vars.push(("PATH".into(), path));
    Tmux::start(&format!("terminal-session-{name}"), (200, 50), "PS1='$ ' exec sh -i", vars)
}

#[test]
fn login_prompts_on_the_terminal_then_list_and_logout() {
    let fake = FakeBitbucket::start(Mode::Cloud);
    fake.add_user(User::new("alice", "alice@example.com").with_api_token("alice-terminal-token"));
    let env = cloud_env(&fake);
    let url = format!("http://{}", fake.host());

    let tmux = terminal(&env, "login");
    tmux.wait_for("$");
    tmux.type_line(&format!("git-credential-bitbucket login {url} --method token"));
    tmux.wait_for(&format!("Username for '{url}':"));
    tmux.type_line("alice");
    tmux.wait_for(&format!("Password for 'http://alice@{}':", fake.host()));
    tmux.type_line("alice-terminal-token");
    let screen = tmux.wait_for("as alice (token, no expiry)");
    assert!(!screen.contains("alice-terminal-token"), "the token is not echoed:\n{screen}");
    assert!(screen.contains("API token"), "the Cloud hint is shown:\n{screen}");
    assert!(screen.contains("App passwords stopped working on 2026-07-28"), "{screen}");

    tmux.type_line("git-credential-bitbucket list");
    tmux.wait_for("host default");
    tmux.type_line(&format!("git-credential-bitbucket logout {url}"));
    tmux.wait_for("signed out alice");
    tmux.type_line("git-credential-bitbucket list; echo listed-$?");
    let screen = tmux.wait_for("listed-0");
    eprintln!("---- tmux capture-pane ----\n{}\n---------------------------", screen.trim_end());
    assert!(screen.contains("no accounts stored"), "{screen}");
    assert!(!screen.contains("alice-terminal-token"), "{screen}");
}

#[test]
fn without_a_browser_on_cloud_only_the_pasted_address_with_this_state_signs_in() {
    let fake = FakeBitbucket::start(Mode::Cloud);
    fake.add_user(User::new("alice", "alice@example.com"));
    fake.set_consenting_user("alice");
    let port = free_port();
    fake.add_consumer("cid", "csecret", &format!("http://localhost:{port}/"));
    let env = cloud_env(&fake);
    env.config("credential.bitbucketOAuthClientId", "cid");
    env.config("credential.bitbucketOAuthClientSecret", "csecret");
    env.config("credential.bitbucketOAuthRedirectPort", &port.to_string());
    let url = format!("http://{}", fake.host());

    let tmux = terminal(&env, "paste");
    tmux.wait_for("$");
    tmux.type_line(&format!("git-credential-bitbucket login {url} --method oauth"));
    let screen = tmux.wait_for("&state=...):");
    assert!(
        !screen.contains("or just the code"),
        "Cloud does not check PKCE: no bare code offered:\n{screen}"
    );
    let authorize = screen
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{url}/site/oauth2/authorize?")))
        .unwrap_or_else(|| panic!("no sign-in address on the screen:\n{screen}"))
        .to_owned();
    let code_of = |address: &str| {
        address.split("code=").nth(1).and_then(|c| c.split('&').next()).unwrap_or_default().to_owned()
    };

    // A code from another sign-in (another state: someone else's attempt, or an old one). Cloud
    // would exchange it, PKCE or not, so only the state can refuse it.
    let mut other = url::Url::parse(&authorize).unwrap();
    let pairs: Vec<(String, String)> = other
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" { "another-sign-in".to_owned() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    other.query_pairs_mut().clear().extend_pairs(pairs);
    let stolen = fake.consent(other.as_str(), Consent::Grant);
    assert!(stolen.contains("state=another-sign-in"), "{stolen}");
    tmux.type_line(&code_of(&stolen));
    tmux.wait_for("a code alone is not accepted here");
    tmux.type_line(&stolen);
    tmux.wait_for("that is not the address of this sign-in (one with this sign-in's state");

    // The person opens the address elsewhere, grants access, and copies where the browser went
    // (on another machine: localhost there is not this machine, so nothing reaches the listener).
    let redirected = fake.consent(&authorize, Consent::Grant);
    assert!(redirected.starts_with(&format!("http://localhost:{port}/?code=")), "{redirected}");
    tmux.type_line(&redirected);
    let screen = tmux.wait_for("as alice (oauth, expires");
    // The terminal echoes what the person pasted; the codes are the fake's secrets, so the
    // printed copy of the screen shows them as <code>.
    let shown = screen.replace(&code_of(&redirected), "<code>").replace(&code_of(&stolen), "<code>");
    eprintln!("---- tmux capture-pane ----\n{}\n---------------------------", shown.trim_end());
    assert!(screen.contains("paste the whole address"), "{screen}");
    assert!(!screen.contains("fakeSECRET_at") && !screen.contains("fakeSECRET_rt"), "no token on the screen");
    assert_eq!(
        fake.count(bitbucket_test_support::RequestKind::Token),
        1,
        "only the right code was exchanged"
    );
}

#[test]
fn with_several_accounts_and_no_default_a_terminal_asks_which_one() {
    let fake = FakeBitbucket::start(Mode::Cloud);
    let env = crate::common::cloud_env(&fake);
    env.config("credential.helper", HELPER);
    let host = fake.host();
    for user in ["work", "home"] {
        let input = format!("protocol=http\nhost={host}\nusername={user}\npassword={user}-api-token\n\n");
        let mut store = env.command(HELPER);
        store.arg("store");
        let out = crate::common::run_with_input(store, input);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // git's "forget this host": the default goes, both accounts stay.
    let forget = format!("protocol=http\nhost={host}\n\n");
    let mut erase = env.command(HELPER);
    erase.arg("erase");
    assert!(crate::common::run_with_input(erase, &forget).status.success());

    let tmux = terminal(&env, "accounts");
    tmux.wait_for("$");
    tmux.type_line(&format!("printf 'protocol=http\\nhost={host}\\n\\n' | git credential fill"));
    let screen = tmux.wait_for("Which one should answer");
    assert!(screen.contains("1) home (token)") && screen.contains("2) work (token)"), "{screen}");
    assert!(!screen.contains("api-token"), "no secret in the list:\n{screen}");
    tmux.type_line("2");
    let screen = tmux.wait_for("username=work");
    eprintln!("---- tmux capture-pane ----\n{}\n---------------------------", screen.trim_end());
    // The choice became the default: asked no more.
    tmux.type_line(&format!(
        "printf 'protocol=http\\nhost={host}\\n\\n' | git credential fill; echo filled-$?"
    ));
    let screen = tmux.wait_for("filled-0");
    assert_eq!(screen.matches("Which one should answer").count(), 1, "{screen}");
}

/// A `BROWSER` that appends every address it is given to a file, one per line.
fn appending_browser(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let file = dir.join("opened");
    let script = dir.join("browser");
    write_script(&script, &format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> {}\n", file.display()));
    (script.display().to_string(), file)
}

/// Wait (bounded) until the browser was given an address containing `part`.
fn wait_for_opened(file: &std::path::Path, part: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let opened = std::fs::read_to_string(file).unwrap_or_default();
        if let Some(line) = opened.lines().find(|l| l.contains(part)) {
            return line.to_owned();
        }
        assert!(Instant::now() < deadline, "the browser was never given {part:?}: {opened}");
        std::thread::yield_now();
    }
}

#[test]
fn setup_oauth_guides_checks_the_secret_keeps_it_in_the_store_then_signs_in() {
    let fake = FakeBitbucket::start(Mode::Cloud);
    fake.add_user(User::new("alice", "alice@example.com"));
    fake.set_consenting_user("alice");
    let port = crate::common::free_port();
    fake.add_consumer("ws-key", "ws-consumer-secret", &format!("http://localhost:{port}/"));
    let mut env = crate::common::cloud_env(&fake);
    env.config("credential.bitbucketOAuthRedirectPort", &port.to_string());
    let dir = tempfile::tempdir().unwrap();
    let (browser, opened) = appending_browser(dir.path());
    env.set_env("BROWSER", &browser);
    let url = format!("http://{}", fake.host());
    let page = format!("{}/alice/workspace/settings/oauth-consumers/new", fake.base_url());
    let store = env.home().join(".local/share/git-credential-bitbucket/credentials.json");
    let config_files = [env.global_config(), env.home().join(".config/git/config")];
    let in_config = |text: &str| {
        config_files.iter().any(|f| std::fs::read_to_string(f).unwrap_or_default().contains(text))
    };

    let tmux = terminal(&env, "setup");
    tmux.wait_for("$");
    // A wrong secret is refused at the token endpoint before anything is saved.
    tmux.type_line(&format!("git-credential-bitbucket login {url} --setup-oauth --user alice"));
    tmux.wait_for("Your workspace (the name after bitbucket.org/ in its URLs) [alice]:");
    tmux.type_line("");
    let screen = tmux.wait_for("Key:");
    for shown in [
        page.as_str(),
        &format!("Callback URL:  http://localhost:{port}/"),
        "Account: Read, Repositories: Write",
        "This is a private consumer",
    ] {
        assert!(screen.contains(shown), "{shown:?} is not on the screen:\n{screen}");
    }
    assert_eq!(wait_for_opened(&opened, "oauth-consumers/new"), page, "the page was opened in the browser");
    tmux.type_line("ws-key");
    tmux.wait_for("Secret:");
    tmux.type_line("not-the-secret");
    let screen = tmux.wait_for("Bitbucket refused that key and secret");
    assert!(screen.contains("nothing was saved"), "{screen}");
    assert_eq!(fake.count(bitbucket_test_support::RequestKind::Token), 1, "checked at the token endpoint");
    assert!(!in_config("ws-key"), "no key written after a refused secret");
    assert!(!store.exists(), "nothing stored after a refused secret");

    // The right secret: checked, kept in the store (not in git config), then the sign-in.
    tmux.type_line(&format!("git-credential-bitbucket login {url} --setup-oauth --user alice"));
    tmux.wait_for_nth("[alice]:", 2);
    tmux.type_line("alice");
    tmux.wait_for_nth("Key:", 2);
    tmux.type_line("ws-key");
    tmux.wait_for_nth("Secret:", 2);
    tmux.type_line("ws-consumer-secret");
    tmux.wait_for("Bitbucket accepted the key and secret");
    let authorize = wait_for_opened(&opened, "/site/oauth2/authorize?");
    let back = bitbucket_test_support::client::get(
        &fake.consent(&authorize, Consent::Grant).replace("localhost", "127.0.0.1"),
    )
    .unwrap();
    assert_eq!(back.status, 200);
    let screen = tmux.wait_for("as alice (oauth, expires");
    eprintln!("---- tmux capture-pane ----\n{}\n---------------------------", screen.trim_end());
    assert!(!screen.contains("ws-consumer-secret"), "the secret is not echoed");
    assert_eq!(fake.count(bitbucket_test_support::RequestKind::Token), 3, "two checks, one code exchange");
    assert!(in_config("bitbucketOAuthClientId = ws-key"), "the key is in git config");
    assert!(!in_config("ws-consumer-secret"), "the secret is in no git config file");
    let stored = std::fs::read_to_string(&store).unwrap();
    assert!(
        stored.contains("oauth-consumer:") && stored.contains("ws-consumer-secret"),
        "the secret is in the store"
    );

    // Forgetting it removes both.
    tmux.type_line(&format!("git-credential-bitbucket logout {url} --forget-oauth; echo forgot-$?"));
    tmux.wait_for("forgot-0");
    assert!(!in_config("ws-key"), "the key is gone from git config");
    assert!(!std::fs::read_to_string(&store).unwrap().contains("ws-consumer-secret"), "the secret is gone");
}

#[test]
fn setup_oauth_for_data_center_says_what_the_admin_creates_checks_the_secret_and_keeps_it_in_the_store() {
    let fake = FakeBitbucket::start(Mode::DataCenter { context_path: "/bitbucket".to_owned() });
    fake.add_user(User::new("carol", "carol@example.com"));
    fake.set_consenting_user("carol");
    let port = crate::common::free_port();
    fake.add_consumer("dc-link-id", "dc-link-secret", &format!("http://localhost:{port}/"));
    let mut env = GitEnv::new();
    let url = format!("http://{}", fake.host());
    env.config(&format!("credential.{url}.provider"), "bitbucket");
    env.config("credential.bitbucketDataCenterUrl", &fake.base_url());
    env.config("credential.credentialStore", "plaintext");
    env.config("credential.bitbucketOAuthRedirectPort", &port.to_string());
    let dir = tempfile::tempdir().unwrap();
    let (browser, opened) = appending_browser(dir.path());
    env.set_env("BROWSER", &browser);
    let store = env.home().join(".local/share/git-credential-bitbucket/credentials.json");
    let config_files = [env.global_config(), env.home().join(".config/git/config")];
    let in_config = |text: &str| {
        config_files.iter().any(|f| std::fs::read_to_string(f).unwrap_or_default().contains(text))
    };

    let tmux = terminal(&env, "dcsetup");
    tmux.wait_for("$");
    // What the administrator must create; then a wrong secret, refused before anything is saved.
    tmux.type_line(&format!("git-credential-bitbucket login {url} --setup-oauth"));
    let screen = tmux.wait_for("Client ID:");
    for shown in [
        "incoming application link",
        "External application, direction Incoming",
        &format!("Redirect URL:  http://localhost:{port}/"),
        "Repositories: Write",
        &format!("{}/plugins/servlet/applinks/listApplicationLinks", fake.base_url()),
    ] {
        assert!(screen.contains(shown), "{shown:?} is not on the screen:\n{screen}");
    }
    tmux.type_line("dc-link-id");
    tmux.wait_for("Client secret:");
    tmux.type_line("not-the-secret");
    let screen = tmux.wait_for("Bitbucket refused that client ID and secret");
    assert!(screen.contains("nothing was saved"), "{screen}");
    assert_eq!(fake.count(bitbucket_test_support::RequestKind::Token), 1, "checked at the token endpoint");
    assert_eq!(fake.access_tokens_issued(), 0);
    assert!(!in_config("dc-link-id"), "no id written after a refused secret");
    assert!(!store.exists(), "nothing stored after a refused secret");

    // The right secret: checked, kept in the store (in no git config file), then the sign-in.
    tmux.type_line(&format!("git-credential-bitbucket login {url} --setup-oauth"));
    tmux.wait_for_nth("Client ID:", 2);
    tmux.type_line("dc-link-id");
    tmux.wait_for_nth("Client secret:", 2);
    tmux.type_line("dc-link-secret");
    tmux.wait_for("Bitbucket accepted the client ID and secret");
    let authorize = wait_for_opened(&opened, "/rest/oauth2/latest/authorize?");
    let back = bitbucket_test_support::client::get(
        &fake.consent(&authorize, Consent::Grant).replace("localhost", "127.0.0.1"),
    )
    .unwrap();
    assert_eq!(back.status, 200);
    tmux.wait_for("as carol (oauth, expires");
    assert_eq!(fake.count(bitbucket_test_support::RequestKind::Token), 3, "two checks, one code exchange");
    assert!(in_config("bitbucketDataCenterOAuthClientId = dc-link-id"), "the id is in git config");
    assert!(!in_config("dc-link-secret"), "the secret is in no git config file");
    let stored = std::fs::read_to_string(&store).unwrap();
    assert!(
        stored.contains("oauth-consumer:") && stored.contains("dc-link-secret"),
        "the secret is in the store"
    );

    // diagnose says where the id and the secret came from.
    tmux.type_line(&format!("git-credential-bitbucket diagnose {url} | grep 'OAuth client'"));
    tmux.wait_for(
        "Data Center OAuth client: dc-link-id (id from git config, global; secret from the credential store)",
    );

    // Forgetting it removes both.
    tmux.type_line(&format!("git-credential-bitbucket logout {url} --forget-oauth; echo forgot-$?"));
    let screen = tmux.wait_for("forgot-0");
    eprintln!("---- tmux capture-pane ----\n{}\n---------------------------", screen.trim_end());
    assert!(!screen.contains("dc-link-secret"), "the secret is not echoed");
    assert!(!in_config("dc-link-id"), "the id is gone from git config");
    assert!(!std::fs::read_to_string(&store).unwrap().contains("dc-link-secret"), "the secret is gone");
}

#[test]
fn without_a_browser_on_data_center_a_pasted_bare_code_signs_in_because_pkce_binds_it() {
    let fake = FakeBitbucket::start(Mode::DataCenter { context_path: "/bitbucket".to_owned() });
    fake.add_user(User::new("carol", "carol@example.com"));
    fake.set_consenting_user("carol");
    let port = crate::common::free_port();
    fake.add_consumer("dc-link-id", "dc-link-secret", &format!("http://localhost:{port}/"));
    let env = GitEnv::new();
    let url = format!("http://{}", fake.host());
    env.config(&format!("credential.{url}.provider"), "bitbucket");
    env.config("credential.bitbucketDataCenterUrl", &fake.base_url());
    env.config("credential.credentialStore", "plaintext");
    env.config("credential.bitbucketOAuthRedirectPort", &port.to_string());
    env.config("credential.bitbucketDataCenterOAuthClientId", "dc-link-id");
    env.config("credential.bitbucketDataCenterOAuthClientSecret", "dc-link-secret");

    let tmux = terminal(&env, "dcpaste");
    tmux.wait_for("$");
    tmux.type_line(&format!("git-credential-bitbucket login {url} --method oauth"));
    let screen = tmux.wait_for("or just the code:");
    let authorize = screen
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{}/rest/oauth2/latest/authorize?", fake.base_url())))
        .unwrap_or_else(|| panic!("no sign-in address on the screen:\n{screen}"))
        .to_owned();
    let redirected = fake.consent(&authorize, Consent::Grant);
    let code = redirected.split("code=").nth(1).and_then(|c| c.split('&').next()).unwrap_or_default();
    tmux.type_line(code);
    let screen = tmux.wait_for("as carol (oauth, expires");
    eprintln!(
        "---- tmux capture-pane ----\n{}\n---------------------------",
        screen.replace(code, "<code>").trim_end()
    );
    assert_eq!(fake.count(bitbucket_test_support::RequestKind::Token), 1, "the bare code was exchanged");
    assert_eq!(fake.rejected_grants(), 0, "with this sign-in's PKCE verifier");
}
