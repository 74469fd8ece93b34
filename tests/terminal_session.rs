//! A person at a real terminal (tmux): `login --method token` prompts on the terminal, then
//! `list` shows the account, then `logout` removes it. The screen is captured with
//! `tmux capture-pane` and printed, so the session can be read as a person saw it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use bitbucket_test_support::{FakeBitbucket, Mode, User};

const HELPER: &str = env!("CARGO_BIN_EXE_git-credential-bitbucket");

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("tmux runs");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "s", "-S", "-100"])
    }

    /// Wait (bounded) until the screen shows `text`.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(Instant::now() < deadline, "the terminal never showed {text:?}:\n{screen}");
            std::thread::yield_now();
        }
    }

    fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-t", "s", "-l", text]);
        self.run(&["send-keys", "-t", "s", "Enter"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).output();
    }
}

#[test]
fn login_prompts_on_the_terminal_then_list_and_logout() {
    let fake = FakeBitbucket::start(Mode::Cloud);
    fake.add_user(User::new("alice", "alice@example.com").with_api_token("alice-terminal-token"));
    let env = common::cloud_env(&fake);
    let url = format!("http://{}", fake.host());

    let bin_dir = std::path::Path::new(HELPER).parent().unwrap().display().to_string();
    let tmux = Tmux { socket: format!("gcb-test-{}", std::process::id()) };
    let mut start = Command::new("tmux");
    start
        .args([
            "-L",
            &tmux.socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "s",
            "-x",
            "200",
            "-y",
            "50",
        ])
        .args(["sh", "-c", "PS1='$ ' exec sh -i"])
        .env_clear()
        .envs(env.env())
        .env("PATH", format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default()))
        .env("TERM", "xterm")
        .env_remove("GIT_TERMINAL_PROMPT");
    let out = start.output().expect("tmux starts");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    tmux.wait_for("$");
    tmux.type_line(&format!("git-credential-bitbucket login {url} --method token"));
    tmux.wait_for(&format!("Username for '{url}':"));
    tmux.type_line("alice");
    tmux.wait_for(&format!("Password for 'http://alice@{}':", fake.host()));
    tmux.type_line("alice-terminal-token");
    let screen = tmux.wait_for("as alice (token, no expiry)");
    assert!(!screen.contains("alice-terminal-token"), "the token is not echoed:\n{screen}");
    assert!(screen.contains("API token"), "the Cloud hint is shown:\n{screen}");

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
