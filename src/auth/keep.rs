//! What `store` keeps and `erase` forgets (the key layout in docs/architecture.md, "Store layout"), under the account's lock so that
//! neither can interleave with a refresh. The rules that decide whether git's copy of a token
//! may replace the stored one are plain functions at the end, with their tests.

use super::{Authenticator, Found};
use crate::error::Failure;
use crate::protocol::Credential;
use crate::secret::Secret;
use crate::store::{Account, SecretKind, StoredSecret};

impl Authenticator<'_> {
    /// `store`: keep what git says the server accepted, under the account's
    /// lock. An older generation of an OAuth sign-in than the stored one (a git process that
    /// got its token before another one refreshed) is ignored: writing it would put back a
    /// refresh token Bitbucket has retired.
    pub(crate) fn store(&self, cred: &Credential) -> Result<(), Failure> {
        let (Some(username), Some(password)) = (&cred.username, &cred.password) else {
            return Ok(());
        };
        if cred.ephemeral {
            return Ok(());
        }
        let account = self.account();
        let refresh_key = account.refresh_key();
        let _lock = refresh_key.as_ref().map(|k| self.lock_account(k)).transpose()?;
        let key = account.access_key();
        let existing = self.store.load(&key)?;
        let look_for_refresh =
            existing.as_ref().map_or(cred.oauth_refresh_token.is_some(), |o| o.has_refresh_token);
        let stored_refresh = match &refresh_key {
            Some(k) if look_for_refresh => self.store.load(k)?,
            _ => None,
        };
        if let Some(old) = &existing
            && is_older_generation(old, stored_refresh.as_ref().map(|r| &r.secret), cred, self.now())
        {
            tracing::debug!(
                "store: the token git handed back for {} is older than the stored one (another process refreshed meanwhile); keeping the stored one",
                account.url()
            );
            return Ok(());
        }
        let same_token = existing.as_ref().is_some_and(|old| old.secret == *password);
        let oauth_like = cred.password_expiry_utc.is_some() || cred.oauth_refresh_token.is_some();
        let mut record = match &existing {
            // Same secret: keep what we know about it (kind, client, refresh token).
            Some(old) if same_token => old.clone(),
            // A newer generation of the same OAuth sign-in (refreshed by another helper).
            Some(old) if is_oauth(old.kind) && oauth_like => StoredSecret {
                secret: password.clone(),
                expires_at: None,
                has_refresh_token: stored_refresh.is_some(),
                ..old.clone()
            },
            _ => StoredSecret::new(SecretKind::Token, username.as_str(), password.clone()),
        };
        if cred.password_expiry_utc.is_some() {
            record.expires_at = cred.password_expiry_utc;
        }
        if let (Some(refresh), Some(refresh_key)) = (&cred.oauth_refresh_token, &refresh_key) {
            // git's refresh token replaces the stored one only with a newer access token. With
            // the same token, or with no access record at all (erased, or another repository
            // path's: the refresh token is shared), the stored one is at least as new.
            let replaces = match (&stored_refresh, &existing) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(_), Some(old)) => !same_token && is_provably_newer(old, cred),
            };
            if replaces {
                let refresh_record =
                    StoredSecret::new(SecretKind::Refresh, username.as_str(), refresh.clone());
                // Refresh token first: an interrupted write leaves a state the next `get` recovers from.
                if self.store.load(refresh_key)?.as_ref() != Some(&refresh_record) {
                    self.store.save(refresh_key, &refresh_record)?;
                }
            }
            record.has_refresh_token = true;
        }
        if existing.as_ref() != Some(&record) {
            self.store.save(&key, &record)?;
        }
        self.update_host_default(&account, &record)
    }

    /// Store a secret the person typed (for `login` and the library), as `kind`.
    pub(crate) fn store_typed(
        &self,
        username: &str,
        secret: Secret,
        kind: SecretKind,
    ) -> Result<Found, Failure> {
        let account = self.account().with_username(username);
        let record = StoredSecret::new(kind, username, secret);
        self.store.save(&account.access_key(), &record)?;
        self.update_host_default(&account, &record)?;
        Ok(Found { account, record })
    }

    /// Copy the user's secret to the host default key when there is none, or when the default
    /// is an older secret of the same user. Never overwrite another user's default, nor a
    /// newer generation of the same OAuth sign-in.
    pub(super) fn update_host_default(
        &self,
        account: &Account,
        record: &StoredSecret,
    ) -> Result<(), Failure> {
        let default_key = account.host_default_key();
        match self.store.load(&default_key)? {
            Some(current) if current == *record => Ok(()),
            Some(current) if current.username != record.username => Ok(()),
            Some(current) if is_newer_oauth(&current, record) => {
                tracing::debug!("the host default of {} holds a newer token; keeping it", account.url());
                Ok(())
            }
            _ => Ok(self.store.save(&default_key, record)?),
        }
    }

    /// `erase`: compare-and-delete (docs/decisions.md, "Storing and erasing"). Only the secret equal to the password given is
    /// deleted (any, when none is given); its refresh token and host default copy go with it.
    pub(crate) fn erase(&self, cred: &Credential) -> Result<(), Failure> {
        let account = self.account();
        // A Bearer credential comes back as `credential=`, with no username or password.
        let password = cred.password.as_ref().or(cred.credential.as_ref());
        let default_key = account.host_default_key();
        let Some(username) = &cred.username else {
            // No username: forget the host default, the secret a `get` without one answers,
            // and, when a rejected secret was given, the user's own copy of that same secret.
            // Under the lock of the default's account, re-read: a refresh may be writing it.
            let Some(owner) = self.store.load(&default_key)?.map(|d| account.with_username(&d.username))
            else {
                return Ok(());
            };
            let _lock = owner.refresh_key().map(|k| self.lock_account(&k)).transpose()?;
            if let Some(default) = self.store.load(&default_key)?
                && password.is_none_or(|p| *p == default.secret)
            {
                self.store.delete(&default_key)?;
                if password.is_some() {
                    let user_key = account.with_username(&default.username).access_key();
                    if self.store.load(&user_key)?.is_some_and(|r| r.secret == default.secret) {
                        self.store.delete(&user_key)?;
                    }
                }
            }
            return Ok(());
        };
        let refresh_key = account.refresh_key();
        let _lock = refresh_key.as_ref().map(|k| self.lock_account(k)).transpose()?;
        let key = account.access_key();
        let record = self.store.load(&key)?;
        if let (Some(p), Some(r)) = (password, &record)
            && r.secret != *p
        {
            tracing::debug!(
                "erase: the stored secret for {} differs from the rejected one; keeping it",
                account.url()
            );
            return Ok(());
        }
        if record.is_none() && password.is_some() {
            return Ok(());
        }
        if let Some(r) = record.as_ref().filter(|r| password.is_some() && self.merely_expired(r)) {
            tracing::debug!(
                "erase: the rejected {} for {} had run out; keeping the refresh token so the next get refreshes",
                r.kind.name(),
                account.url()
            );
            return Ok(());
        }
        if record.is_some() {
            self.store.delete(&key)?;
        }
        // The refresh token is the account's, shared by every repository path of it: a path's
        // rejected token says nothing about it.
        let owns_refresh_token = record.as_ref().is_none_or(|r| is_oauth(r.kind) || r.has_refresh_token);
        if account.path.is_none() && owns_refresh_token {
            self.forget_refresh_token(&account)?;
        }
        if let Some(default) = self.store.load(&default_key)? {
            let same = match &record {
                Some(r) => default.secret == r.secret && default.username == r.username,
                None => default.username == *username,
            };
            if same {
                self.store.delete(&default_key)?;
            }
        }
        Ok(())
    }
}

impl Authenticator<'_> {
    /// A token git rejected because it had run out (a push that outlived it), while a refresh
    /// token is stored: the sign-in itself is fine, and the next `get` refreshes it.
    fn merely_expired(&self, record: &StoredSecret) -> bool {
        let refreshable = record.has_refresh_token && self.stored_refresh(&self.account()).is_some();
        refreshable && !self.is_fresh(record)
    }
}

fn is_oauth(kind: SecretKind) -> bool {
    matches!(kind, SecretKind::OAuth | SecretKind::ClientCredentials)
}

/// Whether `incoming` (what git hands to `store`) is an older generation of the OAuth
/// sign-in `stored` holds: another access token that is not provably as new — neither the
/// same refresh token nor a later expiry. API tokens and other plain secrets are never
/// "older": the last one git stores wins, as with git's own helpers; neither is anything
/// stored over an OAuth token that has run out (the person may have typed a new secret
/// because that sign-in could not be refreshed); a stored refresh token is still replaced
/// only by a provably newer one.
fn is_older_generation(
    stored: &StoredSecret,
    stored_refresh: Option<&Secret>,
    incoming: &Credential,
    now: u64,
) -> bool {
    if !is_oauth(stored.kind) || incoming.password.as_ref() == Some(&stored.secret) {
        return false;
    }
    if !super::stored_facts(stored).is_fresh(now) {
        // Run out: git's copy may replace it (its refresh token only when provably newer).
        return false;
    }
    let same_refresh =
        incoming.oauth_refresh_token.is_some() && incoming.oauth_refresh_token.as_ref() == stored_refresh;
    !(same_refresh || is_provably_newer(stored, incoming))
}

/// Whether git's copy is provably newer than `old`: a later expiry, or an expiry where none
/// was known; without an expiry, only over a plain secret (last writer wins).
fn is_provably_newer(old: &StoredSecret, incoming: &Credential) -> bool {
    match (incoming.password_expiry_utc, old.expires_at) {
        (Some(new), Some(old)) => new > old,
        (Some(_), None) => true,
        (None, _) => !is_oauth(old.kind),
    }
}

/// Whether `current` is a later OAuth token than `record` (both with a known expiry).
fn is_newer_oauth(current: &StoredSecret, record: &StoredSecret) -> bool {
    is_oauth(current.kind)
        && current.secret != record.secret
        && matches!((current.expires_at, record.expires_at), (Some(c), Some(r)) if c > r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth(secret: &str, expires_at: u64) -> StoredSecret {
        let mut r = StoredSecret::new(SecretKind::OAuth, "alice", Secret::new(secret));
        r.expires_at = Some(expires_at);
        r.has_refresh_token = true;
        r
    }

    fn incoming(password: &str, expiry: Option<u64>, refresh: Option<&str>) -> Credential {
        Credential {
            username: Some("alice".into()),
            password: Some(Secret::new(password)),
            password_expiry_utc: expiry,
            oauth_refresh_token: refresh.map(Secret::new),
            ..Credential::default()
        }
    }

    #[test]
    fn only_a_provably_newer_oauth_token_replaces_the_stored_one() {
        let stored = oauth("t2", 2000);
        let r2 = Secret::new("r2");
        let rows = [
            ("the same token", incoming("t2", Some(2000), Some("r2")), false),
            (
                "an older generation (earlier expiry, spent refresh token)",
                incoming("t1", Some(1000), Some("r1")),
                true,
            ),
            ("the same expiry, another refresh token", incoming("t1", Some(2000), Some("r1")), true),
            ("no expiry, no refresh token (old git)", incoming("t1", None, None), true),
            ("a later expiry (refreshed by another helper)", incoming("t3", Some(3000), Some("r3")), false),
            ("the same refresh token", incoming("t3", Some(1500), Some("r2")), false),
        ];
        for (row, cred, older) in rows {
            assert_eq!(is_older_generation(&stored, Some(&r2), &cred, 0), older, "{row}");
        }
    }

    #[test]
    fn plain_tokens_are_last_writer_wins() {
        let stored = StoredSecret::new(SecretKind::Token, "alice", Secret::new("api-1"));
        assert!(!is_older_generation(&stored, None, &incoming("api-2", None, None), 0));
    }

    #[test]
    fn anything_replaces_an_expired_oauth_token() {
        let stored = oauth("t1", 1000);
        assert!(!is_older_generation(
            &stored,
            Some(&Secret::new("r1")),
            &incoming("api-typed", None, None),
            5000
        ));
        assert!(
            is_older_generation(&stored, None, &incoming("api-typed", None, None), 0),
            "still fresh: kept"
        );
    }

    #[test]
    fn the_host_default_keeps_a_later_oauth_token() {
        assert!(is_newer_oauth(&oauth("t2", 2000), &oauth("t1", 1000)));
        assert!(!is_newer_oauth(&oauth("t1", 1000), &oauth("t2", 2000)));
        assert!(!is_newer_oauth(&oauth("t2", 2000), &oauth("t2", 2000)));
    }
}
