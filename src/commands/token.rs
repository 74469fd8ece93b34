//! `token`: print a fresh access token (refreshed when needed) for scripts and `curl` — what
//! [`TokenRequest`] gets, for the URL and account a person typed.

use std::io::Write;

use super::{Context, open};
use crate::access::TokenRequest;
use crate::error::Failure;

/// `token`: the token [`TokenRequest`] gets with this command line's authenticator, on `out`.
pub(super) fn token(
    url: &str,
    user: Option<&str>,
    ctx: &Context,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let token = TokenRequest::new(url).access_token_from(open(url, user, ctx)?)?;
    writeln!(out, "{}", token.token.expose()).map_err(Failure::Output)
}
