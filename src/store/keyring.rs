//! The OS keyring: Secret Service on Linux and the BSDs, Keychain on macOS, Credential
//! Manager on Windows, through the `keyring` crate.
//!
//! One record per entry (service = key, account = username). Windows Credential Manager
//! holds at most 2,560 bytes per entry (1,280 UTF-16 units), less than one of today's
//! Bitbucket access tokens, so a record over the chunk limit is split: the entry holds a
//! small header and the parts live in entries `{service}#1`, `{service}#2`, ... Errors never
//! carry a stored value.

use std::collections::HashMap;

use keyring_core::{Entry, Error};

use super::{SecretStore, StoreError, StoreKey, StoredSecret};
use crate::settings::{ConfigError, StoreConfig};

/// The chunk limit in UTF-16 units: Windows' 2,560-byte blob limit with room to spare.
#[cfg(windows)]
const DEFAULT_CHUNK_LIMIT: Option<usize> = Some(1_200);
#[cfg(not(windows))]
const DEFAULT_CHUNK_LIMIT: Option<usize> = None;

/// The header stored in place of a record that was split.
const CHUNK_HEADER_PREFIX: &str = "{\"chunks\":";

/// The OS keyring store.
#[derive(Debug, Clone)]
pub struct KeyringStore {
    chunk_limit: Option<usize>,
    /// Reads over a plain Secret Service session (see `plain_session.rs`).
    #[cfg(all(unix, not(target_os = "macos")))]
    plain: super::plain_session::PlainSession,
}

impl Default for KeyringStore {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyringStore {
    /// The platform's keyring, split into chunks only where the platform needs it.
    pub fn new() -> Self {
        KeyringStore::with_limit(DEFAULT_CHUNK_LIMIT)
    }

    /// The platform's keyring, splitting records longer than `limit` UTF-16 units
    /// (for tests of the Windows behaviour on other platforms).
    pub fn with_chunk_limit(limit: usize) -> Self {
        KeyringStore::with_limit(Some(limit.max(16)))
    }

    fn with_limit(chunk_limit: Option<usize>) -> Self {
        KeyringStore {
            chunk_limit,
            #[cfg(all(unix, not(target_os = "macos")))]
            plain: Default::default(),
        }
    }

    fn entry(&self, service: &str, account: &str) -> Result<Entry, StoreError> {
        if let Err(e) = keyring::Entry::store_status() {
            return Err(StoreError::Unavailable { detail: describe(e) });
        }
        #[cfg(all(unix, not(target_os = "macos")))]
        {
            let label = format!("git-credential-bitbucket: {service}");
            let modifiers = HashMap::from([("label", label.as_str())]);
            Entry::new_with_modifiers(service, account, &modifiers).map_err(|e| map_err(&e))
        }
        #[cfg(not(all(unix, not(target_os = "macos"))))]
        {
            Entry::new(service, account).map_err(|e| map_err(&e))
        }
    }

    fn read(&self, service: &str, account: &str) -> Result<Option<String>, StoreError> {
        #[cfg(all(unix, not(target_os = "macos")))]
        match self.plain.read(service, account) {
            super::plain_session::PlainRead::Found(value) => return Ok(Some(value)),
            super::plain_session::PlainRead::Missing => return Ok(None),
            super::plain_session::PlainRead::AskKeyring => {}
        }
        match self.entry(service, account)?.get_password() {
            Ok(value) => Ok(Some(value)),
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(map_err(&e)),
        }
    }

    fn write(&self, service: &str, account: &str, value: &str) -> Result<(), StoreError> {
        self.entry(service, account)?.set_password(value).map_err(|e| map_err(&e))
    }

    fn remove(&self, service: &str, account: &str) -> Result<bool, StoreError> {
        match self.entry(service, account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(Error::NoEntry) => Ok(false),
            Err(e) => Err(map_err(&e)),
        }
    }

    fn remove_chunks(&self, key: &StoreKey, from: usize, to: usize) -> Result<(), StoreError> {
        for i in from..=to {
            self.remove(&chunk_service(&key.service, i), &key.account)?;
        }
        Ok(())
    }
}

/// `credentialStore=keyring` (and Git Credential Manager's `secretservice`, `keychain`,
/// `wincredman`): it needs nothing from the settings, and connects on first use.
pub(super) fn open(_: &StoreConfig) -> Result<Box<dyn SecretStore>, ConfigError> {
    Ok(Box::new(KeyringStore::new()))
}

/// For `diagnose`: the keyring is asked for an entry that does not exist.
pub(super) fn usable(_: &StoreConfig) -> Result<String, String> {
    let probe = StoreKey { service: "git-credential-bitbucket-probe:".into(), account: String::new() };
    match KeyringStore::new().load(&probe) {
        Ok(_) => Ok("the OS keyring answers".to_owned()),
        Err(StoreError::Unavailable { detail }) => Err(detail),
        Err(e) => Err(e.to_string()),
    }
}

impl SecretStore for KeyringStore {
    fn load(&self, key: &StoreKey) -> Result<Option<StoredSecret>, StoreError> {
        let Some(value) = self.read(&key.service, &key.account)? else {
            return Ok(None);
        };
        let value = match chunk_count(&value) {
            None => value,
            Some(n) => {
                let mut joined = String::new();
                for i in 1..=n {
                    let part = self.read(&chunk_service(&key.service, i), &key.account)?.ok_or_else(|| {
                        StoreError::Backend {
                            store: "keyring",
                            detail: format!("part {i} of {n} of {} is missing; run `git credential reject` for it and sign in again", key.service),
                        }
                    })?;
                    joined.push_str(&part);
                }
                joined
            }
        };
        Ok(Some(StoredSecret::from_stored(value, &key.account)))
    }

    fn save(&self, key: &StoreKey, value: &StoredSecret) -> Result<(), StoreError> {
        let json = value.to_json();
        let old_chunks = match self.read(&key.service, &key.account)? {
            Some(old) => chunk_count(&old).unwrap_or(0),
            None => 0,
        };
        let parts = match self.chunk_limit {
            Some(limit) if utf16_len(&json) > limit => split_utf16(&json, limit),
            _ => Vec::new(),
        };
        if parts.is_empty() {
            self.write(&key.service, &key.account, &json)?;
        } else {
            for (i, part) in parts.iter().enumerate() {
                self.write(&chunk_service(&key.service, i + 1), &key.account, part)?;
            }
            self.write(&key.service, &key.account, &format!("{CHUNK_HEADER_PREFIX}{}}}", parts.len()))?;
        }
        if old_chunks > parts.len() {
            self.remove_chunks(key, parts.len() + 1, old_chunks)?;
        }
        Ok(())
    }

    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let chunks = match self.read(&key.service, &key.account)? {
            Some(old) => chunk_count(&old).unwrap_or(0),
            None => return Ok(false),
        };
        let deleted = self.remove(&key.service, &key.account)?;
        self.remove_chunks(key, 1, chunks)?;
        Ok(deleted)
    }

    fn list(&self, namespace: &str) -> Result<Vec<(StoreKey, StoredSecret)>, StoreError> {
        if let Err(e) = keyring::Entry::store_status() {
            return Err(StoreError::Unavailable { detail: describe(e) });
        }
        let entries = Entry::search(&HashMap::new()).map_err(|e| map_err(&e))?;
        let prefix = format!("{namespace}:");
        let mut found = Vec::new();
        for entry in entries {
            let Some((service, account)) = entry.get_specifiers() else { continue };
            if !service.starts_with(&prefix) || is_chunk_service(&service) {
                continue;
            }
            let key = StoreKey { service, account };
            if let Some(record) = self.load(&key)? {
                found.push((key, record));
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    fn name(&self) -> &'static str {
        "keyring"
    }
}

fn chunk_service(service: &str, i: usize) -> String {
    format!("{service}#{i}")
}

fn is_chunk_service(service: &str) -> bool {
    service.rsplit_once('#').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn chunk_count(value: &str) -> Option<usize> {
    value.strip_prefix(CHUNK_HEADER_PREFIX)?.strip_suffix('}')?.parse().ok()
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Split into parts of at most `limit` UTF-16 units, never inside a character.
fn split_utf16(s: &str, limit: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut units = 0;
    for c in s.chars() {
        if units + c.len_utf16() > limit {
            parts.push(std::mem::take(&mut current));
            units = 0;
        }
        current.push(c);
        units += c.len_utf16();
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

/// Describe a keyring error without ever including stored data.
fn describe(e: &Error) -> String {
    match e {
        Error::PlatformFailure(inner) | Error::NoStorageAccess(inner) => inner.to_string(),
        Error::NoEntry => "no such entry".to_owned(),
        Error::BadEncoding(_) | Error::BadDataFormat(..) => {
            "a stored value is not in the expected format".to_owned()
        }
        Error::BadStoreFormat(what) => what.clone(),
        Error::TooLong(what, limit) => format!("{what} is longer than the keyring's limit of {limit}"),
        Error::Invalid(what, why) => format!("{what} {why}"),
        Error::Ambiguous(_) => {
            "several keyring items match one key; remove the duplicates with your keyring manager".to_owned()
        }
        Error::NoDefaultStore => "no keyring is available on this platform".to_owned(),
        Error::NotSupportedByStore(what) => what.clone(),
        _ => "unexpected keyring error".to_owned(),
    }
}

fn map_err(e: &Error) -> StoreError {
    match e {
        Error::PlatformFailure(_) | Error::NoStorageAccess(_) | Error::NoDefaultStore => {
            StoreError::Unavailable { detail: describe(e) }
        }
        _ => StoreError::Backend { store: "keyring", detail: describe(e) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_the_limit_and_joins_back() {
        let s: String = "aé😀".repeat(500);
        let parts = split_utf16(&s, 100);
        assert!(parts.iter().all(|p| utf16_len(p) <= 100));
        assert_eq!(parts.concat(), s);
    }

    #[test]
    fn chunk_headers_are_recognised_and_records_are_not() {
        assert_eq!(chunk_count("{\"chunks\":3}"), Some(3));
        assert_eq!(chunk_count("{\"kind\":\"token\"}"), None);
        assert!(is_chunk_service("git:https://a@h/#12"));
        assert!(!is_chunk_service("git:https://a@h/"));
    }
}
