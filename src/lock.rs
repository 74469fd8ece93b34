//! A per-account file lock that serialises refreshes across processes (SPEC §7).
//!
//! Many git processes may find the same expired token at once (parallel fetches,
//! submodules). Bitbucket rotates refresh tokens, so only one of them may use the refresh
//! token; the others wait on this lock, then re-read the store and find the new token.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::store::StoreKey;

/// Held while an account's tokens are refreshed; released on drop.
#[derive(Debug)]
pub struct AccountLock {
    _file: File,
}

/// The lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[error("cannot take the refresh lock {path}: {source}")]
pub struct LockError {
    /// The lock file.
    pub path: String,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

/// Where lock files live: `$XDG_RUNTIME_DIR`, else the cache directory, else the temp dir.
pub fn lock_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let nonempty = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = nonempty("XDG_RUNTIME_DIR")
        .or_else(|| nonempty("XDG_CACHE_HOME"))
        .or_else(|| nonempty("HOME").map(|h| h.join(".cache")))
        .or_else(|| nonempty("LOCALAPPDATA"))
        .unwrap_or_else(std::env::temp_dir);
    base.join("git-credential-bitbucket").join("locks")
}

impl AccountLock {
    /// Block until this process holds the lock for `key`'s account.
    pub fn acquire(dir: &Path, key: &StoreKey) -> Result<AccountLock, LockError> {
        let name = format!("{:x}", Sha256::digest(format!("{}\0{}", key.service, key.account).as_bytes()));
        let path = dir.join(format!("{}.lock", &name[..32]));
        let err = |source| LockError { path: path.display().to_string(), source };
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(err)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(err)?;
        file.lock().map_err(err)?;
        Ok(AccountLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let key = StoreKey { service: "git:https://a@h/refresh_token".into(), account: "a".into() };
        let inside = Arc::new(AtomicUsize::new(0));
        let max_inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (dir, key, inside, max_inside) =
                    (dir.path().to_owned(), key.clone(), inside.clone(), max_inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        let _lock = AccountLock::acquire(&dir, &key).unwrap();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max_inside.fetch_max(now, Ordering::SeqCst);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(max_inside.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn runtime_dir_is_preferred() {
        let env = |k: &str| match k {
            "XDG_RUNTIME_DIR" => Some("/run/user/1".to_owned()),
            "HOME" => Some("/home/u".to_owned()),
            _ => None,
        };
        assert_eq!(lock_dir(&env), PathBuf::from("/run/user/1/git-credential-bitbucket/locks"));
    }
}
