//! Running a helper program (`gpg`, `git credential-cache`) with a secret on its stdin.
//!
//! The secret goes through a pipe, written from a scoped thread while the output is read, so
//! neither side can block the other whatever the sizes. It must never go into the program's
//! arguments or environment.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::secret::Secret;

/// Run `command` with `input` on its stdin (closed at once when `None`), collecting stdout
/// and stderr. The OAuth client secrets are removed from its environment.
pub(super) fn run(command: &mut Command, input: Option<&Secret>) -> std::io::Result<Output> {
    crate::settings::scrub_secret_env(command)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn()?;
    let stdin = child.stdin.take();
    std::thread::scope(|scope| {
        if let (Some(mut stdin), Some(input)) = (stdin, input) {
            // A write error (the program ended early) shows as the program's own failure.
            scope.spawn(move || {
                let _ = stdin.write_all(input.expose().as_bytes());
            });
        }
        child.wait_with_output()
    })
}

/// Run `command` with `file` as its stdin (a file the caller opened and checked, so the
/// program reads exactly that one), collecting stdout and stderr. The OAuth client secrets
/// are removed from its environment.
pub(super) fn run_reading(command: &mut Command, file: std::fs::File) -> std::io::Result<Output> {
    crate::settings::scrub_secret_env(command)
        .stdin(Stdio::from(file))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.spawn()?.wait_with_output()
}

/// The first non-blank line a failed program wrote to stderr (never a secret: neither `gpg`
/// nor `git credential-cache` echoes its input).
pub(super) fn first_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no message").to_owned()
}
