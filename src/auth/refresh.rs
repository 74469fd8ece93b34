//! Step 2 of `get`: refresh an OAuth token under the account's lock, and keep what a grant
//! returns so that a rotated refresh token is never lost (a failed write is retried, then
//! rescued; see `crate::rescue`).

use super::{Authenticator, Found};
use crate::bitbucket::Endpoints;
use crate::error::Failure;
use crate::lock::AccountLock;
use crate::net::http::ApiError;
use crate::oauth::{self, Grant, TokenError, TokenResponse};
use crate::rescue::{RescueDir, Rescued, fingerprint};
use crate::secret::Secret;
use crate::settings::OAuthClient;
use crate::store::{Account, SecretKind, StoreKey, StoredSecret};

/// Who a grant's tokens are for.
#[derive(Clone, Copy)]
pub(super) struct Issued<'a> {
    pub account: &'a Account,
    pub username: &'a str,
    pub kind: SecretKind,
    pub client: &'a OAuthClient,
}

impl Authenticator<'_> {
    /// Refresh an expired (or, by policy, any) OAuth token, at most once across all
    /// processes: take the account's lock, re-read the store (another process may have
    /// refreshed meanwhile, or an earlier run may have left tokens it could not save),
    /// refresh, and keep the rotated refresh token before the access token. `None` when
    /// there is nothing to refresh with, or the refresh token is dead. Any other failure
    /// keeps every token and is an error that names its cause.
    pub(crate) fn refresh(&self, found: &Found) -> Result<Option<Found>, Failure> {
        let Some(refresh_key) = found.account.refresh_key() else { return Ok(None) };
        let _lock = self.lock_account(&refresh_key)?;
        let access_key = found.account.access_key();
        let rescued = self.recover_rescued(&refresh_key)?;
        let current = match rescued.as_ref().filter(|r| r.account.access_key() == access_key) {
            Some(r) => Some(r.access.clone()),
            None => self.store.load(&access_key)?,
        };
        if let Some(current) = current
            && current.secret != found.record.secret
            && self.is_fresh(&current)
        {
            tracing::debug!("another process refreshed {} meanwhile", found.account.url());
            return Ok(Some(Found { account: found.account.clone(), record: current }));
        }
        let (refresh, in_store) = match rescued {
            Some(r) => (r.refresh, r.replaces),
            None => {
                let stored = self.store.load(&refresh_key)?;
                let print = stored.as_ref().map(|r| fingerprint(&r.secret));
                (stored, print)
            }
        };
        let Some(refresh) = refresh else {
            tracing::debug!("no refresh token stored for {}", found.account.url());
            return Ok(None);
        };
        let Some(client) = self.oauth_client()? else {
            tracing::debug!("no OAuth client configured: cannot refresh");
            return Ok(None);
        };
        if found.record.client_id.as_ref().is_some_and(|id| *id != client.id) {
            tracing::debug!("the token was issued to another OAuth client: cannot refresh it with this one");
            return Ok(None);
        }
        let endpoints = self.endpoints()?;
        tracing::debug!("refreshing the token of {}", found.account.url());
        // From the request until its answer is kept, a signal waits (see `crate::signals`).
        let _held = crate::signals::hold();
        match oauth::request_token(self.http()?, &endpoints, client, Grant::Refresh(&refresh.secret)) {
            Ok(tokens) => {
                let kind = match found.record.kind {
                    SecretKind::ClientCredentials => SecretKind::ClientCredentials,
                    _ => SecretKind::OAuth,
                };
                let issued =
                    Issued { account: &found.account, username: &found.record.username, kind, client };
                let record = self.keep_tokens(issued, &endpoints, tokens, in_store)?;
                Ok(Some(Found { account: found.account.clone(), record }))
            }
            Err(e @ TokenError::Rejected { grant_is_dead: true, .. }) => {
                tracing::debug!("{e}: the refresh token is dead; deleting it");
                // Compare-and-delete: only the token that was refused, never a newer one.
                if self.store.load(&refresh_key)?.is_some_and(|r| r.secret == refresh.secret) {
                    self.forget_refresh_token(&found.account)?;
                }
                if self.store.load(&access_key)?.is_some_and(|r| r.secret == found.record.secret) {
                    self.store.delete(&access_key)?;
                }
                let url = found.account.url();
                self.ctx.hint(&format!(
                    "Bitbucket no longer accepts the saved sign-in for {url} ({e}); sign in again"
                ));
                Ok(None)
            }
            Err(e) => Err(self.refresh_failed(&found.account, e)),
        }
    }

    /// Refresh with a refresh token git passed (a storage helper before this one returned
    /// it, git >= 2.41), under the account's lock, and keep the new tokens as this
    /// account's. `None` without an OAuth client, or when Bitbucket refuses the token (it
    /// may have been issued to another client): then the next step is tried.
    pub(crate) fn refresh_offered(
        &self,
        account: &Account,
        offered: &Secret,
    ) -> Result<Option<Found>, Failure> {
        let Some(client) = self.oauth_client()? else {
            tracing::debug!("git passed a refresh token, but no OAuth client is configured");
            return Ok(None);
        };
        let lock_key = account.refresh_key().unwrap_or_else(|| account.host_default_key());
        let _lock = self.lock_account(&lock_key)?;
        if let Some(found) = self.find(account)?.filter(|f| self.is_fresh(&f.record)) {
            tracing::debug!("another process signed in to {} meanwhile", account.url());
            return Ok(Some(found));
        }
        let endpoints = self.endpoints()?;
        tracing::debug!("refreshing with the refresh token git passed for {}", account.url());
        let _held = crate::signals::hold();
        let tokens = match oauth::request_token(self.http()?, &endpoints, client, Grant::Refresh(offered)) {
            Ok(tokens) => tokens,
            Err(e @ TokenError::Rejected { .. }) => {
                tracing::debug!("{e}: the refresh token git passed cannot be used here");
                return Ok(None);
            }
            Err(e) => {
                return match self.refresh_failed(account, e) {
                    Failure::RefreshRefused { reason, .. } => {
                        tracing::debug!("{reason}: the refresh token git passed cannot be used here");
                        Ok(None)
                    }
                    e => Err(e),
                };
            }
        };
        let username = match &account.username {
            Some(name) => name.clone(),
            None => self.username_for_token(&endpoints, &tokens.access_token)?,
        };
        let issued = Issued { account, username: &username, kind: SecretKind::OAuth, client };
        self.keep_grant(issued, &endpoints, tokens).map(Some)
    }

    /// Keep the tokens of a new grant (a sign-in, client credentials, a Connect JWT) for
    /// `issued.username` (refresh first), replacing whatever refresh token is stored now.
    pub(super) fn keep_grant(
        &self,
        issued: Issued<'_>,
        endpoints: &Endpoints,
        tokens: TokenResponse,
    ) -> Result<Found, Failure> {
        let (account, username) = (issued.account, issued.username);
        let in_store = self.stored_refresh_fingerprint(&account.with_username(username));
        let record = self.keep_tokens(issued, endpoints, tokens, in_store)?;
        Ok(Found { account: account.with_username(username), record })
    }

    /// A refresh that failed for a reason other than a dead refresh token: what went wrong
    /// and, when the consumer was refused, which settings hold it. Any other refusal (a 400
    /// or 401 with an error code the helper cannot read as a dead token, or a 400 without
    /// one) is [`Failure::RefreshRefused`]: the refresh token is kept and a new sign-in is the
    /// way on; a failure to get an answer at all (network, 5xx, 429) stays an error.
    fn refresh_failed(&self, account: &Account, e: TokenError) -> Failure {
        let reason = match &e {
            TokenError::Rejected { error, .. }
                if error == "invalid_client" || error == "unauthorized_client" =>
            {
                let (id, secret) = self.profile.client_settings;
                format!(
                    "Bitbucket refused the OAuth consumer ({error}); check credential.{id} and credential.{secret} (or their environment variables)"
                )
            }
            TokenError::Rejected { error, status, .. } => {
                return Failure::RefreshRefused {
                    url: account.url(),
                    reason: format!("HTTP {status}, {error}"),
                };
            }
            TokenError::Api(ApiError::Status { status: 400, error, .. }) => {
                let reason = match error {
                    Some(error) => format!("HTTP 400, {error}"),
                    None => "HTTP 400".to_owned(),
                };
                return Failure::RefreshRefused { url: account.url(), reason };
            }
            _ => e.to_string(),
        };
        Failure::RefreshFailed { url: account.url(), reason }
    }

    /// Tokens an earlier run obtained but could not save: saved now when the store takes
    /// them, and returned while they are newer than the store's (the store still holds the
    /// refresh token they replaced). An outdated rescue is deleted.
    fn recover_rescued(&self, refresh_key: &StoreKey) -> Result<Option<Rescued>, Failure> {
        let rescue = self.rescue_dir();
        let rescued = match rescue.load(refresh_key) {
            Ok(Some(rescued)) => rescued,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::debug!("ignoring an unreadable rescue file: {e}");
                return Ok(None);
            }
        };
        let stored = self.store.load(refresh_key)?.map(|r| fingerprint(&r.secret));
        if stored != rescued.replaces {
            tracing::debug!("the rescued sign-in of {} is older than the stored one", rescued.account.url());
            if let Err(e) = rescue.remove(refresh_key) {
                tracing::debug!("could not delete the outdated rescue file: {e}");
            }
            return Ok(None);
        }
        // Moving the rescued pair into the store is not interrupted half-way by a signal.
        let held = crate::signals::hold();
        match self.write_tokens(&rescued.account, &rescued.access, rescued.refresh.as_ref()) {
            Ok(()) => {
                tracing::debug!("saved the rescued sign-in of {}", rescued.account.url());
                if let Err(e) = rescue.remove(refresh_key) {
                    tracing::debug!("could not delete the rescue file: {e}");
                }
            }
            Err(e) => tracing::debug!("the store still refuses the rescued sign-in ({e}); using it as it is"),
        }
        drop(held);
        self.remember_obtained_refresh(&rescued.account, rescued.refresh.as_ref());
        Ok(Some(rescued))
    }

    pub(super) fn rescue_dir(&self) -> RescueDir {
        RescueDir::new(self.settings.paths.state.as_deref())
    }

    /// The account's lock, waited for at most as long as a refresh can take.
    pub(super) fn lock_account(&self, refresh_key: &StoreKey) -> Result<AccountLock, Failure> {
        let timeout = self.settings.http_timeout * 2 + std::time::Duration::from_secs(5);
        Ok(AccountLock::acquire(&self.settings.paths.locks, refresh_key, timeout)?)
    }

    /// Keep tokens from a grant: the refresh token first, then the access token with its
    /// metadata, then the host default copy. Bitbucket has already retired the refresh token
    /// these replace, so a failed write is tried once more and then the tokens are rescued;
    /// the access token is returned either way, so git is answered. `in_store` is the
    /// fingerprint of the refresh token in the store now.
    pub(super) fn keep_tokens(
        &self,
        issued: Issued<'_>,
        endpoints: &Endpoints,
        tokens: TokenResponse,
        in_store: Option<String>,
    ) -> Result<StoredSecret, Failure> {
        let username = issued.username;
        let account = issued.account.with_username(username);
        let mut record = StoredSecret::new(issued.kind, username, tokens.access_token);
        record.expires_at = tokens.expires_in.map(|secs| self.now().saturating_add(secs));
        record.deployment = Some(endpoints.deployment);
        record.client_id = Some(issued.client.id.clone());
        let refresh = tokens.refresh_token.map(|t| StoredSecret::new(SecretKind::Refresh, username, t));
        record.has_refresh_token = refresh.is_some() || self.stored_refresh(&account).is_some();
        self.remember_obtained_refresh(&account, refresh.as_ref());
        let written = self
            .write_tokens(&account, &record, refresh.as_ref())
            .or_else(|_| self.write_tokens(&account, &record, refresh.as_ref()));
        match written {
            Err(cause) => {
                let rescued = Rescued { replaces: in_store, account, access: record.clone(), refresh };
                self.rescue_tokens(&rescued, &cause);
            }
            // Whatever an earlier run of this account left aside is older than what was just
            // kept, and would never be applied: it goes, with the secrets in it.
            Ok(()) => self.forget_rescued(&account),
        }
        Ok(record)
    }

    /// The fingerprint of the account's stored refresh token, if any.
    fn stored_refresh_fingerprint(&self, account: &Account) -> Option<String> {
        self.stored_refresh(account).map(|r| fingerprint(&r.secret))
    }

    fn write_tokens(
        &self,
        account: &Account,
        access: &StoredSecret,
        refresh: Option<&StoredSecret>,
    ) -> Result<(), Failure> {
        if let (Some(key), Some(refresh)) = (account.refresh_key(), refresh) {
            self.store.save(&key, refresh)?;
        }
        self.store.save(&account.access_key(), access)?;
        self.update_host_default(account, access)
    }

    /// Keep tokens the store refused in a rescue file, and say so: this message shows
    /// whether or not stderr is a terminal, because a sign-in is at stake.
    fn rescue_tokens(&self, rescued: &Rescued, cause: &Failure) {
        let url = rescued.account.url();
        if self.store.memory_only() {
            return self.ctx.notice(&format!(
                "could not save the new sign-in for {url} ({cause}); git gets the new token, but the {} store keeps nothing on disk, so once it expires you will have to sign in again",
                self.store.name()
            ));
        }
        let kept = match rescued.account.refresh_key() {
            Some(key) => self.rescue_dir().keep(&key, rescued),
            None => Err(std::io::Error::other("no account name")),
        };
        self.ctx.notice(&match kept {
            Ok(path) => format!(
                "could not save the new sign-in for {url} ({cause}); git gets the new token, and the sign-in is kept in {} until a later run saves it",
                path.display()
            ),
            Err(e) => format!(
                "could not save the new sign-in for {url} ({cause}), nor keep it aside ({e}); git gets the new token, but once it expires you will have to sign in again"
            ),
        });
    }

    /// Delete the account's refresh token, and any rescued tokens waiting beside it.
    pub(super) fn forget_refresh_token(&self, account: &Account) -> Result<(), Failure> {
        if let Some(key) = account.refresh_key() {
            self.store.delete(&key)?;
        }
        self.forget_rescued(account);
        Ok(())
    }

    /// Delete the account's rescue file, if any (a failure only traced: it is never applied
    /// over a newer sign-in anyway).
    fn forget_rescued(&self, account: &Account) {
        if let Some(key) = account.refresh_key()
            && let Err(e) = self.rescue_dir().remove(&key)
        {
            tracing::debug!("could not delete a rescue file: {e}");
        }
    }
}
