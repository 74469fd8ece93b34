//! `logout`: delete every secret stored for an account; with `--forget-oauth`, also the
//! OAuth client `login --setup-oauth` saved.

use super::{Context, oauth_client, open};
use crate::error::Failure;
use crate::protocol::Credential;

/// `logout`: delete every secret stored for the account (access, refresh, host default copy).
pub(super) fn logout(url: &str, user: Option<&str>, ctx: &Context) -> Result<String, Failure> {
    let auth = open(url, user, ctx)?;
    let account = auth.account();
    let Some(found) = auth.find(&account)? else {
        return Ok(format!(
            "nothing stored for {}{}",
            account.url(),
            user.map(|u| format!(" ({u})")).unwrap_or_default()
        ));
    };
    let erase = Credential { username: Some(found.record.username.clone()), ..Credential::default() };
    let auth = open(url, Some(&found.record.username), ctx)?;
    auth.erase(&erase)?;
    Ok(format!("signed out {} from {}", found.record.username, found.account.url()))
}

/// `logout --forget-oauth`: forget the consumer `login --setup-oauth` saved.
pub(super) fn forget_oauth_consumer(url: &str, ctx: &Context) -> Result<Vec<String>, Failure> {
    oauth_client::forget(&open(url, None, ctx)?)
}
