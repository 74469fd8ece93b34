//! The keyring's read path on the Secret Service (Linux and the BSDs), over a `plain` session.
//!
//! `keyring`'s store opens every connection with a Diffie-Hellman session
//! (`dh-ietf1024-sha256-aes128-cbc-pkcs7`): about 7 of the 9 ms a `get` spends in the keyring,
//! for two 1024-bit exponentiations and an extra round trip (docs/performance.md). A read
//! needs no session secret when the transport is the user's own session bus, so reads go over
//! a `plain` session (the choice and what it gives up: docs/security.md). Writes and deletes
//! stay with `keyring` (DH session), which also creates the collection and labels the item.
//!
//! Only the plain case is answered here: exactly one unlocked item with the store's
//! attributes (`service`, `username`), or none at all. Anything else — a locked item (it needs
//! keyring's unlock), several items, a secret that is not UTF-8, any error — is left to
//! `keyring`, which gives the same answers and errors as before. Nothing here logs a value.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use secret_service::EncryptionType;
use secret_service::blocking::SecretService;

/// What a plain read found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum PlainRead {
    /// The one unlocked item's secret.
    Found(String),
    /// No item has these attributes.
    Missing,
    /// Not decided here: ask `keyring`.
    AskKeyring,
}

/// One connection per process, opened on the first read.
#[derive(Clone, Default)]
pub(super) struct PlainSession {
    connection: Arc<Mutex<Option<Option<SecretService<'static>>>>>,
}

impl std::fmt::Debug for PlainSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainSession")
    }
}

impl PlainSession {
    /// Read the item of `service` and `account`.
    pub(super) fn read(&self, service: &str, account: &str) -> PlainRead {
        let Ok(mut slot) = self.connection.lock() else { return PlainRead::AskKeyring };
        let connection = slot.get_or_insert_with(|| SecretService::connect(EncryptionType::Plain).ok());
        let Some(ss) = connection.as_ref() else { return PlainRead::AskKeyring };
        let attributes = HashMap::from([("service", service), ("username", account)]);
        let Ok(found) = ss.search_items(attributes) else { return PlainRead::AskKeyring };
        match (found.unlocked.as_slice(), found.locked.is_empty()) {
            ([], true) => PlainRead::Missing,
            ([item], true) => match item.get_secret().map(String::from_utf8) {
                Ok(Ok(secret)) => PlainRead::Found(secret),
                _ => PlainRead::AskKeyring,
            },
            _ => PlainRead::AskKeyring,
        }
    }
}
