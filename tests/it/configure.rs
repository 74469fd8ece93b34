//! `configure` / `unconfigure` in an isolated home: `configure` makes this helper
//! the only one git uses for `https://bitbucket.org` (an empty `helper` value resets the list,
//! then the helper), adds `provider=bitbucket` for each `--url`, is idempotent, and
//! `unconfigure` takes exactly that away again.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::common::*;
use bitbucket_test_support::GitEnv;

const CLOUD_HELPER_KEY: &str = "credential.https://bitbucket.org.helper";

/// The value `configure` writes when the binary is not on `PATH`: its absolute path.
fn helper_path() -> String {
    let path = std::fs::canonicalize(HELPER).expect("the helper binary exists");
    path.to_str().expect("UTF-8 path").to_owned()
}

fn helper(env: &GitEnv, args: &[&str]) -> Command {
    let mut command = env.command(HELPER);
    command.args(args).stdin(Stdio::null());
    command
}

fn run_ok(mut command: Command, what: &str) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(output.status.success(), "{what}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// Every value of `key` in the global config, in order (empty when unset).
fn values(env: &GitEnv, key: &str) -> Vec<String> {
    let output = env
        .command("git")
        .args(["config", "--global", "--null", "--get-all", key])
        .output()
        .expect("run git config");
    assert!(matches!(output.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&output.stderr));
    split_null(&output.stdout)
}

fn split_null(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut parts: Vec<String> = text.split('\0').map(str::to_owned).collect();
    assert_eq!(parts.pop().as_deref(), Some(""), "output ends with NUL: {text:?}");
    parts
}

/// The global config as key → values in order: what git sees, whatever the file layout.
fn config(env: &GitEnv) -> BTreeMap<String, Vec<String>> {
    let output = env.command("git").args(["config", "--global", "--null", "--list"]).output().expect("git");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in split_null(&output.stdout) {
        let (key, value) = entry.split_once('\n').unwrap_or((&entry, ""));
        map.entry(key.to_owned()).or_default().push(value.to_owned());
    }
    map
}

#[test]
fn configure_sets_an_empty_helper_then_this_helper_for_bitbucket_org() {
    let env = GitEnv::new();
    run_ok(helper(&env, &["configure"]), "configure");
    assert_eq!(values(&env, CLOUD_HELPER_KEY), ["".to_owned(), helper_path()]);
    assert_eq!(values(&env, "credential.https://bitbucket.org.provider"), Vec::<String>::new());
}

#[test]
fn configured_helper_alone_keeps_bitbucket_secrets_even_with_a_global_store_helper() {
    let env = GitEnv::new();
    let git_store = env.path().join("git-credentials");
    env.config("credential.helper", &format!("store --file={}", git_store.display()));
    run_ok(helper(&env, &["configure"]), "configure");
    let ours = env.path().join("ours.json");

    let mut approve = env.command("git");
    approve
        .args(["credential", "approve"])
        .env("GIT_BITBUCKET_CREDENTIAL_STORE", "plaintext")
        .env("GIT_BITBUCKET_PLAINTEXT_STORE", &ours)
        .env("GIT_BITBUCKET_NAMESPACE", "configure-only")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = approve.spawn().expect("run git credential approve");
    let input = b"url=https://bitbucket.org/team/repo.git\nusername=alice\npassword=only-ours\n";
    child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
    let output = child.wait_with_output().expect("git credential approve");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let stored = std::fs::read_to_string(&ours).expect("this helper stored the secret");
    assert!(stored.contains("only-ours"));
    assert!(!git_store.exists(), "git's plaintext store helper also got the Bitbucket secret");
}

#[test]
fn configure_with_url_also_sets_provider_bitbucket_for_that_url() {
    let env = GitEnv::new();
    run_ok(helper(&env, &["configure", "--url", "https://git.example.com"]), "configure --url");

    assert_eq!(values(&env, CLOUD_HELPER_KEY), ["".to_owned(), helper_path()]);
    assert_eq!(values(&env, "credential.https://git.example.com.helper"), ["".to_owned(), helper_path()]);
    assert_eq!(values(&env, "credential.https://git.example.com.provider"), ["bitbucket"]);
}

#[test]
fn configure_twice_leaves_the_same_config() {
    let env = GitEnv::new();
    let args = ["configure", "--url", "https://git.example.com"];
    run_ok(helper(&env, &args), "first configure");
    let once = config(&env);
    run_ok(helper(&env, &args), "second configure");
    assert_eq!(config(&env), once);
    assert_eq!(once[CLOUD_HELPER_KEY], ["".to_owned(), helper_path()]);
}

#[test]
fn unconfigure_removes_what_configure_added_and_nothing_else() {
    let env = GitEnv::new();
    env.config("credential.helper", "cache");
    env.config("credential.https://other.example.com.helper", "other");
    let before = config(&env);

    run_ok(helper(&env, &["configure", "--url", "https://git.example.com"]), "configure");
    assert_ne!(config(&env), before);
    run_ok(helper(&env, &["unconfigure", "--url", "https://git.example.com"]), "unconfigure");

    assert_eq!(config(&env), before);
    assert_eq!(values(&env, CLOUD_HELPER_KEY), Vec::<String>::new());
    assert_eq!(values(&env, "credential.https://git.example.com.provider"), Vec::<String>::new());
}

/// On `PATH` through a link, as package managers install it (`/usr/local/bin/x` ->
/// `../Cellar/x/1.2/bin/x`): `configure` writes the link, which survives an upgrade, and a
/// path rather than the short name `bitbucket`, with which git would start a second `git`
/// (`git credential-bitbucket`) on every `get`, `store` and `erase` only to find the binary.
#[test]
fn configure_writes_the_path_that_path_leads_to_not_the_short_name_nor_the_link_target() {
    let env = GitEnv::new();
    let bin = env.path().join("bin");
    std::fs::create_dir(&bin).expect("bin directory");
    let link = bin.join("git-credential-bitbucket");
    std::os::unix::fs::symlink(helper_path(), &link).expect("symlink");
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let mut command = env.command(&link);
    command.args(["configure"]).stdin(Stdio::null()).env("PATH", path);
    run_ok(command, "configure");
    assert_eq!(values(&env, CLOUD_HELPER_KEY), ["".to_owned(), link.to_str().expect("UTF-8").to_owned()]);
}

#[test]
fn configure_system_writes_the_system_file_and_not_the_global_one() {
    let env = GitEnv::new();
    let system = env.path().join("system-gitconfig");
    let global_before = config(&env);
    let mut command = helper(&env, &["configure", "--system"]);
    command.env_remove("GIT_CONFIG_NOSYSTEM").env("GIT_CONFIG_SYSTEM", &system);
    run_ok(command, "configure --system");

    let output = env
        .command("git")
        .env_remove("GIT_CONFIG_NOSYSTEM")
        .env("GIT_CONFIG_SYSTEM", &system)
        .args(["config", "--system", "--null", "--get-all", CLOUD_HELPER_KEY])
        .output()
        .expect("git config --system");
    assert_eq!(split_null(&output.stdout), ["".to_owned(), helper_path()]);
    assert_eq!(config(&env), global_before, "the global config changed");
}
