//! The commands a person runs — login, logout, list, token, diagnose, completions,
//! generate-man — driven through the real binary against the fake Bitbucket.

use std::process::{Command, Output, Stdio};

use crate::common::*;
use bitbucket_test_support::{Consent, FakeBitbucket, Mode, RequestKind, User, client};

impl Setup {
    /// Cloud with alice (API token, consenting) and no consumer; the helper is not git's
    /// credential helper: these tests run its commands directly.
    fn with_api_token() -> Setup {
        let fake = FakeBitbucket::start(Mode::Cloud);
        fake.add_user(User::new("alice", "alice@example.com").with_api_token("alice-api-token-1"));
        fake.set_consenting_user("alice");
        let env = cloud_env(&fake);
        Setup::new(fake, env)
    }

    fn login_with_token(&self) -> Output {
        let (askpass, _) = self.askpass("login", "alice", "alice-api-token-1");
        let url = self.http_root();
        self.run(&["login", &url, "--method", "token"], &[("GIT_ASKPASS", askpass.to_str().unwrap())])
    }
}

#[test]
fn login_with_a_token_then_list_token_and_logout() {
    let s = Setup::with_api_token();
    let out = s.login_with_token();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("signed in to"), "{}", stderr(&out));
    assert!(stderr(&out).contains("as alice (token, no expiry)"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());

    let list = s.run(&["list"], &[]);
    assert!(list.status.success());
    let table = stdout(&list);
    assert!(table.starts_with("HOST"), "{table}");
    assert!(table.contains("alice") && table.contains("token") && table.contains("host default"), "{table}");
    assert!(!table.contains("alice-api-token-1"), "list never shows a secret");

    let json = s.run(&["list", "--json"], &[]);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows[0]["username"], "alice");
    assert_eq!(rows[0]["kind"], "token");
    assert_eq!(rows[0]["host_default"], true);
    assert!(!stdout(&json).contains("alice-api-token-1"));

    let token = s.run(&["token", &s.http_root()], &[]);
    assert!(token.status.success());
    assert_eq!(stdout(&token), "alice-api-token-1\n", "nothing but the token on stdout");

    let logout = s.run(&["logout", &s.http_root()], &[]);
    assert!(logout.status.success());
    assert!(stderr(&logout).contains("signed out alice"), "{}", stderr(&logout));
    let after = s.run(&["list", "--json"], &[]);
    assert_eq!(stdout(&after).trim(), "[]");
    let token = s.run(&["token", &s.http_root()], &[]);
    assert_eq!(token.status.code(), Some(1));
    let root = s.http_root();
    let next = format!("not signed in to {root}; run: git-credential-bitbucket login {root}");
    assert!(stderr(&token).contains(&next), "{}", stderr(&token));
}

/// `credential.http://alice@HOST.*` applies to alice wherever the helper works for her: in git's
/// `get` (git matches the username) and in `token --user alice` alike.
#[test]
fn settings_for_a_url_with_the_user_apply_to_token_for_that_user() {
    let s = Setup::with_api_token();
    assert!(s.login_with_token().status.success());
    s.env.config(&format!("credential.http://alice@{}.namespace", s.fake.host()), "elsewhere");
    let for_alice = s.run(&["token", &s.http_root(), "--user", "alice"], &[]);
    assert_eq!(for_alice.status.code(), Some(1), "alice's namespace holds nothing");
    assert!(stderr(&for_alice).contains("not signed in"), "{}", stderr(&for_alice));
    let host_default = s.run(&["token", &s.http_root()], &[]);
    assert!(host_default.status.success(), "no user, no user setting: {}", stderr(&host_default));
}

/// `list | head -n1`, `list --json | grep -q alice`: a reader that stops early is not a fault
/// of the helper, so it stops quietly, as ripgrep does, instead of failing the pipeline.
#[test]
fn a_reader_that_closed_the_pipe_ends_list_quietly() {
    let s = Setup::with_api_token();
    assert!(s.login_with_token().status.success());
    for args in [&["list"][..], &["list", "--json"], &["--version"], &["--help"], &["completions", "bash"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader); // every write now fails with a broken pipe, whatever the timing
        let mut cmd = s.env.command(HELPER);
        cmd.args(args).stdin(Stdio::null()).stdout(writer).stderr(Stdio::piped());
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}: nothing to say about a reader that left");
    }
}

#[test]
fn login_with_oauth_stores_tokens_and_token_refreshes_when_expired() {
    let s = Setup::with_api_token();
    let port = s.port;
    s.fake.add_consumer("cid", "csecret", &format!("http://localhost:{port}/"));
    s.fake.set_expires_in(30); // inside the 60 s margin: the next use refreshes
    let (browser, opened) = recording_browser(s.tmp.path());
    let mut cmd = s.env.command(HELPER);
    cmd.args(["login", &s.http_root(), "--method", "oauth"])
        .env("BROWSER", &browser)
        .env("BITBUCKET_OAUTH_CLIENT_ID", "cid")
        .env("BITBUCKET_OAUTH_CLIENT_SECRET", "csecret")
        .env("GIT_BITBUCKET_OAUTH_PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let url = wait_for_file(&opened, &mut child);
    let location = s.fake.consent(&url, Consent::Grant);
    client::get(&location.replace("localhost", "127.0.0.1")).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("as alice (oauth, expires"), "{}", stderr(&out));

    let first = s.fake.last_access_token("alice").unwrap();
    let token = s.run(
        &["token", &s.http_root()],
        &[("BITBUCKET_OAUTH_CLIENT_ID", "cid"), ("BITBUCKET_OAUTH_CLIENT_SECRET", "csecret")],
    );
    assert!(token.status.success(), "{}", stderr(&token));
    let printed = stdout(&token);
    assert_ne!(printed.trim(), first, "the near-expiry token was refreshed");
    assert_eq!(printed.trim(), s.fake.last_access_token("alice").unwrap());
    assert_eq!(s.fake.count(RequestKind::Token), 2, "one exchange, one refresh");

    // A parent that closed stdout: the token must reach no file but the store, whatever the
    // helper opens (a lock, a temporary file) while fd 1 is free. Rust's runtime start-up would
    // put /dev/null on fd 1; the helper's own start-up (`main.rs`, `unix_start`) does the same.
    let mut cmd = s.env.command(HELPER);
    cmd.args(["token", &s.http_root()])
        .env("BITBUCKET_OAUTH_CLIENT_ID", "cid")
        .env("BITBUCKET_OAUTH_CLIENT_SECRET", "csecret")
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: only `close`, which is async-signal-safe, runs between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::close(1);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s.fake.count(RequestKind::Token), 3, "refreshed again");
    let newest = s.fake.last_access_token("alice").unwrap();
    let holders = files_containing(s.env.path(), &newest);
    assert_eq!(holders.len(), 1, "only the store holds the token: {holders:?}");
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            found.push(path);
        }
    }
    found
}

#[test]
fn logout_of_an_unknown_account_says_so_and_succeeds() {
    let s = Setup::with_api_token();
    let out = s.run(&["logout", &s.http_root(), "--user", "nobody"], &[]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("nothing stored"), "{}", stderr(&out));
}

#[test]
fn login_to_a_host_that_is_not_bitbucket_is_bad_usage() {
    let s = Setup::with_api_token();
    let out = s.run(&["login", "https://github.com"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim_end(),
        "git-credential-bitbucket: https://github.com is not a Bitbucket host this helper serves; for Data Center run: git-credential-bitbucket configure --url https://github.com"
    );
}

#[test]
fn diagnose_reports_settings_store_network_and_redacts_secrets() {
    let s = Setup::with_api_token();
    s.env.config(&format!("credential.{}.helper", s.http_root()), HELPER);
    s.env.config("credential.bitbucketOAuthClientId", "cid");
    s.env.config("credential.bitbucketOAuthClientSecret", "client-secret-value");
    let out = s.run(&["diagnose", &s.http_root()], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("git: git version 2."), "{text}");
    assert!(text.contains("bitbucketOAuthClientSecret") && text.contains("(set, REDACTED)"), "{text}");
    assert!(!text.contains("client-secret-value"), "diagnose never prints a secret");
    assert!(text.contains("store: plaintext is reachable"), "{text}");
    assert!(text.contains("answered HTTP 401 without credentials"), "{text}");
    assert!(text.contains("clock: within"), "{text}");
    assert!(text.contains("all checks passed"), "{text}");
    assert!(!text.contains("short name"), "a path needs no note: {text}");

    // A configuration from before `configure` wrote paths: still fine, with a note on its cost.
    s.env.config("credential.https://bitbucket.org.helper", "bitbucket");
    let out = s.run(&["diagnose", &s.http_root()], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("note: with the short name `bitbucket` git starts a second git"), "{text}");
}

#[test]
fn diagnose_exits_1_and_says_what_is_wrong() {
    let s = Setup::with_api_token();
    let out = s.run(
        &["diagnose", &s.http_root()],
        &[
            ("GIT_BITBUCKET_CREDENTIAL_STORE", "keyring"),
            ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("PROBLEM store:") && text.contains("credentialStore plaintext"), "{text}");
    assert!(text.contains("PROBLEM git config: no credential helper mentions bitbucket"), "{text}");
}

#[test]
fn bash_completion_completes_subcommands() {
    let out = Command::new(HELPER).args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("completion.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let probe = format!(
        "source {}; COMP_WORDS=(git-credential-bitbucket lo); COMP_CWORD=1; COMP_LINE='git-credential-bitbucket lo'; COMP_POINT=${{#COMP_LINE}}; _git__credential__bitbucket git-credential-bitbucket lo git-credential-bitbucket; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let words = String::from_utf8_lossy(&out.stdout);
    let mut words: Vec<&str> = words.lines().collect();
    words.sort();
    assert_eq!(words, ["login", "logout"], "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn man_page_is_generated_and_renders() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(HELPER).arg("generate-man").arg(dir.path()).output().unwrap();
    assert!(out.status.success());
    let page = dir.path().join("git-credential-bitbucket.1");
    let roff = std::fs::read_to_string(&page).unwrap();
    assert!(roff.starts_with(".ie") || roff.contains(".TH git-credential-bitbucket"), "{roff}");
    assert!(dir.path().join("git-credential-bitbucket-login.1").is_file());
    let rendered = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
        .unwrap();
    assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(text.contains("NAME") && text.contains("credential helper for Bitbucket"), "{text}");
    assert!(text.contains("SUBCOMMANDS"), "{text}");
}

#[test]
fn help_for_each_subcommand_works() {
    for sub in ["get", "login", "logout", "list", "token", "diagnose", "configure"] {
        let out = Command::new(HELPER).args(["help", sub]).output().unwrap();
        assert!(out.status.success(), "help {sub}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"));
    }
}

#[test]
fn version_names_the_release_and_the_commit_it_was_built_from() {
    let out = Command::new(HELPER).arg("--version").output().unwrap();
    assert!(out.status.success());
    let head = Command::new("git")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .unwrap();
    // Tests run from a git checkout; the commit is HEAD's (build.rs reruns when HEAD moves).
    assert!(head.status.success(), "not a git checkout: {}", String::from_utf8_lossy(&head.stderr));
    let commit = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    assert_eq!(
        stdout(&out),
        format!(
            "git-credential-bitbucket {} (commit {commit})\nbuilt-in OAuth consumer: no\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn list_and_logout_work_with_the_keyring_store() {
    let s = Setup::with_api_token();
    let session = bitbucket_test_support::KeyringSession::shared();
    let mut env: Vec<(String, String)> = session.bus_env();
    env.push(("GIT_BITBUCKET_CREDENTIAL_STORE".into(), "keyring".into()));
    env.push(("GIT_BITBUCKET_NAMESPACE".into(), format!("cmds{}", std::process::id())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (askpass, _) = s.askpass("login", "alice", "alice-api-token-1");
    let mut login_env = env.clone();
    login_env.push(("GIT_ASKPASS", askpass.to_str().unwrap()));
    assert!(s.run(&["login", &s.http_root(), "--method", "token"], &login_env).status.success());

    let rows: serde_json::Value = serde_json::from_slice(&s.run(&["list", "--json"], &env).stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["username"], "alice");
    assert!(s.run(&["logout", &s.http_root()], &env).status.success());
    let rows: serde_json::Value = serde_json::from_slice(&s.run(&["list", "--json"], &env).stdout).unwrap();
    assert_eq!(rows, serde_json::json!([]));
}

#[test]
fn setup_oauth_refuses_to_run_under_a_configured_consumer_and_changes_nothing() {
    let s = Setup::cloud();
    let before = std::fs::read_to_string(s.env.global_config()).unwrap();
    let out = s.helper_args(&["login", &format!("http://{}", s.fake.host()), "--setup-oauth"], "", &[]);
    assert_one_line_error(&out, 2, "setup under a configured consumer");
    assert!(stderr(&out).contains("already configured (git config, global)"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(s.env.global_config()).unwrap(), before, "git config unchanged");
    assert!(!s.store_file().exists(), "nothing stored");
}
