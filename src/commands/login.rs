//! `login`: sign in without a git command and store the result, then settle which account is
//! the host default (the question asked at a terminal when another one is); and
//! `login --setup-oauth`, which first sets up the OAuth client (see `oauth_client`).

use super::{Context, describe, oauth_client, open};
use crate::auth::{Authenticator, Resolved};
use crate::cli::LoginMethod;
use crate::error::Failure;
use crate::store::SecretKind;

/// How `login` signs in.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LoginOptions<'a> {
    /// Browser or token [default: OAuth when a client is configured].
    pub(super) method: Option<LoginMethod>,
    /// The account to sign in as (asked when absent).
    pub(super) user: Option<&'a str>,
    /// A Data Center project or repository token (Bearer only).
    pub(super) bearer: bool,
    /// Make the account the host default without asking.
    pub(super) default: bool,
}

/// `login`: sign in without a git command and store the result; the account becomes the
/// host default when there is none, with `--default`, or when the person says so.
pub(super) fn login(url: &str, options: LoginOptions, ctx: &Context) -> Result<String, Failure> {
    let LoginOptions { method, user, bearer, default } = options;
    let auth = open(url, user, ctx)?;
    let account = auth.account();
    let has_client = auth.has_oauth_client();
    let method = method.unwrap_or(if has_client { LoginMethod::Oauth } else { LoginMethod::Token });
    let found = match method {
        LoginMethod::Oauth if !has_client => return Err(Failure::NoOAuthClient),
        LoginMethod::Oauth => auth.sign_in_with_oauth(&account)?,
        LoginMethod::Token => match auth.sign_in_with_token(&account)? {
            Some(Resolved::Stored(found)) => found,
            Some(Resolved::Typed { username, secret }) => {
                let kind = if bearer { SecretKind::Bearer } else { SecretKind::Token };
                auth.store_typed(&username, secret, kind)?
            }
            None => return Err(Failure::NoTerminal),
        },
    };
    let username = &found.record.username;
    let default = settle_default(&auth, username, default, ctx)?;
    Ok(format!(
        "signed in to {} as {username} ({}); {default}",
        found.account.url(),
        describe(&found.record, (ctx.now)())
    ))
}

/// After a sign-in as `username`: make it the host default when asked to (`--default`) or
/// when the person at the terminal says yes; another account stays the default otherwise.
/// Says which account is the default.
fn settle_default(
    auth: &Authenticator,
    username: &str,
    default: bool,
    ctx: &Context,
) -> Result<String, Failure> {
    let current = auth.host_default()?;
    let Some(current) = current.filter(|c| c.username != username) else {
        return Ok("the default account".to_owned());
    };
    let url = auth.account().url();
    let other = &current.username;
    let question = format!("Make {username} the default account for {url} instead of {other}? [y/N] ");
    let yes = default
        || (ctx.stderr_is_terminal
            && ctx.prompter.ask(&question, false)?.is_some_and(|a| a.trim().eq_ignore_ascii_case("y")));
    if yes {
        auth.make_default(username)?;
        return Ok("now the default account".to_owned());
    }
    Ok(format!(
        "{other} stays the default account (switch with: git-credential-bitbucket use {username} {url})"
    ))
}

/// `login --setup-oauth`: create a Cloud consumer or enter a Data Center application link
/// (guided), keep it, then sign in with it.
pub(super) fn set_up_oauth(
    url: &str,
    user: Option<&str>,
    default: bool,
    ctx: &Context,
) -> Result<String, Failure> {
    let setting = oauth_client::set_up(&open(url, user, ctx)?, user)?;
    eprintln!("saved the OAuth client: its secret in the credential store, its id in {setting}");
    let auth = open(url, user, ctx)?;
    if let Some(winner) = oauth_client::overridden(&auth) {
        eprintln!("note: {winner}");
    }
    login(url, LoginOptions { method: Some(LoginMethod::Oauth), user, bearer: false, default }, ctx)
}
