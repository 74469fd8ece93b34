//! Tokens that a successful refresh or sign-in obtained but the store would not take.
//!
//! Bitbucket retires a refresh token once it has been used, so the tokens a refresh returns
//! are the only way back in. When saving them fails (a keyring error, a D-Bus timeout, a full
//! disk) even after a retry, they are kept here — one 0600 JSON file per account in the state
//! directory — and the next run that refreshes the account moves them into the store and
//! deletes the file. A rescue records a fingerprint of the refresh token that was in the
//! store when its tokens were obtained: it is applied only while the store still holds that
//! token, so an older rescue can never roll a later sign-in back. This module never decides
//! when to rescue (`auth` does) and never prints.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secret::Secret;
use crate::store::{Account, StoreKey, StoredSecret};

/// A rescue file larger than this is not ours.
const MAX_RESCUE_BYTES: u64 = 256 * 1024;

/// New tokens waiting to be saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rescued {
    /// Fingerprint ([`fingerprint`]) of the refresh token stored when these tokens were
    /// obtained; `None` when there was none.
    pub replaces: Option<String>,
    /// Whose tokens they are.
    pub account: Account,
    /// The new access token with its metadata.
    pub access: StoredSecret,
    /// The new refresh token.
    pub refresh: Option<StoredSecret>,
}

/// The directory of rescue files.
#[derive(Debug, Clone)]
pub struct RescueDir {
    dir: Option<PathBuf>,
}

/// A SHA-256 fingerprint of a secret: tells two secrets apart without keeping either.
pub fn fingerprint(secret: &Secret) -> String {
    format!("{:x}", Sha256::digest(secret.expose().as_bytes()))
}

impl RescueDir {
    /// Rescue files live in `state/rescued`; without a state directory nothing can be kept.
    pub fn new(state: Option<&Path>) -> Self {
        RescueDir { dir: state.map(|s| s.join("rescued")) }
    }

    fn file(&self, refresh_key: &StoreKey) -> Option<PathBuf> {
        let name = fingerprint(&Secret::new(format!("{}\0{}", refresh_key.service, refresh_key.account)));
        Some(self.dir.as_ref()?.join(format!("{}.json", &name[..32])))
    }

    /// Keep `rescued` for the account of `refresh_key`, replacing an older rescue. Returns
    /// the file.
    pub fn keep(&self, refresh_key: &StoreKey, rescued: &Rescued) -> std::io::Result<PathBuf> {
        let (Some(dir), Some(path)) = (&self.dir, self.file(refresh_key)) else {
            return Err(std::io::Error::other("no state directory (neither XDG_STATE_HOME nor HOME is set)"));
        };
        crate::settings::paths::private_dir(dir)?;
        let json = serde_json::to_vec(rescued).map_err(std::io::Error::other)?;
        // Created with O_EXCL under a random name, mode 0600, then renamed into place.
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        file.write_all(&json)?;
        file.as_file().sync_all()?;
        file.persist(&path).map_err(|e| e.error)?;
        Ok(path)
    }

    /// The rescue kept for the account of `refresh_key`, if any: read only from a directory
    /// of the user's own that nobody else can open (an open one is tightened), and never
    /// through a symlink.
    pub fn load(&self, refresh_key: &StoreKey) -> std::io::Result<Option<Rescued>> {
        let (Some(dir), Some(path)) = (&self.dir, self.file(refresh_key)) else { return Ok(None) };
        match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            _ => crate::settings::paths::private_dir(dir)?,
        }
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(libc::O_NOFOLLOW);
        }
        let file = match options.open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        file.take(MAX_RESCUE_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_RESCUE_BYTES {
            return Err(std::io::Error::other(format!(
                "{} is too large to be a rescue file",
                path.display()
            )));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| std::io::Error::other(format!("{} is not a rescue file: {e}", path.display())))
    }

    /// Forget the rescue of the account of `refresh_key` (no error when there is none).
    pub fn remove(&self, refresh_key: &StoreKey) -> std::io::Result<()> {
        let Some(path) = self.file(refresh_key) else { return Ok(()) };
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SecretKind;

    fn rescued() -> Rescued {
        let account = Account::new("git", "https", "bitbucket.org", None, Some("alice"));
        Rescued {
            replaces: Some(fingerprint(&Secret::new("r1"))),
            account,
            access: StoredSecret::new(SecretKind::OAuth, "alice", Secret::new("t2")),
            refresh: Some(StoredSecret::new(SecretKind::Refresh, "alice", Secret::new("r2"))),
        }
    }

    #[test]
    fn keep_load_remove_round_trip_in_a_private_file() {
        let tmp = tempfile::tempdir().unwrap();
        let rescue = RescueDir::new(Some(tmp.path()));
        let r = rescued();
        let key = r.account.refresh_key().unwrap();
        assert_eq!(rescue.load(&key).unwrap(), None);
        let path = rescue.keep(&key, &r).unwrap();
        assert_eq!(rescue.load(&key).unwrap(), Some(r));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            let dir_mode = std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        rescue.remove(&key).unwrap();
        rescue.remove(&key).unwrap();
        assert_eq!(rescue.load(&key).unwrap(), None);
    }

    /// A rescue file is read only from a directory of the user's own, never through a symlink
    /// (another user's planted file could hand this account tokens of theirs).
    #[cfg(unix)]
    #[test]
    fn a_rescue_is_not_read_through_a_symlink_or_from_an_open_directory() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let rescue = RescueDir::new(Some(tmp.path()));
        let r = rescued();
        let key = r.account.refresh_key().unwrap();
        let path = rescue.keep(&key, &r).unwrap();
        let elsewhere = tmp.path().join("elsewhere.json");
        std::fs::rename(&path, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert!(rescue.load(&key).is_err(), "a symlinked rescue file is not followed");

        std::fs::remove_file(&path).unwrap();
        std::fs::rename(&elsewhere, &path).unwrap();
        let dir = path.parent().unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(rescue.load(&key).unwrap(), Some(r), "the user's own directory, tightened");
        assert_eq!(std::fs::metadata(dir).unwrap().permissions().mode() & 0o777, 0o700);
        if std::os::unix::fs::chown(dir, Some(1), None).is_ok() && crate::settings::paths::current_uid() != 1
        {
            assert!(rescue.load(&key).is_err(), "a directory of another user's is refused");
        }
    }

    #[test]
    fn a_fingerprint_is_not_the_secret() {
        let f = fingerprint(&Secret::new("r1"));
        assert_eq!(f.len(), 64);
        assert!(!f.contains("r1"));
        assert_ne!(f, fingerprint(&Secret::new("r2")));
    }

    #[test]
    fn without_a_state_directory_nothing_is_kept() {
        let rescue = RescueDir::new(None);
        let r = rescued();
        assert!(rescue.keep(&r.account.refresh_key().unwrap(), &r).is_err());
    }
}
