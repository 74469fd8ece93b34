//! Several accounts on one host (a work and a personal account, say). A request without a
//! username is answered by the host default, and which account that is stays a person's
//! decision: the first one stored, the one chosen at `login --default` (or its question), the
//! one named with `use`, or — when none is chosen and several are stored — the one picked at
//! a terminal from a numbered list. Nothing here ever shows a secret.

use super::{Authenticator, Found};
use crate::error::Failure;
use crate::store::{Account, SecretKind, StoredSecret};

impl Authenticator<'_> {
    /// The accounts stored for this target's host (and path), by username.
    pub(crate) fn host_accounts(&self) -> Result<Vec<(Account, StoredSecret)>, Failure> {
        let base = self.account();
        let mut found: Vec<(Account, StoredSecret)> = self
            .store
            .list(&self.settings.namespace)?
            .into_iter()
            .filter(|(key, record)| record.kind != SecretKind::Refresh && !key.account.is_empty())
            .filter_map(|(key, record)| {
                let account = base.with_username(&key.account);
                (account.access_key() == key).then_some((account, record))
            })
            .collect();
        found.sort_by(|a, b| a.0.username.cmp(&b.0.username));
        Ok(found)
    }

    /// The account answering requests without a username, if one is chosen.
    pub(crate) fn host_default(&self) -> Result<Option<StoredSecret>, Failure> {
        Ok(self.store.load(&self.account().host_default_key())?)
    }

    /// Make `username`'s stored secret the host default, replacing another account's.
    pub(crate) fn make_default(&self, username: &str) -> Result<Found, Failure> {
        let account = self.account().with_username(username);
        let record = self
            .store
            .load(&account.access_key())?
            .ok_or_else(|| Failure::NoSuchAccount { url: account.url(), username: username.to_owned() })?;
        let _lock = account.refresh_key().map(|k| self.lock_account(&k)).transpose()?;
        self.store.save(&account.host_default_key(), &record)?;
        tracing::debug!("{username} is now the default account of {}", account.url());
        Ok(Found { account, record })
    }

    /// No host default is stored: with several accounts, the person picks one at a terminal
    /// (it becomes the default); otherwise none. A single remaining account is not picked
    /// by itself: `erase` without a username (git's "forget this host") removes the default,
    /// and must not be undone by the next `get`.
    pub(super) fn choose_account(&self) -> Result<Option<Found>, Failure> {
        // Only a person at a terminal can be asked or told; git's own runs stay one store read.
        if !self.ctx.stderr_is_terminal {
            return Ok(None);
        }
        let accounts = self.host_accounts()?;
        let chosen = match accounts.len() {
            0 | 1 => return Ok(None),
            _ if self.settings.may_prompt => match self.ask_which(&accounts)? {
                Some(index) => index,
                None => return Ok(None),
            },
            _ => {
                let url = self.target.to_url();
                self.ctx.hint(&format!(
                    "several accounts are stored for {url} and none is the default; choose one with: git-credential-bitbucket use USER {url}"
                ));
                return Ok(None);
            }
        };
        let (account, _) = &accounts[chosen];
        let username = account.username.clone().unwrap_or_default();
        self.make_default(&username).map(Some)
    }

    /// A numbered list of the accounts (names only) and the person's choice.
    fn ask_which(&self, accounts: &[(Account, StoredSecret)]) -> Result<Option<usize>, Failure> {
        let prompter = self.ctx.prompter;
        prompter.tell(&format!("Several Bitbucket accounts are stored for {}:", self.target.to_url()));
        for (i, (account, record)) in accounts.iter().enumerate() {
            let name = account.username.as_deref().unwrap_or_default();
            prompter.tell(&format!("  {}) {name} ({})", i + 1, record.kind.name()));
        }
        let answer = prompter.ask("Which one should answer (it becomes the default)? ", false)?;
        let index =
            answer.and_then(|a| a.trim().parse::<usize>().ok()).filter(|n| (1..=accounts.len()).contains(n));
        Ok(index.map(|n| n - 1))
    }
}
