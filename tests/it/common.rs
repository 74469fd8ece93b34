//! What the integration tests of the helper share and only this crate can build: the helper
//! binary ([`HELPER`]: `CARGO_BIN_EXE_*` exists only for this crate's tests), the [`Setup`]
//! fixture (a fake Bitbucket on loopback and a git environment that uses the helper for it:
//! Cloud here, Data Center in `datacenter.rs`) and the plaintext-store fixture. Everything
//! that does not need the helper binary (process utilities, output assertions, the scripts
//! the helper runs) is in the support crate's `process` module, re-exported here, beside the
//! fake and `GitEnv`. Every module starts with `use crate::common::*;`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub use bitbucket_test_support::process::*;
use bitbucket_test_support::{FakeBitbucket, GitEnv, Mode, User, support_bin};
use serde_json::Value;

pub const HELPER: &str = env!("CARGO_BIN_EXE_git-credential-bitbucket");
pub const CLIENT_ID: &str = "consumer-key";
pub const CLIENT_SECRET: &str = "consumer-secret-never-printed";
/// Prompts off, as git runs the helper without a terminal.
pub const NO_PROMPT: (&str, &str) = ("GIT_TERMINAL_PROMPT", "0");
/// A `git -c` setting the in-process configuration reader declines (`includeIf
/// "hasconfig:"` is evaluated by git only; it includes nothing here), so the helper falls back
/// to one `git config` call.
pub const ASK_GIT_FOR_SETTINGS: (&str, &str) =
    ("GIT_CONFIG_PARAMETERS", "'includeIf.hasconfig:remote.*.url:https://nowhere/**.path'='/nonexistent/x'");

/// A fake Bitbucket on loopback, a git environment that uses the helper for it, a free
/// callback port, and a temporary directory for the scripts a test hands the helper.
/// [`Setup::cloud`] is the Cloud set-up most tests use; other files build theirs with
/// [`Setup::new`].
pub struct Setup {
    pub fake: FakeBitbucket,
    pub env: GitEnv,
    pub port: u16,
    pub tmp: tempfile::TempDir,
}

/// A git environment in which the helper serves `fake`'s loopback host as Bitbucket Cloud,
/// with the plaintext store (in the environment's HOME).
pub fn cloud_env(fake: &FakeBitbucket) -> GitEnv {
    let env = GitEnv::new();
    let url = format!("http://{}", fake.host());
    env.config(&format!("credential.{url}.provider"), "bitbucket");
    env.config(&format!("credential.{url}.bitbucketDeployment"), "cloud");
    env.config("credential.bitbucketCloudUrl", &fake.base_url());
    env.config("credential.bitbucketCloudApiUrl", &fake.base_url());
    env.config("credential.credentialStore", "plaintext");
    env
}

/// An isolated home and a plaintext store file of its own (not created until something is
/// stored), under a namespace of the test's choosing.
pub struct PlaintextFixture {
    pub env: GitEnv,
    pub store: PathBuf,
    pub namespace: &'static str,
}

impl PlaintextFixture {
    pub fn new(namespace: &'static str) -> Self {
        let env = GitEnv::new();
        let store = env.path().join("store").join("credentials.json");
        PlaintextFixture { env, store, namespace }
    }

    /// Runs `git-credential-bitbucket OP` on this store with `input` on stdin.
    pub fn run(&self, op: &str, input: impl AsRef<[u8]>) -> Output {
        self.run_with(op, input, &[])
    }

    /// Runs `git-credential-bitbucket OP` on this store with `input`, plus `env` on top.
    pub fn run_with(&self, op: &str, input: impl AsRef<[u8]>, env: &[(&str, &str)]) -> Output {
        let mut cmd = self.env.command(HELPER);
        cmd.arg(op)
            .env("GIT_BITBUCKET_CREDENTIAL_STORE", "plaintext")
            .env("GIT_BITBUCKET_PLAINTEXT_STORE", &self.store)
            .env("GIT_BITBUCKET_NAMESPACE", self.namespace)
            .envs(env.iter().copied());
        run_with_input(cmd, input)
    }

    /// The store file's bytes, `None` when it does not exist.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        std::fs::read(&self.store).ok()
    }
}

impl Setup {
    /// `fake` and `env` as they are, with a free callback port and a temporary directory.
    pub fn new(fake: FakeBitbucket, env: GitEnv) -> Setup {
        Setup { fake, env, port: free_port(), tmp: tempfile::tempdir().unwrap() }
    }

    /// Cloud with alice (password, two-step verification, consenting), `team/repo`, and a
    /// consumer whose callback is on [`Setup::port`]; the helper is git's credential helper.
    pub fn cloud() -> Setup {
        let fake = FakeBitbucket::start(Mode::Cloud);
        fake.add_user(User::new("alice", "alice@example.com").with_password("pw").with_two_step());
        fake.set_consenting_user("alice");
        fake.create_repo("team/repo");
        let env = cloud_env(&fake);
        let setup = Setup::new(fake, env);
        let port = setup.port;
        setup.fake.add_consumer(CLIENT_ID, CLIENT_SECRET, &format!("http://localhost:{port}/"));
        setup.env.config("credential.helper", HELPER);
        setup.env.config("credential.bitbucketOAuthClientId", CLIENT_ID);
        setup.env.config("credential.bitbucketOAuthClientSecret", CLIENT_SECRET);
        setup.env.config("credential.bitbucketOAuthRedirectPort", &port.to_string());
        setup
    }

    /// `http://127.0.0.1:PORT`, the fake's root (no context path).
    pub fn http_root(&self) -> String {
        format!("http://{}", self.fake.host())
    }

    /// The plaintext store at its default place in the environment's HOME.
    pub fn store_file(&self) -> PathBuf {
        self.env.home().join(".local/share/git-credential-bitbucket/credentials.json")
    }

    /// The plaintext store's raw text ("" when nothing was ever stored).
    pub fn stored(&self) -> String {
        std::fs::read_to_string(self.store_file()).unwrap_or_default()
    }

    /// The record under `service` for `account`, read from the plaintext store without the helper.
    pub fn record(&self, service: &str, account: &str) -> Option<Value> {
        plaintext_file(&self.store_file())?["entries"].get(service)?.get(account).cloned()
    }

    /// Every service name in the plaintext store.
    pub fn services(&self) -> Vec<String> {
        let file = plaintext_file(&self.store_file()).unwrap_or_default();
        file["entries"].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
    }

    /// An askpass program (named by `label`) answering `username` and `secret` to git's two
    /// questions and appending each question to a log file: `(program, log)`.
    pub fn askpass(&self, label: &str, username: &str, secret: &str) -> (PathBuf, PathBuf) {
        askpass(self.tmp.path(), label, username, secret)
    }

    /// `git credential <op>` with `input`, interactive unless `GIT_TERMINAL_PROMPT` is set back.
    pub fn credential(&self, op: &str, input: &str, extra_env: &[(&str, &str)]) -> Output {
        let mut cmd = self.env.command("git");
        cmd.args(["credential", op]).env_remove("GIT_TERMINAL_PROMPT");
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        run_with_input(cmd, input)
    }

    pub fn fill_input(&self) -> String {
        format!("protocol=http\nhost={}\npath=team/repo.git\n\n", self.fake.host())
    }

    /// Seed the store the way a finished sign-in leaves it: an OAuth access token (expired when
    /// `lifetime` is 0) and a refresh token known to the fake.
    pub fn seed_oauth(&self, lifetime: u64) -> (String, String) {
        let access = self.fake.issue_access_token("alice", lifetime);
        let refresh = self.fake.issue_refresh_token("alice", CLIENT_ID);
        let expiry = if lifetime == 0 { unix_now() - 10 } else { unix_now() + lifetime };
        let input = format!(
            "protocol=http\nhost={}\nusername=alice\npassword={access}\npassword_expiry_utc={expiry}\noauth_refresh_token={refresh}\n\n",
            self.fake.host()
        );
        let out = self.helper("store", &input, &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (access, refresh)
    }

    /// `git-credential-bitbucket ARGS` (a person's command) with stdin closed and `extra_env` on
    /// top; shows only its stderr (stdout may hold a token: the `token` command).
    pub fn run(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut cmd = self.env.command(HELPER);
        cmd.args(args).stdin(Stdio::null()).envs(extra_env.iter().copied());
        let out = cmd.output().unwrap();
        eprintln!("$ git-credential-bitbucket {}\n{}", args.join(" "), stderr(&out));
        out
    }

    /// `git-credential-bitbucket OP` with `input` on stdin and `extra_env` on top.
    pub fn helper(&self, op: &str, input: &str, extra_env: &[(&str, &str)]) -> Output {
        self.helper_args(&[op], input, extra_env)
    }

    /// `git-credential-bitbucket ARGS` with `input` on stdin and `extra_env` on top.
    pub fn helper_args(&self, args: &[&str], input: &str, extra_env: &[(&str, &str)]) -> Output {
        let mut cmd = self.env.command(HELPER);
        cmd.args(args).envs(extra_env.iter().copied());
        run_with_input(cmd, input)
    }
}

/// `protocol=http`, the fake's host and `username=alice`: what git asks for alice.
pub fn alice_input(setup: &Setup) -> String {
    format!("protocol=http\nhost={}\nusername=alice\n\n", setup.fake.host())
}

/// The plaintext store file at `path`, parsed; `None` when it does not exist.
pub fn plaintext_file(path: &Path) -> Option<Value> {
    let bytes = std::fs::read(path).ok()?;
    Some(serde_json::from_slice(&bytes).expect("the plaintext store is JSON"))
}

/// A `get` that signs in through a recording `BROWSER`, waiting until the browser was opened.
pub struct BrowserSignIn {
    /// The helper process.
    pub child: Child,
    /// The authorize URL it opened.
    pub url: String,
    /// Where the recording browser writes (the browser is `browser`, the URL file `opened`).
    pub dir: tempfile::TempDir,
    pub browser: String,
    pub opened: PathBuf,
}

impl Setup {
    /// Start `get` with a recording browser (plus `extra_env`) and wait for the sign-in URL.
    pub fn start_browser_sign_in(&self, extra_env: &[(&str, &str)]) -> BrowserSignIn {
        let dir = tempfile::tempdir().unwrap();
        let (browser, opened) = recording_browser(dir.path());
        let mut env = vec![("BROWSER", browser.as_str())];
        env.extend_from_slice(extra_env);
        let mut child = spawn_get(self, &env);
        let url = wait_for_file(&opened, &mut child);
        BrowserSignIn { child, url, dir, browser, opened }
    }

    /// Play the browser: press Grant or Deny on the fake's consent page for `url`, and return
    /// the callback address it redirects to, reachable from this machine (127.0.0.1).
    pub fn consent_callback(&self, url: &str, decision: bitbucket_test_support::Consent) -> String {
        self.fake.consent(url, decision).replace("localhost", "127.0.0.1")
    }
}

/// `get` with the fill input on stdin (then closed) and `extra_env` on top, prompts allowed,
/// SIGINT, SIGTERM and SIGHUP at their default action ([`with_default_signals`]).
pub fn spawn_get(setup: &Setup, extra_env: &[(&str, &str)]) -> Child {
    let mut cmd = setup.env.command(HELPER);
    cmd.arg("get").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    with_default_signals(&mut cmd);
    cmd.env_remove("GIT_TERMINAL_PROMPT");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(setup.fill_input().as_bytes()).unwrap();
    child
}

/// Starts `cmd` with SIGINT, SIGTERM and SIGHUP at their default action, as in a person's
/// terminal, whatever this process inherited: a test run started in the background by a
/// shell without job control (`cargo test &` in a script) inherits SIGINT ignored, one under
/// `nohup` SIGHUP, and a program cannot be ended by a signal it inherits ignored. For the
/// tests that signal the helper or git.
#[cfg(unix)]
pub fn with_default_signals(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec, and calls only signal(2),
    // which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                if libc::signal(signal, libc::SIG_DFL) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        })
    }
}

/// `git clone -q URL DIR` in `env`, signing in through headless Chromium (`chromium-consent`,
/// its steps in `consent_log`) with the helper's trace in `trace`.
pub fn clone_with_chromium(env: &GitEnv, url: &str, dir: &str, consent_log: &Path, trace: &Path) -> Output {
    env.command("git")
        .args(["clone", "-q", url, dir])
        .env_remove("GIT_TERMINAL_PROMPT")
        .env("BROWSER", support_bin("chromium-consent"))
        .env("CONSENT_LOG", consent_log)
        .env("GIT_BITBUCKET_OAUTH_TIMEOUT", "90")
        .env("GIT_BITBUCKET_TRACE", trace)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}
