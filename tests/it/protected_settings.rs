//! Protected settings (issue 22): a setting that decides where tokens go is read only from
//! the protected configuration (system, global, `git -c` / `GIT_CONFIG_*`) and the
//! environment. A repository's own `.git/config` naming one is ignored with one notice on
//! stderr, and `diagnose` shows it; a listener standing in for the planted host records every
//! connection and must see none. The same settings from the global config, `git -c` and the
//! environment are honoured. Each case runs with the in-process reader and through the
//! `git config` fallback ([`ASK_GIT_FOR_SETTINGS`]).

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;
use crate::repository_discovery::Listener;

/// Every protected setting (`protected: true` in `src/settings/defs.rs`) with a value a
/// hostile repository would plant: the URLs name the listener, the rest would each change
/// where tokens go or are kept (and make `get` miss alice's stored token).
fn planted(listener: &Listener, elsewhere: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("bitbucketOAuthClientId", "planted-id".into()),
        ("bitbucketOAuthClientSecret", "planted-secret".into()),
        ("bitbucketDataCenterOAuthClientId", "planted-dc-id".into()),
        ("bitbucketDataCenterOAuthClientSecret", "planted-dc-secret".into()),
        ("bitbucketOAuthRedirectPort", "1".into()),
        ("cloudOAuthRedirectUri", "http://localhost:2/".into()),
        ("bitbucketCloudUrl", listener.url.clone()),
        ("bitbucketCloudApiUrl", listener.url.clone()),
        ("bitbucketDataCenterUrl", listener.url.clone()),
        ("bitbucketValidateStoredCredentials", "true".into()),
        ("credentialStore", "gpg".into()),
        ("plaintextStorePath", elsewhere.join("stolen.json").display().to_string()),
        ("namespace", "planted".into()),
    ]
}

/// A repository under the test's directory whose `.git/config` sets every protected setting.
fn hostile_repository(setup: &Setup, listener: &Listener) -> PathBuf {
    let repo = setup.env.path().join("proj");
    setup.env.git(setup.env.path(), &["init", "-q", "proj"]);
    let mut config = std::fs::read_to_string(repo.join(".git/config")).unwrap();
    config.push_str("[credential]\n");
    for (name, value) in planted(listener, setup.tmp.path()) {
        config.push_str(&format!("\t{name} = {value}\n"));
    }
    std::fs::write(repo.join(".git/config"), config).unwrap();
    repo
}

fn helper_in(setup: &Setup, dir: &Path, args: &[&str], input: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = setup.env.command(HELPER);
    cmd.args(args).current_dir(dir).envs(env.iter().copied());
    let out = run_with_input(cmd, input);
    eprintln!("$ (in {}) git-credential-bitbucket {}\n{}", dir.display(), args.join(" "), stderr(&out));
    out
}

fn repository_config_is_ignored_with_the_notice(env: &[(&str, &str)]) {
    let setup = Setup::cloud();
    let (access, _) = setup.seed_oauth(3600);
    let listener = Listener::start();
    let repo = hostile_repository(&setup, &listener);
    setup.fake.reset_log();

    let get = helper_in(&setup, &repo, &["get"], &alice_input(&setup), env);
    assert!(get.status.success(), "{}", stderr(&get));
    assert_eq!(
        field(&get, "password"),
        Some(access.as_str()),
        "the stored token, found where global config says"
    );
    assert_eq!(listener.seen(), Vec::<String>::new(), "nothing went to the planted host");
    assert_eq!(setup.fake.requests().len(), 0, "not validated: the planted validate setting is ignored");
    let notice = stderr(&get);
    assert_eq!(notice.lines().count(), 1, "one line: {notice}");
    assert!(notice.starts_with("git-credential-bitbucket: ignoring credential."), "{notice}");
    assert!(
        notice.trim_end().ends_with(
            "settings that decide where tokens go are read only from your global or system git config, git -c, or the environment"
        ),
        "{notice}"
    );
    for (name, _) in planted(&listener, setup.tmp.path()) {
        assert!(
            notice.contains(&format!("credential.{name} from this repository's .git/config")),
            "{name}: {notice}"
        );
    }
    assert!(!setup.tmp.path().join("stolen.json").exists());

    // `diagnose` names each ignored setting and where it was, and shows what is in force.
    let diagnose = helper_in(&setup, &repo, &["diagnose", &setup.http_root()], "", env);
    let report = stdout(&diagnose);
    for (name, _) in planted(&listener, setup.tmp.path()) {
        assert!(
            report.contains(&format!("ignored: credential.{name} from this repository's .git/config")),
            "{name}: {report}"
        );
    }
    assert!(!report.contains(&format!("{}   [git config, local]", listener.url)), "{report}");
    assert_eq!(listener.seen(), Vec::<String>::new(), "diagnose reached only the fake");

    // git itself, asking the helper from the repository: the fake gets the stored token.
    let url = format!("{}/team/repo.git", setup.http_root());
    let ls = setup
        .env
        .command("git")
        .args(["ls-remote", &url])
        .current_dir(&repo)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(ls.status.success(), "{}", stderr(&ls));
    assert_eq!(listener.seen(), Vec::<String>::new(), "nothing went to the planted host");
}

#[test]
fn a_protected_setting_in_the_repository_is_ignored_with_one_notice() {
    repository_config_is_ignored_with_the_notice(&[]);
}

#[test]
fn a_protected_setting_in_the_repository_is_ignored_through_the_git_config_fallback() {
    repository_config_is_ignored_with_the_notice(&[ASK_GIT_FOR_SETTINGS]);
}

/// Nothing ignored: nothing printed (git's own helper tests compare stderr exactly).
#[test]
fn no_notice_when_nothing_is_ignored() {
    let setup = Setup::cloud();
    let (access, _) = setup.seed_oauth(3600);
    let repo = setup.env.path().join("plain");
    setup.env.git(setup.env.path(), &["init", "-q", "plain"]);
    setup.env.git(&repo, &["config", "credential.bitbucketOAuthTimeout", "60"]);
    for env in [&[][..], &[ASK_GIT_FOR_SETTINGS][..]] {
        let get = helper_in(&setup, &repo, &["get"], &alice_input(&setup), env);
        assert!(get.status.success());
        assert_eq!(field(&get, "password"), Some(access.as_str()));
        assert_eq!(stderr(&get), "", "nothing on stderr");
    }
}

/// Where the validation of a fresh stored token goes proves which API URL is in force: the
/// listener (the API URL and `bitbucketValidateStoredCredentials` set in `source`) records it.
fn honoured(source: &str) {
    honoured_with(source, &[]);
    honoured_with(source, &[ASK_GIT_FOR_SETTINGS]);
}

/// [`honoured`] with `extra` in the helper's environment (the `git config` fallback).
fn honoured_with(source: &str, extra: &[(&str, &str)]) {
    let setup = Setup::cloud();
    // Signed in with OAuth, as a refresh leaves it: such a token is what validation checks.
    setup.seed_oauth(0);
    let token = setup.run(&["token", &setup.http_root()], &[]);
    assert!(token.status.success(), "{}", stderr(&token));
    let listener = Listener::start();
    let repo = setup.env.path().join("plain");
    setup.env.git(setup.env.path(), &["init", "-q", "plain"]);
    let api = listener.url.clone();
    let params = format!(
        "'credential.bitbucketCloudApiUrl'='{api}' 'credential.bitbucketValidateStoredCredentials'='true'"
    );
    let out = match source {
        "global" => {
            setup.env.config("credential.bitbucketCloudApiUrl", &api);
            setup.env.config("credential.bitbucketValidateStoredCredentials", "true");
            helper_in(&setup, &repo, &["get"], &alice_input(&setup), extra)
        }
        "GIT_CONFIG_PARAMETERS" => {
            // With the fallback, the declined construct rides along in the same variable.
            let params = match extra.first() {
                Some((_, declined)) => format!("{params} {declined}"),
                None => params,
            };
            helper_in(&setup, &repo, &["get"], &alice_input(&setup), &[("GIT_CONFIG_PARAMETERS", &params)])
        }
        "GIT_CONFIG_COUNT" => helper_in(
            &setup,
            &repo,
            &["get"],
            &alice_input(&setup),
            &[
                &[
                    ("GIT_CONFIG_COUNT", "2"),
                    ("GIT_CONFIG_KEY_0", "credential.bitbucketCloudApiUrl"),
                    ("GIT_CONFIG_VALUE_0", api.as_str()),
                    ("GIT_CONFIG_KEY_1", "credential.bitbucketValidateStoredCredentials"),
                    ("GIT_CONFIG_VALUE_1", "true"),
                ][..],
                extra,
            ]
            .concat(),
        ),
        "git -c" => {
            let mut cmd = setup.env.command("git");
            cmd.args(["-c", &format!("credential.bitbucketCloudApiUrl={api}")])
                .args(["-c", "credential.bitbucketValidateStoredCredentials=true", "credential", "fill"])
                .current_dir(&repo)
                .env("GIT_TERMINAL_PROMPT", "0")
                .envs(extra.iter().copied());
            run_with_input(cmd, format!("protocol=http\nhost={}\nusername=alice\n\n", setup.fake.host()))
        }
        "environment" => helper_in(
            &setup,
            &repo,
            &["get"],
            &alice_input(&setup),
            &[
                &[
                    ("GIT_BITBUCKET_CLOUD_API_URL", api.as_str()),
                    ("GIT_BITBUCKET_VALIDATE_STORED_CREDENTIALS", "true"),
                ][..],
                extra,
            ]
            .concat(),
        ),
        _ => unreachable!(),
    };
    eprintln!("{source} {extra:?}: {}", stderr(&out));
    assert!(!stderr(&out).contains("ignoring"), "{source}: nothing ignored");
    let seen = listener.seen();
    assert!(
        !seen.is_empty(),
        "{source}: the API URL from {source} is used: the stored token was validated there"
    );
}

#[test]
fn protected_settings_from_global_config_are_honoured() {
    honoured("global");
}

#[test]
fn protected_settings_from_git_dash_c_are_honoured() {
    honoured("GIT_CONFIG_PARAMETERS");
    honoured("GIT_CONFIG_COUNT");
    honoured("git -c");
}

#[test]
fn protected_settings_from_the_environment_are_honoured() {
    honoured("environment");
}

/// Each protected setting, from each source, as `diagnose` shows it: from the repository,
/// ignored; from `git -c` (in the process and through the fallback), in force.
#[test]
fn each_protected_setting_is_in_force_from_git_dash_c_and_ignored_from_the_repository() {
    let setup = Setup::cloud();
    let listener = Listener::start();
    let repo = hostile_repository(&setup, &listener);
    let plain = setup.env.path().join("plain");
    setup.env.git(setup.env.path(), &["init", "-q", "plain"]);
    for (name, value) in planted(&listener, setup.tmp.path()) {
        let count = [
            ("GIT_CONFIG_COUNT", "1".to_owned()),
            ("GIT_CONFIG_KEY_0", format!("credential.{name}")),
            ("GIT_CONFIG_VALUE_0", value.clone()),
        ];
        let env: Vec<(&str, &str)> = count.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut with_fallback = env.clone();
        with_fallback.push(ASK_GIT_FOR_SETTINGS);
        for env in [&env, &with_fallback] {
            let out = helper_in(&setup, &plain, &["diagnose", "https://bitbucket.org"], "", env);
            let report = stdout(&out);
            let line = report.lines().find(|l| l.trim_start().starts_with(&format!("{name} "))).unwrap_or("");
            assert!(line.ends_with("[git config, command]"), "{name}: {line}\n{report}");
        }
    }
    let out = helper_in(&setup, &repo, &["diagnose", "https://bitbucket.org"], "", &[]);
    let report = stdout(&out);
    for (name, _) in planted(&listener, setup.tmp.path()) {
        let line = report.lines().find(|l| l.trim_start().starts_with(&format!("{name} "))).unwrap_or("");
        assert!(!line.contains("local"), "{name}: {line}");
    }
}

/// `config.worktree` (with `extensions.worktreeConfig`) and a file `.git/config` includes are
/// the repository's own configuration too: ignored, each named as where it was.
#[test]
fn worktree_config_and_includes_from_the_repository_are_ignored() {
    let setup = Setup::cloud();
    // Signed in with OAuth, as a refresh leaves it: validation would send this token.
    setup.seed_oauth(0);
    let token = setup.run(&["token", &setup.http_root()], &[]);
    assert!(token.status.success(), "{}", stderr(&token));
    let access = stdout(&token).trim().to_owned();
    let listener = Listener::start();
    let repo = setup.env.path().join("proj");
    setup.env.git(setup.env.path(), &["init", "-q", "proj"]);
    setup.env.git(&repo, &["config", "extensions.worktreeConfig", "true"]);
    std::fs::write(
        repo.join(".git/config.worktree"),
        format!("[credential]\n\tbitbucketCloudApiUrl = {}\n", listener.url),
    )
    .unwrap();
    let included = setup.tmp.path().join("included");
    std::fs::write(&included, "[credential]\n\tbitbucketValidateStoredCredentials = true\n").unwrap();
    setup.env.git(&repo, &["config", "include.path", included.to_str().unwrap()]);
    for env in [&[][..], &[ASK_GIT_FOR_SETTINGS][..]] {
        setup.fake.reset_log();
        let get = helper_in(&setup, &repo, &["get"], &alice_input(&setup), env);
        assert!(get.status.success(), "{}", stderr(&get));
        assert_eq!(field(&get, "password"), Some(access.as_str()));
        let notice = stderr(&get);
        assert!(
            notice.contains("credential.bitbucketCloudApiUrl from this worktree's config.worktree"),
            "{notice}"
        );
        assert!(
            notice
                .contains("credential.bitbucketValidateStoredCredentials from this repository's .git/config"),
            "{notice}"
        );
        assert_eq!(notice.lines().count(), 1, "{notice}");
        assert_eq!(listener.seen(), Vec::<String>::new(), "nothing went to the planted host");
        assert_eq!(setup.fake.requests().len(), 0, "not validated");
    }
}
