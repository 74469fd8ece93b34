//! A person at a real terminal (tmux): `login --method token` prompts on the terminal, then
//! `list` shows the account, then `logout` removes it; and an OAuth sign-in from a machine
//! without a browser, finished by pasting the address the browser was sent to. The screen is
//! captured with `tmux capture-pane` and printed, so each session reads as a person saw it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use bitbucket_test_support::{Consent, FakeBitbucket, GitEnv, Mode, User};
use common::*;

struct Tmux {
    socket: String,
}

impl Tmux {
    /// A tmux server of its own running an interactive `sh` with `env`'s environment, the
    /// helper first on PATH, and no desktop (no DISPLAY, no BROWSER).
    fn start(env: &GitEnv, name: &str) -> Tmux {
        let bin_dir = std::path::Path::new(HELPER).parent().unwrap().display().to_string();
        let tmux = Tmux { socket: format!("gcb-test-{name}-{}", std::process::id()) };
        let out = Command::new("tmux")
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
            .env_remove("GIT_TERMINAL_PROMPT")
            .output()
            .expect("tmux starts");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("tmux runs");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        // -J joins lines the terminal wrapped, so a long URL reads as one line.
        self.run(&["capture-pane", "-p", "-J", "-t", "s", "-S", "-100"])
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
    let env = cloud_env(&fake);
    let url = format!("http://{}", fake.host());

    let tmux = Tmux::start(&env, "login");
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

#[test]
fn without_a_browser_the_sign_in_address_is_printed_and_the_pasted_redirect_signs_in() {
    let fake = FakeBitbucket::start(Mode::Cloud);
    fake.add_user(User::new("alice", "alice@example.com"));
    fake.set_consenting_user("alice");
    let port = free_port();
    fake.add_consumer("cid", "csecret", &format!("http://localhost:{port}/"));
    let env = cloud_env(&fake);
    env.config("credential.bitbucketOAuthClientId", "cid");
    env.config("credential.bitbucketOAuthClientSecret", "csecret");
    env.config("credential.bitbucketOAuthRedirectPort", &port.to_string());
    let url = format!("http://{}", fake.host());

    let tmux = Tmux::start(&env, "paste");
    tmux.wait_for("$");
    tmux.type_line(&format!("git-credential-bitbucket login {url} --method oauth"));
    let screen = tmux.wait_for("or just the code:");
    let authorize = screen
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{url}/site/oauth2/authorize?")))
        .unwrap_or_else(|| panic!("no sign-in address on the screen:\n{screen}"))
        .to_owned();
    // The person opens the address elsewhere, grants access, and copies where the browser went
    // (on another machine: localhost there is not this machine, so nothing reaches the listener).
    let redirected = fake.consent(&authorize, Consent::Grant);
    assert!(redirected.starts_with(&format!("http://localhost:{port}/?code=")), "{redirected}");
    tmux.type_line(&redirected);
    let screen = tmux.wait_for("as alice (oauth, expires");
    // The terminal echoes what the person pasted; the code is the fake's secret, so the printed
    // copy of the screen shows it as <code> (the suite's output is scanned for the fake's secrets).
    let code = redirected.split("code=").nth(1).and_then(|c| c.split('&').next()).unwrap_or_default();
    let shown = screen.replace(code, "<code>");
    eprintln!("---- tmux capture-pane ----\n{}\n---------------------------", shown.trim_end());
    assert!(!screen.contains("fakeSECRET_at") && !screen.contains("fakeSECRET_rt"), "no token on the screen");
    assert_eq!(fake.count(bitbucket_test_support::RequestKind::Token), 1);
}

#[test]
fn with_several_accounts_and_no_default_a_terminal_asks_which_one() {
    let fake = FakeBitbucket::start(Mode::Cloud);
    let env = common::cloud_env(&fake);
    env.config("credential.helper", HELPER);
    let host = fake.host();
    for user in ["work", "home"] {
        let input = format!("protocol=http\nhost={host}\nusername={user}\npassword={user}-api-token\n\n");
        let mut store = env.command(HELPER);
        store.arg("store");
        let out = common::run_with_input(store, input);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // git's "forget this host": the default goes, both accounts stay.
    let forget = format!("protocol=http\nhost={host}\n\n");
    let mut erase = env.command(HELPER);
    erase.arg("erase");
    assert!(common::run_with_input(erase, &forget).status.success());

    let tmux = Tmux::start(&env, "accounts");
    tmux.wait_for("$");
    tmux.type_line(&format!("printf 'protocol=http\\nhost={host}\\n\\n' | git credential fill"));
    let screen = tmux.wait_for("Which one should answer");
    assert!(screen.contains("1) home (token)") && screen.contains("2) work (token)"), "{screen}");
    assert!(!screen.contains("api-token"), "no secret in the list:\n{screen}");
    tmux.type_line("2");
    let screen = tmux.wait_for("username=work");
    eprintln!("---- tmux capture-pane ----\n{}\n---------------------------", screen.trim_end());
    // The choice became the default: asked no more.
    tmux.type_line(&format!(
        "printf 'protocol=http\\nhost={host}\\n\\n' | git credential fill; echo filled-$?"
    ));
    let screen = tmux.wait_for("filled-0");
    assert_eq!(screen.matches("Which one should answer").count(), 1, "{screen}");
}
