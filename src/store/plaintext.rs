//! A JSON file for machines without a keyring (opt-in: `credentialStore=plaintext`).
//!
//! The file is mode 0600 in a 0700 directory. Writers take an exclusive lock on a sibling
//! `.lock` file, read, change, write a temporary file (created exclusively under a random
//! name) and rename it over the old one, so a reader (which takes no lock) sees either the
//! old or the new file, never half of one. A file that does not parse is an error and is
//! never replaced. A directory that belongs to another user or that others can write to is
//! refused, as git's own credential-store and credential-cache refuse theirs: another local
//! user could otherwise plant a symlink or a file there and receive or feed secrets.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{SecretStore, StoreError, StoreKey, StoredSecret};
use crate::settings::{ConfigError, StoreConfig};

/// The file store.
#[derive(Debug, Clone)]
pub struct PlaintextStore {
    path: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileContents {
    version: u32,
    /// service → account → record
    entries: BTreeMap<String, BTreeMap<String, StoredSecret>>,
}

impl PlaintextStore {
    /// A store in `path` (created on first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        PlaintextStore { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_err(&self, source: std::io::Error) -> StoreError {
        StoreError::Io { path: self.path.display().to_string(), source }
    }

    fn dir(&self) -> &Path {
        self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
    }

    /// Refuse a directory another user could change (when it exists).
    fn check_dir(&self) -> Result<(), StoreError> {
        match crate::settings::paths::unshared_dir(self.dir()) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => {
                Err(StoreError::Unsafe { path: self.path.display().to_string(), detail: e.to_string() })
            }
            Ok(()) => Ok(()),
        }
    }

    fn read(&self) -> Result<FileContents, StoreError> {
        self.check_dir()?;
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(FileContents { version: 1, ..Default::default() });
            }
            Err(e) => return Err(self.io_err(e)),
        };
        let contents: FileContents = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path: self.path.display().to_string(),
            // serde_json's message names the position and the expected token, never the data.
            detail: format!("not valid JSON at line {} column {}", e.line(), e.column()),
        })?;
        if contents.version != 1 {
            return Err(StoreError::Corrupt {
                path: self.path.display().to_string(),
                detail: format!("unknown version {}", contents.version),
            });
        }
        Ok(contents)
    }

    /// Run `change` on the contents under the writers' lock and write the result atomically.
    fn update<T>(&self, change: impl FnOnce(&mut FileContents) -> (T, bool)) -> Result<T, StoreError> {
        let dir = self.dir();
        if !dir.is_dir() {
            crate::settings::paths::create_dirs(dir).map_err(|e| self.io_err(e))?;
        }
        self.check_dir()?;
        let lock = self.lock_file().map_err(|e| self.io_err(e))?;
        lock.lock().map_err(|e| self.io_err(e))?;
        let mut contents = self.read()?;
        let (result, changed) = change(&mut contents);
        if changed {
            self.write_atomically(dir, &contents)?;
        }
        drop(lock);
        Ok(result)
    }

    fn lock_file(&self) -> std::io::Result<File> {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.path.with_file_name(name))
    }

    fn write_atomically(&self, dir: &Path, contents: &FileContents) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(contents).map_err(|e| StoreError::Backend {
            store: "plaintext",
            detail: format!("cannot encode the file: {e}"),
        })?;
        let written = (|| {
            // O_EXCL under a random name, mode 0600; removed again if anything below fails.
            let mut file = tempfile::Builder::new().prefix(".credentials").tempfile_in(dir)?;
            file.write_all(&json)?;
            file.as_file().sync_all()?;
            file.persist(&self.path).map_err(|e| e.error)?;
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        written.map_err(|e| self.io_err(e))
    }
}

/// Mode 0600, and never through a symlink.
fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options
}

/// `credentialStore=plaintext`: its file must be known (`plaintextStorePath`, else in
/// XDG_DATA_HOME or HOME).
pub(super) fn open(config: &StoreConfig) -> Result<Box<dyn SecretStore>, ConfigError> {
    Ok(Box::new(PlaintextStore::new(config.plaintext_path.clone()?)))
}

/// For `diagnose`: always usable where its file is known (the directory is checked on use).
pub(super) fn usable(config: &StoreConfig) -> Result<String, String> {
    match &config.plaintext_path {
        Ok(path) => Ok(format!("always ({})", path.display())),
        Err(e) => Err(e.to_string()),
    }
}

impl SecretStore for PlaintextStore {
    fn load(&self, key: &StoreKey) -> Result<Option<StoredSecret>, StoreError> {
        let contents = self.read()?;
        Ok(contents.entries.get(&key.service).and_then(|accounts| accounts.get(&key.account)).cloned())
    }

    fn save(&self, key: &StoreKey, value: &StoredSecret) -> Result<(), StoreError> {
        self.update(|contents| {
            let accounts = contents.entries.entry(key.service.clone()).or_default();
            let changed = accounts.get(&key.account) != Some(value);
            accounts.insert(key.account.clone(), value.clone());
            ((), changed)
        })
    }

    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        if !self.path.exists() {
            return Ok(false);
        }
        self.update(|contents| {
            let Some(accounts) = contents.entries.get_mut(&key.service) else {
                return (false, false);
            };
            let removed = accounts.remove(&key.account).is_some();
            if accounts.is_empty() {
                contents.entries.remove(&key.service);
            }
            (removed, removed)
        })
    }

    fn list(&self, namespace: &str) -> Result<Vec<(StoreKey, StoredSecret)>, StoreError> {
        let prefix = format!("{namespace}:");
        let contents = self.read()?;
        let mut found = Vec::new();
        for (service, accounts) in contents.entries.into_iter().filter(|(s, _)| s.starts_with(&prefix)) {
            for (account, record) in accounts {
                found.push((StoreKey { service: service.clone(), account }, record));
            }
        }
        Ok(found)
    }

    fn name(&self) -> &'static str {
        "plaintext"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::store::SecretKind;

    fn key(s: &str) -> StoreKey {
        StoreKey { service: s.into(), account: "u".into() }
    }

    #[test]
    fn save_load_delete_round_trip_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let store = PlaintextStore::new(dir.path().join("sub/credentials.json"));
        let record = StoredSecret::new(SecretKind::Token, "u", Secret::new("x".repeat(3000)));
        store.save(&key("git:https://u@h/"), &record).unwrap();
        assert_eq!(store.load(&key("git:https://u@h/")).unwrap(), Some(record));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dir_mode = fs::metadata(dir.path().join("sub")).unwrap().permissions().mode() & 0o777;
            assert_eq!(dir_mode, 0o700);
        }
        assert!(store.delete(&key("git:https://u@h/")).unwrap());
        assert!(!store.delete(&key("git:https://u@h/")).unwrap());
        assert_eq!(store.load(&key("git:https://u@h/")).unwrap(), None);
    }

    #[test]
    fn corrupt_file_is_an_error_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        fs::write(&path, b"{\"version\":1,\"entries\":{\"git:x\":").unwrap();
        let store = PlaintextStore::new(&path);
        let err = store.load(&key("git:x")).unwrap_err().to_string();
        assert!(err.contains("corrupt"), "{err}");
        let record = StoredSecret::new(SecretKind::Token, "u", Secret::new("y"));
        assert!(store.save(&key("git:x"), &record).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"{\"version\":1,\"entries\":{\"git:x\":");
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_can_write_is_refused_and_nothing_is_written() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        let store = PlaintextStore::new(dir.path().join("credentials.json"));
        let record = StoredSecret::new(SecretKind::Token, "u", Secret::new("y"));
        let err = store.save(&key("git:x"), &record).unwrap_err().to_string();
        assert!(err.contains("can be written by other users"), "{err}");
        assert!(
            err.contains(crate::settings::key::PLAINTEXT_STORE_PATH),
            "says which setting to change: {err}"
        );
        assert!(store.load(&key("git:x")).is_err(), "reading from it is refused too");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "no file was created");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_planted_as_the_lock_file_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, dir.path().join("credentials.json.lock")).unwrap();
        let store = PlaintextStore::new(dir.path().join("credentials.json"));
        let record = StoredSecret::new(SecretKind::Token, "u", Secret::new("y"));
        assert!(store.save(&key("git:x"), &record).is_err());
        assert!(!target.exists(), "nothing was created through the symlink");
    }

    #[test]
    fn list_filters_by_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let store = PlaintextStore::new(dir.path().join("c.json"));
        let record = StoredSecret::new(SecretKind::Token, "u", Secret::new("y"));
        store.save(&key("a:https://u@h/"), &record).unwrap();
        store.save(&key("b:https://u@h/"), &record).unwrap();
        let listed = store.list("a").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0.service, "a:https://u@h/");
    }
}
