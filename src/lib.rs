//! `git-credential-bitbucket`: sign in to Bitbucket (Cloud and Data Center) once, then keep
//! git working silently.
//!
//! For a Rust program: [`TokenRequest`] gets an access token with the same sign-in logic git
//! gets; [`run_operation`] (or [`run_operation_with`], with settings and a store injected)
//! answers one of git's operations. Secrets are kept in a [`SecretStore`](store::SecretStore) — the OS keyring,
//! or another of its backends — and live in the process only as [`Secret`], which cannot be
//! printed by accident. [`run_cli`] is the whole binary, for the binary.
//! `docs/architecture.md` walks through the modules.
#![deny(clippy::print_stdout)]
#![warn(missing_docs)]

mod access;
mod auth;
mod bitbucket;
mod cli;
mod commands;
mod configure;
mod decide;
mod error;
mod host;
mod lock;
mod net;
mod oauth;
mod operation;
pub mod prompt;
mod protocol;
mod recognized;
mod rescue;
mod secret;
mod settings;
mod signals;
pub mod store;
mod target;
#[cfg(all(test, unix))]
mod test_script;
mod trace;

use std::ffi::OsString;

pub use access::{AccessToken, TokenRequest};
pub use auth::{Context, unix_now};
pub use error::{Detail, Error};
pub use operation::{Operation, Overrides, run_operation, run_operation_with};
pub use protocol::{Credential, ProtocolError};
pub use secret::Secret;

/// The parsers the fuzz targets exercise, reachable only with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    pub use crate::oauth::callback::{CallbackOutcome, judge_callback, judge_pasted};
    pub use crate::oauth::{MAX_TOKEN_BYTES, ParsedError, parse_token_response};
}

/// Run the command line `args` (the program's name first) as the `git-credential-bitbucket`
/// binary does: git's operations on the process's stdin and stdout, or a person's command.
/// Messages go to stderr as one line each. Returns the exit code: 0, 1 when something failed,
/// 2 for bad usage or bad input.
///
/// This is the binary's entry, not a library call: it installs the trace subscriber that
/// `GIT_BITBUCKET_TRACE` asks for, which is global to the process.
pub fn run_cli(args: Vec<OsString>, ctx: &Context) -> u8 {
    commands::run_cli(args, ctx)
}
