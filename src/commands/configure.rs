//! `configure` and `unconfigure`: make git use this helper for Bitbucket (and only it), or
//! remove what `configure` added.

use super::Context;
use crate::configure::{self as gitconfig, Scope};
use crate::error::Failure;

/// `configure`: the lines set in git config (global, or the system's with `--system`).
pub(super) fn configure(system: bool, urls: &[String], ctx: &Context) -> Result<Vec<String>, Failure> {
    let helper = gitconfig::helper_value((ctx.env)("PATH").as_deref());
    gitconfig::configure(scope(system), urls, &helper)
}

/// `unconfigure`: the lines removed from git config.
pub(super) fn unconfigure(system: bool, urls: &[String]) -> Result<Vec<String>, Failure> {
    gitconfig::unconfigure(scope(system), urls)
}

fn scope(system: bool) -> Scope {
    if system { Scope::System } else { Scope::Global }
}
