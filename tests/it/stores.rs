//! The secret stores (docs/architecture.md, "Store layout"): a 3,000-byte token (longer than today's Bitbucket access
//! tokens) round-trips through every backend — the real Secret Service (gnome-keyring in a
//! private D-Bus session) and the plaintext file through the binary, the memory store and the
//! keyring (split into chunks, as on Windows) through the library. The plaintext file is
//! private, a corrupt one is an error and never replaced, and a keyring that cannot be reached
//! is an error that names the other stores (gpg, cache, plaintext). Also what `store` keeps and
//! ignores, and that `get` with nothing stored and prompts off says nothing.

use std::path::PathBuf;
use std::process::Output;

use crate::common::*;
use bitbucket_test_support::{GitEnv, KeyringSession};
use git_credential_bitbucket::Secret;
use git_credential_bitbucket::store::{
    KeyringStore, MemoryStore, SecretKind, SecretStore, StoreKey, StoredSecret,
};
use serde_json::Value;

const TOKEN_BYTES: usize = 3000;
const CLOUD_ALICE: &str = "protocol=https\nhost=bitbucket.org\nusername=alice\n";

/// A token of exactly [`TOKEN_BYTES`] bytes from the characters real tokens use.
fn long_token(seed: u8) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..TOKEN_BYTES).map(|i| char::from(ALPHABET[(i * 7 + usize::from(seed)) % ALPHABET.len()])).collect()
}

/// Runs the helper in `env` with `vars` and `input` on stdin.
fn run(env: &GitEnv, vars: &[(String, String)], op: &str, input: &str) -> Output {
    let mut cmd = env.command(HELPER);
    cmd.arg(op).envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    run_with_input(cmd, input)
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// Environment for the plaintext store at `path` under `namespace`.
fn plaintext(namespace: &str, path: &std::path::Path) -> Vec<(String, String)> {
    vars(&[
        ("GIT_BITBUCKET_CREDENTIAL_STORE", "plaintext"),
        ("GIT_BITBUCKET_PLAINTEXT_STORE", path.to_str().expect("UTF-8 path")),
        ("GIT_BITBUCKET_NAMESPACE", namespace),
    ])
}

fn store_path(env: &GitEnv) -> PathBuf {
    env.path().join("store").join("credentials.json")
}

#[test]
fn token_of_3000_bytes_round_trips_through_the_keyring() {
    let keyring = KeyringSession::shared();
    let env = GitEnv::new();
    let namespace = "stores-keyring-binary";
    let mut vars =
        vars(&[("GIT_BITBUCKET_CREDENTIAL_STORE", "keyring"), ("GIT_BITBUCKET_NAMESPACE", namespace)]);
    vars.extend(keyring.bus_env());
    let token = long_token(1);

    assert_quiet_success(&run(&env, &vars, "store", &format!("{CLOUD_ALICE}password={token}\n")), "store");

    let output = run(&env, &vars, "get", &format!("{CLOUD_ALICE}\n"));
    assert_quiet_success(&output, "get");
    assert_eq!(stdout(&output), format!("username=alice\npassword={token}\n"));
    let service = format!("{namespace}:https://alice@bitbucket.org/");
    let items = keyring.search_all(&[("service", &service)]);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].attributes.get("username").map(String::as_str), Some("alice"));
    let record: Value = serde_json::from_str(&items[0].secret).expect("the keyring item is a JSON record");
    assert_eq!((record["kind"].as_str(), record["secret"].as_str()), (Some("token"), Some(token.as_str())));
    assert!(no_plaintext_store_written(&env), "the keyring store wrote a plaintext file");

    assert_quiet_success(&run(&env, &vars, "erase", &format!("{CLOUD_ALICE}password={token}\n")), "erase");
    assert_eq!(keyring.search_all(&[("service", &service)]), vec![]);
    let default_service = format!("{namespace}:https://bitbucket.org/");
    assert_eq!(keyring.search_all(&[("service", &default_service)]), vec![], "host default left behind");
}

/// True when nothing was written where the plaintext store would live by default.
fn no_plaintext_store_written(env: &GitEnv) -> bool {
    !env.home().join(".local/share/git-credential-bitbucket").exists()
}

#[test]
fn token_of_3000_bytes_round_trips_through_a_private_plaintext_file() {
    let env = GitEnv::new();
    let path = store_path(&env);
    let vars = plaintext("stores-plaintext", &path);
    let token = long_token(2);

    assert_quiet_success(&run(&env, &vars, "store", &format!("{CLOUD_ALICE}password={token}\n")), "store");
    let output = run(&env, &vars, "get", &format!("{CLOUD_ALICE}\n"));
    assert_quiet_success(&output, "get");
    assert_eq!(stdout(&output), format!("username=alice\npassword={token}\n"));

    let file: Value = serde_json::from_slice(&std::fs::read(&path).expect("store file")).expect("JSON");
    assert_eq!(file["version"], 1);
    assert_eq!(
        file["entries"]["stores-plaintext:https://alice@bitbucket.org/"]["alice"]["secret"],
        token.as_str()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600, "file mode");
    assert_eq!(mode(path.parent().expect("dir")), 0o700, "directory mode");
}

#[test]
fn memory_store_round_trips_a_3000_byte_token_in_process() {
    let store = MemoryStore::new();
    let key =
        StoreKey { service: "stores-memory:https://alice@bitbucket.org/".into(), account: "alice".into() };
    let mut record = StoredSecret::new(SecretKind::OAuth, "alice", Secret::new(long_token(3)));
    record.expires_at = Some(4_000_000_000);

    store.save(&key, &record).expect("save");
    assert_eq!(store.load(&key).expect("load"), Some(record.clone()));
    assert_eq!(store.clone().load(&key).expect("a clone shares the entries"), Some(record.clone()));
    assert_eq!(store.list("stores-memory").expect("list"), vec![(key.clone(), record)]);
    assert_eq!(store.list("other").expect("list"), vec![]);
    assert!(store.delete(&key).expect("delete"));
    assert_eq!(store.load(&key).expect("load"), None);
    assert!(!store.delete(&key).expect("second delete"));
}

#[test]
fn memory_store_keeps_nothing_between_runs() {
    let env = GitEnv::new();
    let vars = vars(&[
        ("GIT_BITBUCKET_CREDENTIAL_STORE", "memory"),
        ("GIT_BITBUCKET_NAMESPACE", "stores-memory-bin"),
    ]);
    assert_quiet_success(&run(&env, &vars, "store", &format!("{CLOUD_ALICE}password=gone\n")), "store");
    let output = run(&env, &vars, "get", &format!("{CLOUD_ALICE}\n"));
    assert_quiet_success(&output, "get");
    assert_eq!(stdout(&output), "");
}

/// Set (to the test's name) in the child process that
/// [`keyring_store_in_process_round_trips_and_deletes_chunked_and_whole_records`] runs itself in.
const KEYRING_CHILD: &str = "GCB_TEST_KEYRING_IN_PROCESS";

/// The only test that uses the keyring in-process. The keyring crate finds the bus in the
/// process environment (`DBUS_SESSION_BUS_ADDRESS`, read once, at first use), and the tests
/// share one process running them in parallel threads, where setting a variable would race
/// with every other test (and leak into the processes they start). So the test runs itself
/// again in a child process of its own, the test binary started on this one test, and does
/// its work there, where it is the only thread and may set the environment before anything
/// reads it.
#[test]
fn keyring_store_in_process_round_trips_and_deletes_chunked_and_whole_records() {
    let name = format!(
        "{}::keyring_store_in_process_round_trips_and_deletes_chunked_and_whole_records",
        module_path!().split_once("::").map_or(module_path!(), |(_, inner)| inner)
    );
    if std::env::var_os(KEYRING_CHILD).is_some_and(|child| child == name.as_str()) {
        keyring_store_round_trips_in_this_process();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", &name, "--test-threads=1", "--nocapture"])
        .env(KEYRING_CHILD, &name)
        .output()
        .expect("the test binary runs");
    let report = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "the test in its own process failed:\n{report}");
    assert!(report.contains("1 passed"), "the test ran in its own process:\n{report}");
}

/// The body of [`keyring_store_in_process_round_trips_and_deletes_chunked_and_whole_records`],
/// in a process that runs nothing else; its own keyring session.
fn keyring_store_round_trips_in_this_process() {
    let keyring = KeyringSession::shared();
    for (name, value) in keyring.bus_env() {
        // SAFETY: this process runs only this test (`--exact`, one test thread), and nothing
        // has read these variables before; helper processes get their environment explicitly.
        unsafe { std::env::set_var(name, value) };
    }
    let items = |service: &str| keyring.search_all(&[("service", service)]);
    let record = StoredSecret::new(SecretKind::Token, "alice", Secret::new(long_token(4)));
    let json_len = serde_json::to_string(&record).expect("JSON").len();

    // Split: the main item holds a header, the parts live in `{service}#1..=n`.
    let chunked = KeyringStore::with_chunk_limit(100);
    let key =
        StoreKey { service: "stores-chunked:https://alice@bitbucket.org/".into(), account: "alice".into() };
    chunked.save(&key, &record).expect("save chunked");
    let parts = json_len.div_ceil(100);
    assert!(parts > 1);
    let main = items(&key.service);
    assert_eq!(main.len(), 1, "{main:?}");
    assert_eq!(main[0].secret, format!("{{\"chunks\":{parts}}}"));
    for i in 1..=parts {
        let part = items(&format!("{}#{i}", key.service));
        assert_eq!(part.len(), 1, "part {i}");
        assert!(part[0].secret.len() <= 100, "part {i} is {} bytes", part[0].secret.len());
    }
    assert_eq!(items(&format!("{}#{}", key.service, parts + 1)), vec![]);
    assert_eq!(chunked.load(&key).expect("load chunked"), Some(record.clone()));
    assert_eq!(KeyringStore::new().load(&key).expect("any keyring store reads chunks"), Some(record.clone()));
    assert_eq!(chunked.list("stores-chunked").expect("list"), vec![(key.clone(), record.clone())]);

    // A shorter record replaces it whole, and the old parts go.
    let short = StoredSecret::new(SecretKind::Token, "alice", Secret::new("short"));
    chunked.save(&key, &short).expect("save short");
    assert_eq!(chunked.load(&key).expect("load short"), Some(short));
    for i in 1..=parts {
        assert_eq!(items(&format!("{}#{i}", key.service)), vec![], "part {i} left after shrinking");
    }

    // Chunked again, then deleted: nothing of it is left.
    chunked.save(&key, &record).expect("save chunked again");
    assert!(chunked.delete(&key).expect("delete"));
    assert_eq!(items(&key.service), vec![]);
    for i in 1..=parts {
        assert_eq!(items(&format!("{}#{i}", key.service)), vec![], "part {i} left after delete");
    }
    assert_eq!(chunked.load(&key).expect("load deleted"), None);
    assert!(!chunked.delete(&key).expect("second delete"));

    // Without a chunk limit (Linux), one item holds the whole record.
    let whole = KeyringStore::new();
    let key =
        StoreKey { service: "stores-whole:https://alice@bitbucket.org/".into(), account: "alice".into() };
    whole.save(&key, &record).expect("save whole");
    let found = items(&key.service);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].attributes.get("username").map(String::as_str), Some("alice"));
    assert_eq!(found[0].secret.len(), json_len);
    assert_eq!(whole.load(&key).expect("load whole"), Some(record));
    assert!(whole.delete(&key).expect("delete whole"));
    assert_eq!(items(&key.service), vec![]);
}

#[test]
fn corrupt_plaintext_store_is_an_error_and_left_byte_for_byte() {
    let env = GitEnv::new();
    let path = store_path(&env);
    std::fs::create_dir_all(path.parent().expect("dir")).expect("create dir");
    let corrupt = b"{\"version\":1,\"entries\":{\"stores-corrupt:https://alice@bitbucket.org/\":";
    std::fs::write(&path, corrupt).expect("write corrupt file");
    let vars = plaintext("stores-corrupt", &path);

    let output = run(&env, &vars, "get", &format!("{CLOUD_ALICE}\n"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.starts_with("git-credential-bitbucket: ") && stderr.contains("corrupt"), "{stderr}");

    for op in ["store", "erase"] {
        let output = run(&env, &vars, op, &format!("{CLOUD_ALICE}password=new-token\n"));
        assert_eq!(output.status.code(), Some(1), "{op}: {}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(std::fs::read(&path).expect("file"), corrupt, "{op} changed the corrupt file");
    }
}

#[test]
fn unreachable_keyring_fails_with_a_message_naming_gpg_cache_and_plaintext() {
    let env = GitEnv::new();
    let vars = vars(&[
        ("GIT_BITBUCKET_CREDENTIAL_STORE", "keyring"),
        ("GIT_BITBUCKET_NAMESPACE", "stores-no-dbus"),
        ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent"),
    ]);

    let output = run(&env, &vars, "get", &format!("{CLOUD_ALICE}\n"));

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.starts_with("git-credential-bitbucket: "), "{stderr}");
    for way_out in [
        "git config --global credential.credentialStore gpg",
        "pass init KEYID",
        "git config --global credential.credentialStore cache",
        "git config --global credential.credentialStore plaintext",
    ] {
        assert!(stderr.contains(way_out), "{way_out:?} missing from {stderr}");
    }
    assert_eq!(stderr.matches('\n').count(), 1, "{stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn store_ignores_ephemeral_and_credentials_without_username_or_password() {
    let env = GitEnv::new();
    let path = store_path(&env);
    let vars = plaintext("stores-ignored", &path);
    for input in [
        format!("{CLOUD_ALICE}password=x\nephemeral=true\n"),
        "protocol=https\nhost=bitbucket.org\npassword=x\n".to_owned(),
        CLOUD_ALICE.to_owned(),
    ] {
        assert_quiet_success(&run(&env, &vars, "store", &input), &input);
    }
    assert!(!path.exists(), "something was stored");
}

#[test]
fn empty_username_and_password_are_stored_and_answered_as_they_are() {
    let env = GitEnv::new();
    let vars = plaintext("stores-empty", &store_path(&env));
    let cred = "protocol=https\nhost=bitbucket.org\nusername=\n";
    assert_quiet_success(&run(&env, &vars, "store", &format!("{cred}password=\n")), "store");
    let output = run(&env, &vars, "get", &format!("{cred}\n"));
    assert_quiet_success(&output, "get");
    assert_eq!(stdout(&output), "username=\npassword=\n");
}

#[test]
fn store_keeps_expiry_and_refresh_token_and_get_answers_them() {
    let env = GitEnv::new();
    let vars = plaintext("stores-metadata", &store_path(&env));
    let input = format!(
        "{CLOUD_ALICE}password=access\npassword_expiry_utc=4000000000\noauth_refresh_token=refresh\n"
    );
    assert_quiet_success(&run(&env, &vars, "store", &input), "store");

    let output = run(&env, &vars, "get", &format!("{CLOUD_ALICE}\n"));
    assert_quiet_success(&output, "get");
    let mut lines: Vec<&str> = std::str::from_utf8(&output.stdout).expect("UTF-8").lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "oauth_refresh_token=refresh",
            "password=access",
            "password_expiry_utc=4000000000",
            "username=alice"
        ]
    );
}

#[test]
fn get_with_nothing_stored_and_prompts_off_answers_nothing_silently() {
    let env = GitEnv::new();
    let path = store_path(&env);
    let mut vars = plaintext("stores-nothing", &path);
    vars.push(("GIT_TERMINAL_PROMPT".into(), "0".into()));
    for cred in [CLOUD_ALICE, "protocol=https\nhost=bitbucket.org\n"] {
        let output = run(&env, &vars, "get", &format!("{cred}\n"));
        assert_quiet_success(&output, cred);
        assert_eq!(stdout(&output), "");
    }
    assert!(!path.exists(), "get created the store");
}

/// A store name no backend answers to is refused by every way in (git's `get`, `store`, a
/// person's `list` and `token`) with the same one line naming where it was set and what is
/// accepted, exit 1, nothing on stdout, and no store touched (the plaintext file is never made).
#[test]
fn an_unknown_store_name_is_one_clear_line_everywhere_and_touches_no_store() {
    let env = GitEnv::new();
    let file = env.path().join("never-made.json");
    let mut settings = plaintext("git", &file);
    settings.retain(|(k, _)| k != "GIT_BITBUCKET_CREDENTIAL_STORE");
    settings.push(("GIT_BITBUCKET_CREDENTIAL_STORE".to_owned(), "dpapi".to_owned()));
    let input = "protocol=https\nhost=bitbucket.org\nusername=alice\npassword=secret-value\n\n";
    for (op, stdin) in [("get", input), ("store", input), ("list", ""), ("token", "")] {
        let out = run(&env, &settings, op, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{op}: {stderr}");
        assert_eq!(
            stderr.trim_end(),
            "git-credential-bitbucket: invalid value for GIT_BITBUCKET_CREDENTIAL_STORE: expected keyring, gpg, cache, plaintext or memory",
            "{op}"
        );
        assert!(out.stdout.is_empty(), "{op}");
        assert!(!file.exists(), "{op} made the plaintext store");
    }
}
