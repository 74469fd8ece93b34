//! Real git against the fake Bitbucket Cloud, with this helper as git's only credential
//! helper: an API token stored with `git credential approve` serves `git clone` and `git push`
//! from the store (no REST or token request at all), `git credential reject` removes it from
//! the store (looked at directly: the keyring through `secret-tool`, the plaintext file as
//! JSON), and a secret is answered only for its own user and, with `useHttpPath`, its own path.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::*;
use bitbucket_test_support::{Counts, FakeBitbucket, GitEnv, KeyringSession, Mode, User};
use serde_json::Value;

const TOKEN: &str = "ATATT-alice-e2e-api-token";
const REPO: &str = "team/project";

/// Where the helper keeps secrets in a test, and how the test looks at them directly.
enum Backend {
    Keyring(&'static KeyringSession),
    Plaintext(PathBuf),
}

impl Backend {
    /// The record stored under `service` for `account`, read without the helper.
    fn record(&self, service: &str, account: &str) -> Option<Value> {
        match self {
            Backend::Keyring(keyring) => {
                let items: Vec<_> = keyring
                    .search_all(&[("service", service)])
                    .into_iter()
                    .filter(|item| item.attributes.get("username").map_or("", String::as_str) == account)
                    .collect();
                assert!(items.len() <= 1, "duplicate keyring items for {service}: {items:?}");
                items.first().map(|item| {
                    serde_json::from_str(&item.secret)
                        .unwrap_or_else(|e| panic!("keyring item {service} is not JSON ({e})"))
                })
            }
            Backend::Plaintext(path) => {
                let file = plaintext_file(path)?;
                assert_eq!(file["version"], 1);
                file["entries"].get(service)?.get(account).cloned()
            }
        }
    }
}

/// The fake with user `alice` (API token [`TOKEN`]) and [`REPO`], and a git environment whose
/// only credential helper is this binary, serving the fake's loopback host as Cloud.
fn setup(namespace: &str, backend: &Backend) -> (FakeBitbucket, GitEnv) {
    let fake = FakeBitbucket::start(Mode::Cloud);
    fake.add_user(User::new("alice", "alice@example.com").with_api_token(TOKEN));
    fake.create_repo(REPO);
    let mut env = cloud_env(&fake);
    assert!(Path::new(HELPER).is_absolute(), "{HELPER}");
    env.config("credential.helper", HELPER);
    env.set_env("GIT_BITBUCKET_NAMESPACE", namespace);
    // GitEnv sets it already; the tests depend on it, so say it here too.
    env.set_env("GIT_TERMINAL_PROMPT", "0");
    match backend {
        Backend::Keyring(keyring) => {
            env.set_env("GIT_BITBUCKET_CREDENTIAL_STORE", "keyring");
            for (name, value) in keyring.bus_env() {
                env.set_env(name, value);
            }
        }
        Backend::Plaintext(path) => {
            // Through git config this time (the other tests use the environment variables).
            env.config("credential.credentialStore", "plaintext");
            env.config("credential.plaintextStorePath", path.to_str().expect("UTF-8 temp path"));
        }
    }
    (fake, env)
}

fn approve(env: &GitEnv, url: &str, username: &str, password: &str) {
    let output =
        run_git_credential(env, "approve", &format!("url={url}\nusername={username}\npassword={password}\n"));
    assert!(output.status.success(), "approve: {}", String::from_utf8_lossy(&output.stderr));
}

fn reject(env: &GitEnv, host: &str, username: &str, password: &str) {
    let input = format!("protocol=http\nhost={host}\nusername={username}\npassword={password}\n");
    let output = run_git_credential(env, "reject", &input);
    assert!(output.status.success(), "reject: {}", String::from_utf8_lossy(&output.stderr));
}

/// `git credential fill` for `url`: `Some((username, password))` when git got a credential,
/// `None` when it failed (prompts are off, so no helper answer means failure).
fn fill(env: &GitEnv, url: &str) -> Option<(String, String)> {
    let output = run_git_credential(env, "fill", &format!("url={url}\n"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        assert!(!stdout.contains("password="), "failed fill printed a password: {stdout}");
        return None;
    }
    let value =
        |key: &str| stdout.lines().find_map(|l| l.strip_prefix(key)).map(str::to_owned).unwrap_or_default();
    Some((value("username="), value("password=")))
}

fn commit_file(env: &GitEnv, repo: &Path, name: &str) -> String {
    std::fs::write(repo.join(name), format!("{name}\n")).expect("write file");
    env.git(repo, &["add", name]);
    env.git(repo, &["commit", "-q", "-m", &format!("Add {name}")]);
    env.git(repo, &["rev-parse", "HEAD"])
}

fn assert_token_record(record: Option<Value>, what: &str) {
    let record = record.unwrap_or_else(|| panic!("{what}: nothing stored"));
    assert_eq!(record["kind"], "token", "{what}");
    assert_eq!(record["username"], "alice", "{what}");
    assert_eq!(record["secret"], TOKEN, "{what}");
}

/// Approve, clone, push, reject with another password (kept), reject (gone), clone again (fails).
fn approve_clone_push_reject(namespace: &str, backend: Backend) {
    let (fake, env) = setup(namespace, &backend);
    let host = fake.host();
    let user_key = format!("{namespace}:http://alice@{host}/");
    let default_key = format!("{namespace}:http://{host}/");

    approve(&env, &format!("http://{host}"), "alice", TOKEN);
    assert_token_record(backend.record(&user_key, "alice"), "user key after approve");
    assert_token_record(backend.record(&default_key, ""), "host default after approve");

    env.git(env.path(), &["clone", "-q", &fake.git_url(REPO), "project"]);
    let checkout = env.path().join("project");
    assert_eq!(env.git(&checkout, &["rev-parse", "HEAD"]), fake.head_commit(REPO));
    let pushed = commit_file(&env, &checkout, "from-e2e.txt");
    env.git(&checkout, &["push", "-q", "origin", "main"]);
    assert_eq!(fake.head_commit(REPO), pushed, "the pushed commit is the fake repository's head");
    let counts = fake.counts();
    assert!(counts.git > 0, "{counts}");
    assert_eq!((counts.rest, counts.token, counts.authorize), (0, 0, 0), "{counts}");

    reject(&env, &host, "alice", "some-other-token");
    assert_token_record(backend.record(&user_key, "alice"), "user key after reject of another password");
    assert_token_record(backend.record(&default_key, ""), "host default after reject of another password");

    reject(&env, &host, "alice", TOKEN);
    assert_eq!(backend.record(&user_key, "alice"), None, "user key after reject");
    assert_eq!(backend.record(&default_key, ""), None, "host default after reject");

    fake.reset_log();
    let again = env
        .command("git")
        .args(["clone", "-q", &fake.git_url(REPO), "again"])
        .stdin(Stdio::null())
        .output()
        .expect("run git clone");
    assert!(!again.status.success(), "clone after reject succeeded");
    let counts = fake.counts();
    assert_eq!((counts.rest, counts.token, counts.authorize), (0, 0, 0), "{counts}");
}

#[test]
fn keyring_token_from_approve_serves_clone_and_push_offline_and_reject_removes_it() {
    let keyring = KeyringSession::shared();
    approve_clone_push_reject("e2e-keyring-flow", Backend::Keyring(keyring));
}

#[test]
fn plaintext_token_from_approve_serves_clone_and_push_offline_and_reject_removes_it() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("store").join("credentials.json");
    approve_clone_push_reject("e2e-plaintext-flow", Backend::Plaintext(path));
}

#[test]
fn secret_stored_for_one_user_is_not_answered_for_another() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let backend = Backend::Plaintext(dir.path().join("credentials.json"));
    let (fake, env) = setup("e2e-other-user", &backend);
    let host = fake.host();

    approve(&env, &format!("http://alice@{host}"), "alice", TOKEN);

    assert_eq!(fill(&env, &format!("http://bob@{host}/")), None, "bob got alice's secret");
    assert_eq!(fill(&env, &format!("http://alice@{host}/")), Some(("alice".into(), TOKEN.into())));
    assert_eq!(fill(&env, &format!("http://{host}/")), Some(("alice".into(), TOKEN.into())));
    assert_eq!(fake.counts(), Counts::default(), "no request reached the server");
}

#[test]
fn with_use_http_path_secret_stored_for_one_path_is_not_answered_for_another() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let backend = Backend::Plaintext(dir.path().join("credentials.json"));
    let namespace = "e2e-http-path";
    let (fake, env) = setup(namespace, &backend);
    env.config("credential.useHttpPath", "true");
    let host = fake.host();
    let repo_a = format!("http://{host}/team/a.git");

    approve(&env, &repo_a, "alice", TOKEN);

    assert_token_record(
        backend.record(&format!("{namespace}:http://alice@{host}/team/a.git"), "alice"),
        "a.git",
    );
    assert_eq!(fill(&env, &repo_a), Some(("alice".into(), TOKEN.into())));
    assert_eq!(fill(&env, &format!("http://alice@{host}/team/a.git")), Some(("alice".into(), TOKEN.into())));
    assert_eq!(fill(&env, &format!("http://{host}/team/b.git")), None, "b.git got a.git's secret");
    assert_eq!(fill(&env, &format!("http://alice@{host}/team/b.git")), None, "b.git got a.git's secret");
    assert_eq!(fill(&env, &format!("http://{host}/")), None, "the host without a path got a.git's secret");
    assert_eq!(fake.counts(), Counts::default(), "no request reached the server");
}
