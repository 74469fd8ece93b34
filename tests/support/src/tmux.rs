//! A real terminal for tests: a tmux server of its own running one shell command, whose
//! screen a test reads and into which it types, as a person would.

use std::ffi::OsString;
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of its own (killed on drop) with one session, `s`.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Run `script` with `sh -c` in a new `width`×`height` terminal with exactly `env` (plus
    /// `TERM=xterm`); `name` (with the process id) names the server.
    pub fn start(
        name: &str,
        (width, height): (u16, u16),
        script: &str,
        env: Vec<(OsString, OsString)>,
    ) -> Tmux {
        let tmux = Tmux { socket: format!("gcb-test-{name}-{}", std::process::id()) };
        let (width, height) = (width.to_string(), height.to_string());
        let out = Command::new("tmux")
            .args(["-L", &tmux.socket, "-f", "/dev/null", "new-session", "-d", "-s", "s"])
            .args(["-x", &width, "-y", &height, "sh", "-c", script])
            .env_clear()
            .envs(env)
            .env("TERM", "xterm")
            .output()
            .expect("tmux starts");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        tmux
    }

    /// `tmux ARGS` on this server; its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("tmux runs");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen and 100 lines of history; -J joins lines the terminal wrapped, so a long URL
    /// reads as one line.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-J", "-t", "s", "-S", "-100"])
    }

    /// Wait (bounded) until the screen shows `text`; the screen.
    pub fn wait_for(&self, text: &str) -> String {
        self.wait_for_nth(text, 1)
    }

    /// Wait (bounded) until the screen shows `text` `n` times (a prompt asked again); the screen.
    pub fn wait_for_nth(&self, text: &str, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.matches(text).count() >= n {
                return screen;
            }
            assert!(Instant::now() < deadline, "the terminal never showed {text:?}:\n{screen}");
            std::thread::yield_now();
        }
    }

    /// Type `text` and press Enter.
    pub fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-t", "s", "-l", text]);
        self.run(&["send-keys", "-t", "s", "Enter"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).output();
    }
}
