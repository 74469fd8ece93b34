//! The stores for machines without a Secret Service, with their real components: the `gpg`
//! store with real GnuPG (a throwaway key without passphrase in the test's own `GNUPGHOME`)
//! and real `pass` reading what the helper wrote, and the `cache` store with git's real
//! `git credential-cache` daemon (stopped by each test). Secrets go through real git
//! (`git credential approve` / `fill` / `reject`, with the helper serving a loopback URL); the
//! tests then look for the token's bytes in every file under the test's HOME, where the
//! password store, `GNUPGHOME` and the daemon's socket live. Also: the errors when gpg or
//! `.gpg-id` is missing, `diagnose` saying which stores are usable, that `gpg` and
//! `git credential-cache` never get the token in their arguments or environment, and that a
//! key's passphrase is asked by gpg-agent's pinentry on the terminal git runs in (tmux).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use bitbucket_test_support::{GitEnv, Tmux};

/// A loopback address nothing listens on: `fill`, `approve` and `reject` never connect.
const HOST: &str = "127.0.0.1:9";

/// A token of 2,600 bytes, like today's Bitbucket access tokens, unique to `seed`.
fn long_token(seed: &str) -> String {
    let mut t = format!("cachegpgTOKEN-{seed}-");
    while t.len() < 2600 {
        t.push_str("abcdefghijklmnopqrstuvwxyz0123456789_-");
    }
    t.truncate(2600);
    t
}

/// A git environment whose only credential helper is this binary, serving `http://HOST` as
/// Bitbucket Cloud with `store`, under `namespace`.
fn git_env(store: &str, namespace: &str) -> GitEnv {
    let mut env = GitEnv::new();
    env.config("credential.helper", HELPER);
    env.config(&format!("credential.http://{HOST}.provider"), "bitbucket");
    env.config(&format!("credential.http://{HOST}.bitbucketDeployment"), "cloud");
    env.config("credential.credentialStore", store);
    env.set_env("GIT_BITBUCKET_NAMESPACE", namespace);
    env.set_env("GIT_TERMINAL_PROMPT", "0");
    env
}

fn approve(env: &GitEnv, password: &str, extra: &str) {
    let input = format!("url=http://{HOST}\nusername=alice\npassword={password}\n{extra}");
    assert_quiet_success(&run_git_credential(env, "approve", &input), "approve");
}

fn reject(env: &GitEnv, password: &str) {
    let input = format!("url=http://{HOST}\nusername=alice\npassword={password}\n");
    assert_quiet_success(&run_git_credential(env, "reject", &input), "reject");
}

/// `git credential fill` for alice: her password, `None` when git got nothing.
fn fill(env: &GitEnv) -> Option<String> {
    let output = run_git_credential(env, "fill", &format!("url=http://alice@{HOST}/\n"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        assert!(!stdout.contains("password="), "a failed fill printed a password");
        return None;
    }
    stdout.lines().find_map(|l| l.strip_prefix("password=")).map(str::to_owned)
}

/// Every regular file under `dir` that holds `needle` (sockets and the like are skipped).
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if kind.is_file() {
            let bytes = std::fs::read(&path).unwrap_or_default();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path);
            }
        }
    }
    found
}

/// A throwaway GnuPG key in `HOME/.gnupg` and a `pass` store initialised for it in
/// `HOME/.password-store`, set in the environment; gpg-agent is stopped on drop.
struct PassStore {
    gnupghome: PathBuf,
    dir: PathBuf,
}

const KEY_ID: &str = "helper-test@example.invalid";

impl PassStore {
    fn new(env: &mut GitEnv, init: bool) -> PassStore {
        Self::with_passphrase(env, init, "")
    }

    /// With a non-empty `passphrase`, gpg-agent asks for it with `pinentry-curses`.
    fn with_passphrase(env: &mut GitEnv, init: bool, passphrase: &str) -> PassStore {
        let gnupghome = env.home().join(".gnupg");
        let dir = env.home().join(".password-store");
        std::fs::create_dir_all(&gnupghome).expect("create GNUPGHOME");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&gnupghome, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        env.set_env("GNUPGHOME", &gnupghome);
        env.set_env("PASSWORD_STORE_DIR", &dir);
        let store = PassStore { gnupghome, dir };
        let uid = format!("Helper Test <{KEY_ID}>");
        let mut args = vec!["--batch", "--passphrase", passphrase];
        if !passphrase.is_empty() {
            args.extend(["--pinentry-mode", "loopback"]);
            let pinentry = program_on_path("pinentry-curses");
            std::fs::write(
                store.gnupghome.join("gpg-agent.conf"),
                format!("pinentry-program {}\n", pinentry.display()),
            )
            .expect("write gpg-agent.conf");
        }
        args.extend(["--quick-gen-key", &uid, "default", "default", "never"]);
        store.run(env, "gpg", &args, "");
        if init {
            store.run(env, "pass", &["init", KEY_ID], "");
        }
        store
    }

    /// Runs `program` in the environment; its stdout, panicking with stderr on failure.
    fn run(&self, env: &GitEnv, program: &str, args: &[&str], input: &str) -> String {
        let mut cmd = env.command(program);
        cmd.args(args);
        let output = run_with_input(cmd, input);
        assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }
}

impl Drop for PassStore {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", &self.gnupghome)
            .stdin(Stdio::null())
            .output();
    }
}

/// The `pass` name of alice's access token in `namespace` (see docs/configuration.md).
fn pass_name(namespace: &str) -> String {
    format!("git-credential-bitbucket/{namespace}:http:%2F%2Falice@{HOST}%2F/alice")
}

#[test]
fn gpg_store_round_trips_through_git_and_pass_shows_the_token_then_reject_deletes_it() {
    let namespace = "gpg-round-trip";
    let mut env = git_env("gpg", namespace);
    let pass = PassStore::new(&mut env, true);
    let token = long_token("gpg");
    let refresh = long_token("gpg-refresh");

    approve(&env, &token, &format!("password_expiry_utc=4000000000\noauth_refresh_token={refresh}\n"));
    assert_eq!(fill(&env).as_deref(), Some(token.as_str()));

    let shown = pass.run(&env, "pass", &["show", &pass_name(namespace)], "");
    let mut lines = shown.lines();
    assert_eq!(lines.next(), Some(token.as_str()), "pass show prints the token on its first line");
    let meta: Vec<&str> = lines.collect();
    assert_eq!(meta, ["kind: token", "username: alice", "expires: 4000000000", "has_refresh_token: true"]);
    let file = pass.dir.join(format!("{}.gpg", pass_name(namespace)));
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().expect("folder")), 0o700);
    for secret in [&token, &refresh] {
        let clear = files_holding(&env.home(), secret.as_bytes());
        assert!(clear.is_empty(), "secret in clear in {clear:?}");
    }
    let listed = env.command(HELPER).arg("list").output().expect("run list");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("alice"), "{listed:?}");

    reject(&env, &token);
    assert!(!file.exists(), "reject left {}", file.display());
    let left: Vec<PathBuf> = walk_gpg_files(&pass.dir.join("git-credential-bitbucket"));
    assert!(left.is_empty(), "files left after reject: {left:?}");
    assert_eq!(fill(&env), None, "fill after reject");
}

fn walk_gpg_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk_gpg_files(&path));
        } else if path.extension().is_some_and(|e| e == "gpg") {
            found.push(path);
        }
    }
    found
}

#[test]
fn gpg_entry_written_with_pass_insert_is_answered_as_a_token() {
    let namespace = "gpg-pass-insert";
    let mut env = git_env("gpg", namespace);
    let pass = PassStore::new(&mut env, true);
    pass.run(&env, "pass", &["insert", "--multiline", &pass_name(namespace)], "typed-by-hand\nurl: x\n");

    assert_eq!(fill(&env).as_deref(), Some("typed-by-hand"));
}

#[test]
fn gpg_store_without_gpg_id_fails_saying_pass_init_and_writes_nothing() {
    let mut env = git_env("gpg", "gpg-no-init");
    let pass = PassStore::new(&mut env, false);
    let input = format!("protocol=http\nhost={HOST}\nusername=alice\npassword=never-written\n");

    let mut cmd = env.command(HELPER);
    cmd.arg("store");
    let output = run_with_input(cmd, &input);

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("git-credential-bitbucket: ") && stderr.contains("pass init KEYID"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!pass.dir.join("git-credential-bitbucket").exists(), "something was written");
    assert!(files_holding(&env.home(), b"never-written").is_empty());
}

#[test]
fn gpg_store_without_gpg_fails_saying_install_gnupg() {
    let mut env = git_env("gpg", "gpg-missing");
    let _pass = PassStore::new(&mut env, true);
    // A PATH with git (the helper reads its settings with it) and nothing else.
    let bin = env.path().join("only-git");
    std::fs::create_dir(&bin).expect("create dir");
    std::os::unix::fs::symlink(program_on_path("git"), bin.join("git")).expect("link git");
    let input = format!("protocol=http\nhost={HOST}\nusername=alice\npassword=never-written\n");

    let mut cmd = env.command(HELPER);
    cmd.arg("store").env("PATH", &bin);
    let output = run_with_input(cmd, &input);

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("gpg is not installed") && stderr.contains("pass init KEYID"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

fn program_on_path(name: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH"))
}

/// Stops the daemon listening on `socket` when dropped (also when the test fails).
struct CacheDaemon<'e> {
    env: &'e GitEnv,
    socket: PathBuf,
}

impl CacheDaemon<'_> {
    fn exit(&self) {
        let socket = format!("--socket={}", self.socket.display());
        let _ =
            self.env.command("git").args(["credential-cache", &socket, "exit"]).stdin(Stdio::null()).output();
    }
}

impl Drop for CacheDaemon<'_> {
    fn drop(&mut self) {
        self.exit();
    }
}

#[test]
fn cache_store_round_trips_through_git_keeps_nothing_on_disk_and_forgets_on_exit() {
    let env = git_env("cache", "cache-round-trip");
    // No cacheOptions: git's default socket, $XDG_CACHE_HOME/git/credential/socket (in HOME).
    let daemon = CacheDaemon { env: &env, socket: env.home().join(".cache/git/credential/socket") };
    let token = long_token("cache");
    let refresh = long_token("cache-refresh");

    approve(&env, &token, &format!("oauth_refresh_token={refresh}\n"));
    assert!(daemon.socket.exists(), "the daemon's socket is not where git puts it");
    assert_eq!(fill(&env).as_deref(), Some(token.as_str()));
    for secret in [&token, &refresh] {
        let clear = files_holding(env.path(), secret.as_bytes());
        assert!(clear.is_empty(), "secret on disk in {clear:?}");
    }
    let listed = env.command(HELPER).arg("list").output().expect("run list");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains("alice") && !listed.contains(&token), "{listed}");

    daemon.exit();
    assert_eq!(fill(&env), None, "fill after git credential-cache exit");
}

#[test]
fn cache_store_uses_cache_options_and_reject_forgets_the_token() {
    let env = git_env("cache", "cache-options");
    let sockets = tempfile::tempdir().expect("temporary directory");
    let socket = sockets.path().join("run").join("sock");
    env.config("credential.cacheOptions", &format!("--timeout 600 --socket '{}'", socket.display()));
    let _daemon = CacheDaemon { env: &env, socket: socket.clone() };
    let token = long_token("cache-opts");

    approve(&env, &token, "");
    assert!(socket.exists(), "no daemon at the configured socket");
    assert!(!env.home().join(".cache/git/credential/socket").exists(), "the default socket was used");
    assert_eq!(fill(&env).as_deref(), Some(token.as_str()));
    assert!(files_holding(sockets.path(), token.as_bytes()).is_empty());

    reject(&env, "another-token");
    assert_eq!(fill(&env).as_deref(), Some(token.as_str()), "reject of another password");
    reject(&env, &token);
    assert_eq!(fill(&env), None, "fill after reject");
}

#[test]
fn diagnose_says_which_stores_are_usable_here() {
    let mut env = git_env("keyring", "diagnose-stores");
    env.set_env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent");
    let pass = PassStore::new(&mut env, false);
    let diagnose = |env: &GitEnv| {
        let output = env.command(HELPER).args(["diagnose", &format!("http://{HOST}")]).output().expect("run");
        String::from_utf8(output.stdout).expect("UTF-8")
    };

    let text = diagnose(&env);
    let line =
        |name: &str| text.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_default().to_owned();
    assert!(text.contains("PROBLEM store:") && text.contains("credentialStore gpg"), "{text}");
    assert!(line("keyring ").contains("not usable"), "{text}");
    assert!(line("gpg ").contains("not usable") && line("gpg ").contains("pass init KEYID"), "{text}");
    assert!(line("cache ").contains(" usable: git credential-cache runs"), "{text}");
    assert!(line("plaintext ").contains(" usable: always"), "{text}");

    pass.run(&env, "pass", &["init", KEY_ID], "");
    let text = diagnose(&env);
    let gpg = text.lines().find(|l| l.trim_start().starts_with("gpg ")).unwrap_or_default();
    assert!(gpg.contains(" usable: gpg runs") && gpg.contains(KEY_ID), "{text}");
}

/// Puts `gpg` and `git` wrappers first on `PATH` that log their arguments and environment to
/// `log`, then run the real program; returns the new `PATH`.
fn logging_wrappers(env: &GitEnv, log: &Path) -> String {
    let bin = env.path().join("wrappers");
    std::fs::create_dir(&bin).expect("create dir");
    for name in ["gpg", "git"] {
        let script = bin.join(name);
        let real = program_on_path(name);
        write_script(
            &script,
            &format!(
                "#!/bin/sh\nprintf 'ARGS %s\\n' \"$*\" >> '{log}'\nenv >> '{log}'\nexec '{real}' \"$@\"\n",
                log = log.display(),
                real = real.display()
            ),
        );
    }
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{}:{path}", bin.display())
}

#[test]
fn gpg_and_credential_cache_never_get_the_token_in_arguments_or_environment() {
    for store in ["gpg", "cache"] {
        let mut env = git_env(store, "argv-check");
        let _pass = PassStore::new(&mut env, true);
        let log = env.path().join("children.log");
        let path = logging_wrappers(&env, &log);
        env.set_env("PATH", &path);
        let _daemon = CacheDaemon { env: &env, socket: env.home().join(".cache/git/credential/socket") };
        let token = long_token(&format!("argv-{store}"));

        // The helper is run directly: git puts its exec-path, which has a `git`, first on the
        // PATH of the helpers it runs.
        let helper = |op: &str, input: String| {
            let mut cmd = env.command(HELPER);
            cmd.arg(op);
            let output = run_with_input(cmd, input);
            assert_quiet_success(&output, op);
            String::from_utf8(output.stdout).expect("UTF-8")
        };
        let cred = format!("protocol=http\nhost={HOST}\nusername=alice\n");
        helper("store", format!("{cred}password={token}\n"));
        assert!(helper("get", cred.clone()).contains(&token), "{store}");
        helper("erase", format!("{cred}password={token}\n"));
        assert_eq!(helper("get", cred), "", "{store}");

        let logged = std::fs::read_to_string(&log).expect("the wrappers ran");
        let child = if store == "gpg" { "ARGS --batch --quiet --yes" } else { "ARGS credential-cache" };
        assert!(logged.contains(child), "{store}: the helper did not run {child:?}");
        assert!(
            !logged.contains(&token[..40]),
            "{store}: a child got the token in its arguments or environment"
        );
    }
}

#[test]
fn gpg_passphrase_is_asked_by_pinentry_on_the_terminal_git_runs_in() {
    let namespace = "gpg-pinentry";
    let mut env = git_env("gpg", namespace);
    let _pass = PassStore::with_passphrase(&mut env, true, "correct horse");
    let token = long_token("pinentry");
    approve(&env, &token, "");
    let out = env.path().join("fill.out");
    let done = env.path().join("fill.done");
    // git's stdin is a pipe and its stdout a file, as in `git fetch`; stderr is the terminal.
    let script = format!(
        "printf 'url=http://alice@{HOST}/\\n' | git credential fill > '{}'; echo $? > '{}'; sleep 600",
        out.display(),
        done.display()
    );

    let tmux = Tmux::start("gpg-cache-stores-pinentry", (120, 40), &script, env.env());
    let screen = tmux.wait_for("Passphrase");
    assert!(screen.contains(KEY_ID), "{screen}");
    tmux.type_line("correct horse");

    let deadline = Instant::now() + Duration::from_secs(20);
    while !done.exists() {
        assert!(Instant::now() < deadline, "git credential fill never ended");
        std::thread::yield_now();
    }
    let answer = std::fs::read_to_string(&out).expect("fill output");
    assert!(answer.contains(&format!("password={token}\n")), "fill answered {} bytes", answer.len());
}

/// Runs the helper's `store` (or `get`, without a password) for alice directly, as git would.
fn helper(env: &GitEnv, op: &str, password: Option<&str>) -> std::process::Output {
    let mut input = format!("protocol=http\nhost={HOST}\nusername=alice\n");
    if let Some(password) = password {
        input.push_str(&format!("password={password}\n"));
    }
    let mut cmd = env.command(HELPER);
    cmd.arg(op);
    run_with_input(cmd, input)
}

/// `store` of `password` ends with exit 1 and one line naming `why`, having changed nothing
/// under `dirs` (files, directories and symlinks, without following links).
fn assert_store_refused(env: &GitEnv, password: &str, why: &str, dirs: &[&Path]) {
    let before: Vec<_> = dirs.iter().map(|d| snapshot(d)).collect();
    let output = helper(env, "store", Some(password));
    assert_one_line_error(&output, 1, "store");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(why), "expected {why:?} in: {stderr}");
    let after: Vec<_> = dirs.iter().map(|d| snapshot(d)).collect();
    assert_eq!(before, after, "the refused store changed something");
    assert!(files_holding(&env.home(), password.as_bytes()).is_empty(), "the secret reached a file");
}

/// Every entry under `dir` (not following symlinks): path, kind, and the bytes of a file or
/// the target of a symlink.
fn snapshot(dir: &Path) -> Vec<(PathBuf, String, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        use std::os::unix::fs::PermissionsExt;
        let mode = format!("{:o}", meta.permissions().mode());
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).expect("read link");
            found.push((path, format!("link {mode}"), target.into_os_string().into_encoded_bytes()));
        } else if meta.is_dir() {
            found.push((path.clone(), format!("dir {mode}"), Vec::new()));
            found.extend(snapshot(&path));
        } else {
            found.push((path.clone(), format!("file {mode}"), std::fs::read(&path).unwrap_or_default()));
        }
    }
    found
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A 0700 directory `name` in HOME, outside the password store.
fn private_dir_in_home(env: &GitEnv, name: &str) -> PathBuf {
    let dir = env.home().join(name);
    std::fs::create_dir(&dir).expect("create dir");
    set_mode(&dir, 0o700);
    dir
}

#[test]
fn gpg_store_refuses_symlinked_folders_and_writes_nothing_through_them() {
    let namespace = "gpg-symlinked-folder";
    let mut env = git_env("gpg", namespace);
    let pass = PassStore::new(&mut env, true);
    let elsewhere = private_dir_in_home(&env, "elsewhere");
    let folder = pass.dir.join("git-credential-bitbucket");

    // The helper's own folder in the password store is a symlink.
    std::os::unix::fs::symlink(&elsewhere, &folder).expect("symlink");
    assert_store_refused(&env, &long_token("folder-link"), "symlink", &[&pass.dir, &elsewhere]);
    assert!(snapshot(&elsewhere).is_empty(), "something was written through the symlink");

    // A per-service folder is a symlink.
    std::fs::remove_file(&folder).expect("remove link");
    std::fs::create_dir(&folder).expect("create folder");
    set_mode(&folder, 0o700);
    let service = pass.dir.join(pass_name(namespace)).parent().expect("service folder").to_path_buf();
    std::os::unix::fs::symlink(&elsewhere, &service).expect("symlink");
    assert_store_refused(&env, &long_token("service-link"), "symlink", &[&pass.dir, &elsewhere]);
    assert!(snapshot(&elsewhere).is_empty(), "something was written through the symlink");

    // An entry planted in the linked folder is not read either.
    std::fs::remove_file(&service).expect("remove link");
    let token = long_token("through-link");
    approve(&env, &token, "");
    std::fs::rename(&service, elsewhere.join("moved")).expect("move the service folder");
    std::os::unix::fs::symlink(elsewhere.join("moved"), &service).expect("symlink");
    let output = helper(&env, "get", None);
    assert_one_line_error(&output, 1, "get through a symlinked folder");
    assert!(String::from_utf8_lossy(&output.stderr).contains("symlink"), "{output:?}");
}

#[test]
fn gpg_store_never_reads_or_writes_an_entry_file_through_a_symlink() {
    let namespace = "gpg-symlinked-entry";
    let mut env = git_env("gpg", namespace);
    let pass = PassStore::new(&mut env, true);
    let elsewhere = private_dir_in_home(&env, "elsewhere");
    let token = long_token("entry-link");
    approve(&env, &token, "");
    let entry = pass.dir.join(format!("{}.gpg", pass_name(namespace)));
    let target = elsewhere.join("alice.gpg");
    std::fs::rename(&entry, &target).expect("move the entry");
    std::os::unix::fs::symlink(&target, &entry).expect("symlink");

    let output = helper(&env, "get", None);
    assert_one_line_error(&output, 1, "get through a symlinked entry");
    assert!(String::from_utf8_lossy(&output.stderr).contains("symlink"), "{output:?}");
    assert_store_refused(&env, &long_token("entry-link-2"), "symlink", &[&pass.dir, &elsewhere]);
}

#[test]
fn gpg_store_refuses_folders_others_can_write_and_leaves_the_store_unchanged() {
    let namespace = "gpg-open-folder";
    let mut env = git_env("gpg", namespace);
    let pass = PassStore::new(&mut env, true);
    let token = long_token("open-folder");
    approve(&env, &token, "");
    let folder = pass.dir.join("git-credential-bitbucket");
    let service = pass.dir.join(pass_name(namespace)).parent().expect("service folder").to_path_buf();

    for (dir, mode) in [(&pass.dir, 0o777), (&folder, 0o777), (&service, 0o770), (&folder, 0o1777)] {
        set_mode(dir, mode);
        assert_store_refused(&env, &long_token("open-2"), "can be written by other users", &[&pass.dir]);
        let output = helper(&env, "get", None);
        assert_one_line_error(&output, 1, &format!("get with {} mode {mode:o}", dir.display()));
        set_mode(dir, 0o700);
    }
    assert_eq!(fill(&env).as_deref(), Some(token.as_str()), "the store was left as it was");
}

#[test]
fn gpg_store_follows_a_password_store_that_is_a_symlink_to_a_private_directory() {
    // People keep ~/.password-store in a synced folder and link it; pass follows the link.
    let namespace = "gpg-linked-root";
    let mut env = git_env("gpg", namespace);
    let pass = PassStore::new(&mut env, true);
    let synced = env.home().join("synced");
    std::fs::rename(&pass.dir, &synced).expect("move the store");
    std::os::unix::fs::symlink(&synced, &pass.dir).expect("symlink");
    let token = long_token("linked-root");

    approve(&env, &token, "");
    assert_eq!(fill(&env).as_deref(), Some(token.as_str()));
    assert!(synced.join(format!("{}.gpg", pass_name(namespace))).is_file());
}

impl PassStore {
    /// The fingerprint of the key with user id `email`, generating it first when `generate`.
    fn fingerprint(&self, env: &GitEnv, email: &str, generate: bool) -> String {
        if generate {
            let uid = format!("Other <{email}>");
            self.run(
                env,
                "gpg",
                &["--batch", "--passphrase", "", "--quick-gen-key", &uid, "default", "default", "never"],
                "",
            );
        }
        let listed = self.run(env, "gpg", &["--batch", "--with-colons", "--list-keys", email], "");
        let fpr = listed.lines().find_map(|l| l.strip_prefix("fpr:")).expect("a fingerprint line");
        fpr.trim_matches(':').to_owned()
    }
}

/// A store initialised by `pass init` with `PASSWORD_STORE_SIGNING_KEY` set to the key's own
/// fingerprint (so pass signs `.gpg-id`), which stays set for the helper.
fn signed_store(namespace: &str) -> (GitEnv, PassStore, String) {
    let mut env = git_env("gpg", namespace);
    let pass = PassStore::new(&mut env, false);
    let fpr = pass.fingerprint(&env, KEY_ID, false);
    env.set_env("PASSWORD_STORE_SIGNING_KEY", &fpr);
    pass.run(&env, "pass", &["init", KEY_ID], "");
    assert!(pass.dir.join(".gpg-id.sig").is_file(), "pass init signed nothing");
    (env, pass, fpr)
}

/// `pass insert` with the environment: whether pass accepted the store's `.gpg-id`.
fn pass_insert_works(env: &GitEnv, name: &str) -> bool {
    let mut cmd = env.command("pass");
    cmd.args(["insert", "--multiline", name]);
    run_with_input(cmd, "by-pass\n").status.success()
}

#[test]
fn gpg_store_accepts_a_gpg_id_signed_by_the_signing_key_as_pass_does() {
    let namespace = "gpg-signed";
    let (env, pass, _) = signed_store(namespace);
    let token = long_token("signed");

    approve(&env, &token, "");
    assert_eq!(fill(&env).as_deref(), Some(token.as_str()));
    let shown = pass.run(&env, "pass", &["show", &pass_name(namespace)], "");
    assert_eq!(shown.lines().next(), Some(token.as_str()));
    assert!(pass_insert_works(&env, "by-pass/entry"), "pass refused its own signature");
}

#[test]
fn gpg_store_refuses_to_encrypt_without_a_signature_when_a_signing_key_is_set() {
    let namespace = "gpg-unsigned";
    let mut env = git_env("gpg", namespace);
    let pass = PassStore::new(&mut env, true);
    let fpr = pass.fingerprint(&env, KEY_ID, false);
    env.set_env("PASSWORD_STORE_SIGNING_KEY", &fpr);
    assert!(!pass.dir.join(".gpg-id.sig").exists());

    assert_store_refused(&env, &long_token("unsigned"), ".gpg-id.sig", &[&pass.dir]);
    assert!(!pass.dir.join("git-credential-bitbucket").exists(), "something was written");
    let output = env.command(HELPER).args(["diagnose", &format!("http://{HOST}")]).output().expect("run");
    let text = String::from_utf8_lossy(&output.stdout);
    let gpg = text.lines().find(|l| l.trim_start().starts_with("gpg ")).unwrap_or_default();
    assert!(gpg.contains("not usable") && gpg.contains(".gpg-id.sig does not exist"), "{text}");
    assert!(!pass_insert_works(&env, "by-pass/entry"), "pass refuses it too");
}

#[test]
fn gpg_store_refuses_a_gpg_id_changed_after_signing() {
    let namespace = "gpg-changed-id";
    let (env, pass, _) = signed_store(namespace);
    let token = long_token("before-change");
    approve(&env, &token, "");
    // A key gpg has, so that only the signature check can refuse it.
    let attacker = "attacker@example.invalid";
    pass.fingerprint(&env, attacker, true);
    let id = pass.dir.join(".gpg-id");
    let mut text = std::fs::read_to_string(&id).expect("read .gpg-id");
    text.push_str(&format!("{attacker}\n"));
    std::fs::write(&id, text).expect("write .gpg-id");

    assert_store_refused(&env, &long_token("after-change"), "not a valid signature", &[&pass.dir]);
    assert_eq!(fill(&env).as_deref(), Some(token.as_str()), "the stored token is still answered");
    assert!(!pass_insert_works(&env, "by-pass/entry"), "pass refuses it too");
}

#[test]
fn gpg_store_refuses_a_gpg_id_signed_by_another_key() {
    let namespace = "gpg-other-signer";
    let (env, pass, _) = signed_store(namespace);
    let other = "other-signer@example.invalid";
    pass.fingerprint(&env, other, true);
    let id = pass.dir.join(".gpg-id");
    let id_arg = id.to_str().expect("UTF-8 path");
    pass.run(&env, "gpg", &["--batch", "--yes", "--default-key", other, "--detach-sign", id_arg], "");

    assert_store_refused(&env, &long_token("other-signer"), "not a valid signature", &[&pass.dir]);
    assert!(!pass.dir.join("git-credential-bitbucket").exists(), "something was written");
    assert!(!pass_insert_works(&env, "by-pass/entry"), "pass refuses it too");
}
