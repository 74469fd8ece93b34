//! A store that lives only as long as the value: for tests and for library users who keep
//! tokens themselves. With the binary (`credentialStore=memory`) nothing outlives one run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{SecretStore, StoreError, StoreKey, StoredSecret};
use crate::settings::{ConfigError, StoreConfig};

/// An in-memory store; clones share the same entries.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    entries: Arc<Mutex<BTreeMap<StoreKey, StoredSecret>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<StoreKey, StoredSecret>) -> T) -> T {
        let mut guard = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }
}

/// `credentialStore=memory`: nothing outlives the run.
pub(super) fn open(_: &StoreConfig) -> Result<Box<dyn SecretStore>, ConfigError> {
    Ok(Box::new(MemoryStore::new()))
}

impl SecretStore for MemoryStore {
    fn load(&self, key: &StoreKey) -> Result<Option<StoredSecret>, StoreError> {
        Ok(self.with(|m| m.get(key).cloned()))
    }

    fn save(&self, key: &StoreKey, value: &StoredSecret) -> Result<(), StoreError> {
        self.with(|m| m.insert(key.clone(), value.clone()));
        Ok(())
    }

    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        Ok(self.with(|m| m.remove(key).is_some()))
    }

    fn list(&self, namespace: &str) -> Result<Vec<(StoreKey, StoredSecret)>, StoreError> {
        let prefix = format!("{namespace}:");
        Ok(self.with(|m| {
            m.iter()
                .filter(|(k, _)| k.service.starts_with(&prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }))
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}
