//! Several accounts on one host: the first one stored answers remotes without a username,
//! a second `login` keeps it unless asked (`--default`), `use` switches it, `list` marks it,
//! and `credential.<url>.username` picks the account per remote.

use crate::common::*;
use bitbucket_test_support::User;

fn two_accounts() -> Setup {
    let setup = Setup::cloud();
    setup.fake.add_user(User::new("work", "work@example.com").with_api_token("work-api-token"));
    setup.fake.add_user(User::new("home", "home@example.com").with_api_token("home-api-token"));
    setup
}

/// Both accounts signed in, `work` first (so it is the default).
fn both_signed_in() -> Setup {
    let setup = two_accounts();
    login(&setup, "work", &[]);
    login(&setup, "home", &[]);
    setup
}

fn login(setup: &Setup, user: &str, extra: &[&str]) -> String {
    let (script, _) = setup.askpass(user, user, &format!("{user}-api-token"));
    let url = setup.http_root();
    let mut args = vec!["login", url.as_str(), "--method", "token"];
    args.extend_from_slice(extra);
    let out = setup.run(&args, &[("GIT_ASKPASS", script.to_str().unwrap())]);
    assert!(out.status.success(), "{}", stderr(&out));
    stderr(&out)
}

/// The account a `git credential fill` without a username gets.
fn answered_user(setup: &Setup, url_path: &str) -> Option<String> {
    let input = format!("url=http://{}/{url_path}\n\n", setup.fake.host());
    let out = setup.credential("fill", &input, &[("GIT_TERMINAL_PROMPT", "0")]);
    field(&out, "username").map(str::to_owned)
}

fn default_in_list(setup: &Setup) -> Vec<String> {
    let out = setup.run(&["list", "--json"], &[]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    rows.iter()
        .filter(|r| r["host_default"] == serde_json::Value::Bool(true))
        .map(|r| r["username"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_first_account_is_the_default_until_the_person_chooses_another() {
    let setup = two_accounts();
    assert!(login(&setup, "work", &[]).contains("as work (token, no expiry); the default account"));
    let second = login(&setup, "home", &[]);
    assert!(
        second.contains("work stays the default account (switch with: git-credential-bitbucket use home"),
        "{second}"
    );
    assert_eq!(answered_user(&setup, "team/repo.git").as_deref(), Some("work"));
    assert_eq!(default_in_list(&setup), ["work"]);

    let chosen = login(&setup, "home", &["--default"]);
    assert!(chosen.contains("now the default account"), "{chosen}");
    assert_eq!(answered_user(&setup, "team/repo.git").as_deref(), Some("home"));
    assert_eq!(default_in_list(&setup), ["home"]);

    let url = setup.http_root();
    let out = setup.run(&["use", "work", &url], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("work is now the default account"));
    assert_eq!(answered_user(&setup, "team/repo.git").as_deref(), Some("work"));
    assert_eq!(default_in_list(&setup), ["work"]);
}

#[test]
fn use_of_an_account_that_is_not_stored_is_a_clear_error_and_changes_nothing() {
    let setup = two_accounts();
    login(&setup, "work", &[]);
    let before = setup.stored();
    let url = setup.http_root();
    let out = setup.run(&["use", "nobody", &url], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nothing is stored for nobody"), "{stderr}");
    assert!(
        stderr.contains("; sign in first: git-credential-bitbucket login ")
            && stderr.contains(" --user nobody"),
        "{stderr}"
    );
    assert!(setup.stored() == before, "nothing changed");
}

#[test]
fn a_remote_username_setting_picks_the_account_per_remote() {
    let setup = both_signed_in();
    let url = format!("http://{}/team/personal.git", setup.fake.host());
    setup.env.config(&format!("credential.{url}.username"), "home");
    assert_eq!(answered_user(&setup, "team/personal.git").as_deref(), Some("home"));
    assert_eq!(answered_user(&setup, "team/work.git").as_deref(), Some("work"), "others get the default");
}

#[test]
fn without_a_default_and_without_a_terminal_nothing_is_answered_and_nothing_is_asked() {
    let setup = both_signed_in();
    let forget = format!("protocol=http\nhost={}\n\n", setup.fake.host());
    assert!(
        setup.helper("erase", &forget, &[]).status.success(),
        "erase without a username forgets the default"
    );
    let out = setup.helper("get", &forget, &[]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "no answer, no question, no message");
}
