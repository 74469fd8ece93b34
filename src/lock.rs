//! A per-account file lock that serialises refreshes across processes (the order of attempts in `decide.rs`).
//!
//! Many git processes may find the same expired token at once (parallel fetches,
//! submodules). Bitbucket rotates refresh tokens, so only one of them may use the refresh
//! token; the others wait on this lock, then re-read the store and find the new token.
//! `store` and `erase` take the same lock, so a write of git's copy of a token can never
//! interleave with a refresh. The wait is bounded: a lock held by a hung process becomes a
//! clear error, never a hang.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::store::StoreKey;

/// Held while an account's tokens are refreshed or written; released on drop.
#[derive(Debug)]
pub struct AccountLock {
    _file: File,
}

/// The lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The lock directory or file is unusable.
    #[error("cannot take the refresh lock {path}: {source}")]
    Io {
        /// The lock file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another process held the lock for longer than any refresh takes.
    #[error(
        "another git-credential-bitbucket process has held the refresh lock {path} for {secs} s; if none is running, delete that file and try again"
    )]
    TimedOut {
        /// The lock file.
        path: String,
        /// How long this process waited.
        secs: u64,
    },
}

/// How often a waiting process tries the lock again.
const RETRY_EVERY: Duration = Duration::from_millis(10);

impl AccountLock {
    /// Wait at most `timeout` until this process holds the lock for `key`'s account. `dir`
    /// is created mode 0700, and refused when it belongs to someone else.
    pub fn acquire(dir: &Path, key: &StoreKey, timeout: Duration) -> Result<AccountLock, LockError> {
        let name = format!("{:x}", Sha256::digest(format!("{}\0{}", key.service, key.account).as_bytes()));
        let path = dir.join(format!("{}.lock", &name[..32]));
        let err = |source| LockError::Io { path: path.display().to_string(), source };
        crate::settings::paths::private_dir(dir).map_err(err)?;
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Never through a symlink planted in place of the lock file.
            options.custom_flags(libc::O_NOFOLLOW);
        }
        let file = options.open(&path).map_err(err)?;
        let deadline = Instant::now() + timeout;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(AccountLock { _file: file }),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => std::thread::sleep(RETRY_EVERY),
                Err(TryLockError::WouldBlock) => {
                    return Err(LockError::TimedOut {
                        path: path.display().to_string(),
                        secs: timeout.as_secs(),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(err(e)),
            }
        }
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
                        let _lock = AccountLock::acquire(&dir, &key, Duration::from_secs(30)).unwrap();
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

    /// Another local user who can write the lock directory could plant a symlink to a file
    /// of the victim's: the lock file is never opened through one.
    #[cfg(unix)]
    #[test]
    fn a_symlink_in_place_of_the_lock_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = StoreKey { service: "git:https://a@h/refresh_token".into(), account: "a".into() };
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let _ = AccountLock::acquire(dir.path(), &key, Duration::from_secs(1)).unwrap();
        let lock_file = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "lock"))
            .unwrap();
        std::fs::remove_file(&lock_file).unwrap();
        std::os::unix::fs::symlink(&victim, &lock_file).unwrap();
        let err = AccountLock::acquire(dir.path(), &key, Duration::from_secs(1)).unwrap_err().to_string();
        assert!(err.contains("cannot take the refresh lock"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    /// The per-user fallback under the shared temp directory is checked itself: one that
    /// another user made first (here: root made it for uid 1) is refused, never used.
    #[cfg(unix)]
    #[test]
    fn a_lock_directory_of_another_user_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("git-credential-bitbucket-1-locks");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let other = if crate::settings::paths::current_uid() == 0 { 1 } else { 0 };
        if std::os::unix::fs::chown(&dir, Some(other), None).is_err() {
            return; // not root: cannot make a directory of another user's here
        }
        let key = StoreKey { service: "git:https://a@h/refresh_token".into(), account: "a".into() };
        let err = AccountLock::acquire(&dir, &key, Duration::from_secs(1)).unwrap_err().to_string();
        assert!(err.contains("belongs to another user"), "{err}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing was created in it");
    }

    #[test]
    fn a_lock_held_elsewhere_times_out_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let key = StoreKey { service: "git:https://a@h/refresh_token".into(), account: "a".into() };
        let _held = AccountLock::acquire(dir.path(), &key, Duration::from_secs(1)).unwrap();
        let err = AccountLock::acquire(dir.path(), &key, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, LockError::TimedOut { .. }), "{err}");
        assert!(err.to_string().contains("delete that file"), "{err}");
    }
}
