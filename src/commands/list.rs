//! `list`: the stored accounts per host as a table or JSON — kind, expiry, refresh token,
//! host default — never a secret.

use std::io::Write;

use serde::Serialize;

use super::{Context, DEFAULT_URL, utc};
use crate::error::Failure;
use crate::settings::RawSettings;
use crate::store::{self, Account, KeyKind, SecretKind, SecretStore};

/// One row of `list`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(super) struct AccountRow {
    /// `scheme://host/[path]`.
    pub(super) url: String,
    /// The account.
    pub(super) username: String,
    /// `token`, `oauth`, `clientcredentials`, `bearer`.
    pub(super) kind: String,
    /// Expiry, Unix seconds, when known.
    pub(super) expires_at: Option<u64>,
    /// Whether a refresh token is stored.
    pub(super) refresh_token: bool,
    /// Whether this account is the host default (used when the remote URL has no username).
    pub(super) host_default: bool,
}

/// The stored accounts, without any secret.
pub(super) fn accounts(store: &dyn SecretStore, namespace: &str) -> Result<Vec<AccountRow>, Failure> {
    let entries = store.list(namespace)?;
    let mut rows = Vec::new();
    for (key, record) in &entries {
        let Some((account, KeyKind::Access)) = Account::from_key(namespace, key) else { continue };
        if record.kind == SecretKind::Refresh || key.account.is_empty() {
            continue;
        }
        let default_key = account.host_default_key();
        let host_default = entries
            .iter()
            .any(|(k, r)| *k == default_key && r.secret == record.secret && r.username == record.username);
        rows.push(AccountRow {
            url: account.url(),
            username: record.username.clone(),
            kind: record.kind.name().to_owned(),
            expires_at: record.expires_at,
            refresh_token: record.has_refresh_token,
            host_default,
        });
    }
    Ok(rows)
}

/// `list`: a table (or JSON) of stored accounts per host.
pub(super) fn list(json: bool, ctx: &Context, out: &mut dyn Write) -> Result<(), Failure> {
    let raw = RawSettings::load(&format!("{DEFAULT_URL}/"), ctx.env)?;
    let settings = raw.validate(None)?;
    let store = store::open(&settings.store)?;
    let rows = accounts(store.as_ref(), &settings.namespace)?;
    let io = Failure::Output;
    if json {
        let text = serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".to_owned());
        return writeln!(out, "{text}").map_err(io);
    }
    if rows.is_empty() {
        return writeln!(
            out,
            "no accounts stored ({} store, namespace {})",
            store.name(),
            settings.namespace
        )
        .map_err(io);
    }
    let now = (ctx.now)();
    let table: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let expiry = match r.expires_at {
                Some(t) if t > now => format!("{} ({} min)", utc(t), (t - now) / 60),
                Some(t) => format!("{} (expired)", utc(t)),
                None => "-".to_owned(),
            };
            let notes =
                [r.refresh_token.then_some("refresh token"), r.host_default.then_some("host default")]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ");
            [r.url.clone(), r.username.clone(), r.kind.clone(), expiry, notes]
        })
        .collect();
    let header = ["HOST", "ACCOUNT", "KIND", "EXPIRES (UTC)", "NOTES"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&table) {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        writeln!(out, "{}", line.join("  ").trim_end()).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredSecret;

    #[test]
    fn accounts_never_carry_secrets_and_mark_the_host_default() {
        let store = crate::store::MemoryStore::new();
        let account = crate::store::Account::new("git", "https", "bitbucket.org", None, Some("alice"));
        let record = StoredSecret::new(SecretKind::Token, "alice", crate::secret::Secret::new("s3cr3t"));
        store.save(&account.access_key(), &record).unwrap();
        store.save(&account.host_default_key(), &record).unwrap();
        let rows = accounts(&store, "git").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].url, "https://bitbucket.org/");
        assert!(rows[0].host_default);
        assert!(!serde_json::to_string(&rows).unwrap().contains("s3cr3t"));
    }
}
