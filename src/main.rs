//! The `git-credential-bitbucket` binary: parse the command line, hand the process's stdin,
//! stdout and environment to the library, and turn errors into one line and an exit code.
//!
//! Git starts this program on every fetch and push, so its start-up is the hot path. On Unix
//! it has a C `main` of its own instead of Rust's runtime start-up, which also reads and parses
//! `/proc/self/maps` to place a stack-overflow guard for the main thread: 7 % of a hot `get`
//! (docs/performance.md). The two parts of that start-up this program relies on are in
//! [`unix_start`]. What is given up: a stack overflow ends the process with `SIGSEGV` instead
//! of Rust's "has overflowed its stack" line; a panic message names the thread `<unnamed>`
//! instead of `main`; and in a debug build a panic aborts (`SIGABRT`) instead of exiting 101,
//! as the release build, with `panic = "abort"`, always did.
#![cfg_attr(unix, no_main)]

use std::ffi::OsString;
use std::io::{IsTerminal, Write};

use git_credential_bitbucket::prompt::SystemPrompter;
use git_credential_bitbucket::{Context, run_cli, unix_now};

/// Runs the command line `args` (the program's name first) and flushes stdout; returns the
/// exit code.
fn run_and_flush(args: Vec<OsString>) -> u8 {
    let code = run(args);
    // Rust's runtime flushes stdout at exit; without it (Unix), this does. A reader that left
    // is no failure (the commands' `reader_left`); any other lost output is.
    match std::io::stdout().flush() {
        Err(e) if code == 0 && e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("git-credential-bitbucket: could not write the output: {e}");
            1
        }
        _ => code,
    }
}

fn run(args: Vec<OsString>) -> u8 {
    let env = |name: &str| std::env::var(name).ok();
    let prompter = SystemPrompter::from_env(&env);
    let ctx = Context {
        env: &env,
        prompter: &prompter,
        stderr_is_terminal: std::io::stderr().is_terminal(),
        now: &unix_now,
    };
    run_cli(args, &ctx)
}

#[cfg(not(unix))]
fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(run_and_flush(std::env::args_os().collect()))
}

#[cfg(unix)]
#[unsafe(no_mangle)]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    if !unix_start::standard_fds_open() {
        return 1;
    }
    unix_start::ignore_sigpipe();
    // SAFETY: the C runtime calls `main` with `argv` holding `argc` NUL-terminated strings.
    let args = unsafe { unix_start::args(argc, argv) };
    libc::c_int::from(run_and_flush(args))
}

/// What Rust's runtime start-up does on Unix that this program relies on.
#[cfg(unix)]
mod unix_start {
    use std::ffi::{CStr, OsString};
    use std::os::unix::ffi::OsStringExt;

    /// Puts `/dev/null` on stdin, stdout or stderr when the parent closed it, so that no file
    /// the helper opens (a store, a lock) becomes fd 1 and receives an answer meant for git.
    /// `false` when `/dev/null` cannot be opened.
    pub fn standard_fds_open() -> bool {
        for fd in 0..=2 {
            // SAFETY: F_GETFD only reads the descriptor's flags.
            let closed = unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
            // SAFETY: a NUL-terminated path; `open` returns the lowest free descriptor, `fd`.
            if closed && unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } != fd {
                return false;
            }
        }
        true
    }

    /// A reader that closed its pipe (git, `head`) becomes a write error the helper reports or
    /// ignores, never a signal that kills it between writing a store and answering.
    pub fn ignore_sigpipe() {
        // SAFETY: installs the predefined SIG_IGN disposition; no handler code runs.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    }

    /// The command line from C's `argv`, bytes as they are (std reads it the same way).
    ///
    /// # Safety
    ///
    /// `argv` holds `argc` valid NUL-terminated strings.
    pub unsafe fn args(argc: libc::c_int, argv: *const *const libc::c_char) -> Vec<OsString> {
        let count = usize::try_from(argc).unwrap_or(0);
        (0..count)
            .map(|i| {
                // SAFETY: `i < argc`, and each entry is a NUL-terminated string (the caller's promise).
                let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
                OsString::from_vec(arg.to_bytes().to_vec())
            })
            .collect()
    }
}
