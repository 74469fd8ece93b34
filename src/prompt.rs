//! Asking the person: the terminal (`/dev/tty`) or an askpass program, never stdin/stdout.
//!
//! Git owns the helper's stdin and stdout, so prompts go where git's own prompts go: the
//! program in `GIT_ASKPASS`, `core.askPass` or `SSH_ASKPASS` (how editors such as VS Code show
//! git's prompts), else the terminal. This module never decides *whether* to prompt; `auth`
//! does (`GIT_TERMINAL_PROMPT=0`, `credential.interactive=false`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// A prompt could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// Reading the terminal failed.
    #[error("could not read from the terminal: {0}")]
    Terminal(std::io::Error),
    /// The user pressed Ctrl-D / the terminal closed.
    #[error("no answer was given (end of input)")]
    Eof,
}

/// Something that can ask the person a question.
pub trait Prompter {
    /// Ask `prompt`; hide the answer when `secret`. `Ok(None)` when there is no way to ask
    /// here (no terminal, no askpass program).
    fn ask(&self, prompt: &str, secret: bool) -> Result<Option<String>, PromptError>;
    /// Show one line of guidance where the person will see it (the terminal), if there is one.
    fn tell(&self, line: &str);
}

/// Prompts the way git does: askpass first, then `/dev/tty`.
///
/// The askpass program is looked up on the first prompt only, so that a run that never
/// prompts (the hot path) never reads `core.askPass` with a second `git config` call.
#[derive(Debug)]
pub struct SystemPrompter {
    git_askpass: Option<String>,
    ssh_askpass: Option<String>,
    core_askpass: fn() -> Option<String>,
    resolved: std::cell::OnceCell<Vec<String>>,
}

impl SystemPrompter {
    /// Find the askpass program like git: `GIT_ASKPASS`, then `core.askPass`, then
    /// `SSH_ASKPASS`. `core.askPass` is read at most once, at the first prompt, and only
    /// when `GIT_ASKPASS` is not set.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        Self::with_core_askpass(env, crate::settings::git::core_askpass)
    }

    fn with_core_askpass(env: &dyn Fn(&str) -> Option<String>, core_askpass: fn() -> Option<String>) -> Self {
        let nonempty = |name: &str| env(name).filter(|v| !v.is_empty());
        SystemPrompter {
            git_askpass: nonempty("GIT_ASKPASS"),
            ssh_askpass: nonempty("SSH_ASKPASS"),
            core_askpass,
            resolved: std::cell::OnceCell::new(),
        }
    }

    /// A prompter that uses exactly these askpass programs (then the terminal).
    pub fn with_askpass(programs: Vec<String>) -> Self {
        let resolved = std::cell::OnceCell::new();
        let _ = resolved.set(programs);
        SystemPrompter { git_askpass: None, ssh_askpass: None, core_askpass: || None, resolved }
    }

    /// The askpass programs to try, in order (resolved on first use).
    pub fn askpass(&self) -> &[String] {
        self.resolved.get_or_init(|| {
            let chosen = self
                .git_askpass
                .clone()
                .or_else(|| (self.core_askpass)().filter(|v| !v.is_empty()))
                .or_else(|| self.ssh_askpass.clone());
            chosen.into_iter().collect()
        })
    }

    fn ask_askpass(program: &str, prompt: &str) -> Option<String> {
        let output = crate::settings::scrub_secret_env(&mut Command::new(program))
            .arg(prompt)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .ok()?;
        if !output.status.success() {
            return None;
        }
        let text = String::from_utf8(output.stdout).ok()?;
        // Like git: the answer ends at the first line break.
        Some(text.split(['\r', '\n']).next().unwrap_or_default().to_owned())
    }

    fn ask_terminal(prompt: &str, secret: bool) -> Result<Option<String>, PromptError> {
        let Ok(tty) = std::fs::OpenOptions::new().read(true).write(true).open(TTY) else {
            return Ok(None);
        };
        if secret {
            return match rpassword::prompt_password(prompt) {
                Ok(answer) => Ok(Some(answer)),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(PromptError::Eof),
                Err(e) => Err(PromptError::Terminal(e)),
            };
        }
        let mut writer = &tty;
        writer.write_all(prompt.as_bytes()).map_err(PromptError::Terminal)?;
        writer.flush().map_err(PromptError::Terminal)?;
        let mut line = String::new();
        let n = BufReader::new(&tty).read_line(&mut line).map_err(PromptError::Terminal)?;
        if n == 0 {
            return Err(PromptError::Eof);
        }
        Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
    }
}

#[cfg(unix)]
const TTY: &str = "/dev/tty";
#[cfg(windows)]
const TTY: &str = "CONIN$";

impl Prompter for SystemPrompter {
    fn ask(&self, prompt: &str, secret: bool) -> Result<Option<String>, PromptError> {
        for program in self.askpass() {
            if let Some(answer) = Self::ask_askpass(program, prompt) {
                return Ok(Some(answer));
            }
        }
        Self::ask_terminal(prompt, secret)
    }

    fn tell(&self, line: &str) {
        if !self.askpass().is_empty() {
            return;
        }
        if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open(TTY) {
            let _ = writeln!(tty, "{line}");
        }
    }
}

/// Never asks: for non-interactive runs and tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPrompt;

impl Prompter for NoPrompt {
    fn ask(&self, _prompt: &str, _secret: bool) -> Result<Option<String>, PromptError> {
        Ok(None)
    }

    fn tell(&self, _line: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_askpass_wins_and_core_askpass_is_not_consulted() {
        let env = |k: &str| match k {
            "GIT_ASKPASS" => Some("/bin/git-askpass".to_owned()),
            "SSH_ASKPASS" => Some("/bin/ssh-askpass".to_owned()),
            _ => None,
        };
        let p = SystemPrompter::with_core_askpass(&env, || panic!("core.askPass must not be read"));
        assert_eq!(p.askpass(), ["/bin/git-askpass"]);
    }

    #[test]
    fn core_askpass_is_not_read_until_a_prompt_is_needed() {
        let p = SystemPrompter::with_core_askpass(&|_| None, || panic!("core.askPass read without a prompt"));
        drop(p);
    }

    #[test]
    fn core_askpass_comes_before_ssh_askpass() {
        let env = |k: &str| (k == "SSH_ASKPASS").then(|| "/bin/ssh-askpass".to_owned());
        let p = SystemPrompter::with_core_askpass(&env, || Some("/bin/core".to_owned()));
        assert_eq!(p.askpass(), ["/bin/core"]);
        let p = SystemPrompter::with_core_askpass(&env, || None);
        assert_eq!(p.askpass(), ["/bin/ssh-askpass"]);
    }

    #[cfg(unix)]
    #[test]
    fn askpass_answer_stops_at_the_first_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("askpass");
        crate::test_script::write_script(&script, "#!/bin/sh\nprintf 'answer\\nmore'\n");
        let p = SystemPrompter::with_askpass(vec![script.display().to_string()]);
        assert_eq!(p.ask("Password: ", true).unwrap().as_deref(), Some("answer"));
    }
}
