//! `use`: make a stored account the host default (the one that answers remotes without a
//! username).

use super::{Context, open};
use crate::error::Failure;

/// `use`: make USER's stored account the host default.
pub(super) fn use_account(url: &str, user: &str, ctx: &Context) -> Result<String, Failure> {
    let auth = open(url, None, ctx)?;
    let found = auth.make_default(user)?;
    Ok(format!("{user} is now the default account for {} (remotes without a username)", found.account.url()))
}
