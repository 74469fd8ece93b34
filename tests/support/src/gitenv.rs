//! Isolated git environments for tests: a temporary home with its own global config file, no
//! system config and a cleared process environment, so neither the developer's git settings
//! nor their credential helpers can take part in a test (or receive a test's secrets).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

/// A temporary directory holding an isolated `HOME` and global git config.
///
/// ```no_run
/// use bitbucket_test_support::GitEnv;
///
/// let env = GitEnv::new();
/// env.config("credential.helper", "");
/// let status = env.command("git").args(["config", "--list"]).status().unwrap();
/// assert!(status.success());
/// ```
pub struct GitEnv {
    dir: TempDir,
    extra: Vec<(OsString, OsString)>,
}

impl GitEnv {
    /// Creates the directory, `home/`, and a global config with `user.name`, `user.email`,
    /// `init.defaultBranch=main` and `protocol.version=2`.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("gitenv-")
            .tempdir()
            .unwrap_or_else(|e| panic!("GitEnv: cannot create a temporary directory: {e}"));
        let env = Self { dir, extra: Vec::new() };
        for sub in [".config", ".local/share", ".cache"] {
            std::fs::create_dir_all(env.home().join(sub))
                .unwrap_or_else(|e| panic!("GitEnv: cannot create {sub}: {e}"));
        }
        std::fs::write(env.global_config(), "")
            .unwrap_or_else(|e| panic!("GitEnv: cannot create the global config: {e}"));
        env.config("user.name", "Test User");
        env.config("user.email", "test.user@example.com");
        env.config("init.defaultBranch", "main");
        env.config("protocol.version", "2");
        env
    }

    /// The temporary directory (the working directory of [`GitEnv::command`]).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The isolated `HOME`.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The file `GIT_CONFIG_GLOBAL` points at.
    pub fn global_config(&self) -> PathBuf {
        self.home().join(".gitconfig")
    }

    /// Adds a variable every later [`GitEnv::command`] gets (overriding the defaults).
    pub fn set_env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) {
        self.extra.push((key.as_ref().to_owned(), value.as_ref().to_owned()));
    }

    /// The whole environment [`GitEnv::command`] sets, defaults first, then the extras.
    ///
    /// Defaults: `PATH` (inherited), `LANG=C`, `HOME`, `XDG_CONFIG_HOME`, `XDG_DATA_HOME`,
    /// `XDG_CACHE_HOME` (inside the home), `GIT_CONFIG_GLOBAL`, `GIT_CONFIG_NOSYSTEM=1` and
    /// `GIT_TERMINAL_PROMPT=0` (so a test can never block on a terminal prompt; remove it
    /// with `Command::env_remove` to test interactive behaviour).
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        let home = self.home();
        let mut vars: Vec<(OsString, OsString)> = vec![
            ("PATH".into(), std::env::var_os("PATH").unwrap_or_default()),
            ("LANG".into(), "C".into()),
            ("HOME".into(), home.clone().into()),
            ("XDG_CONFIG_HOME".into(), home.join(".config").into()),
            ("XDG_DATA_HOME".into(), home.join(".local/share").into()),
            ("XDG_CACHE_HOME".into(), home.join(".cache").into()),
            ("GIT_CONFIG_GLOBAL".into(), self.global_config().into()),
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        ];
        vars.extend(self.extra.iter().cloned());
        vars
    }

    /// A command for `program` with a cleared environment plus [`GitEnv::env`], running in
    /// [`GitEnv::path`]. Add `.envs(...)` or `.current_dir(...)` as needed.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        command.env_clear().envs(self.env()).current_dir(self.path());
        command
    }

    /// Runs `git` with `args` in `dir`; returns its trimmed stdout, panics with its stderr on
    /// failure.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let output = self
            .command("git")
            .current_dir(dir)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("GitEnv: cannot run git {args:?}: {e}"));
        assert!(
            output.status.success(),
            "git {args:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Sets `key` to `value` in the global config (`git config --global`).
    pub fn config(&self, key: &str, value: &str) {
        self.git(self.path(), &["config", "--global", key, value]);
    }

    /// Appends `value` to a multi-valued key (`git config --global --add`), e.g. a second
    /// `credential.helper`.
    pub fn config_add(&self, key: &str, value: &str) {
        self.git(self.path(), &["config", "--global", "--add", key, value]);
    }
}

impl Default for GitEnv {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_config_is_isolated_and_written() {
        let env = GitEnv::new();
        env.config("credential.helper", "test-helper");
        let text = std::fs::read_to_string(env.global_config()).expect("config file");
        assert!(text.contains("helper = test-helper"), "{text}");
        let shown = env.git(env.path(), &["config", "--show-origin", "credential.helper"]);
        assert!(shown.contains(&env.global_config().display().to_string()), "{shown}");
        assert_eq!(env.git(env.path(), &["config", "protocol.version"]), "2");
    }
}
