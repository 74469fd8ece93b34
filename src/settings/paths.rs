//! Where the helper keeps its own files — the default plaintext store, refresh locks,
//! remembered Data Center hosts, rescued tokens — and the checks that keep other local users
//! out of them.
//!
//! Every directory the helper creates is mode 0700. One that already exists must belong to
//! the user and be writable by nobody else: a directory another user controls could receive
//! secrets through a planted symlink, or hold a lock forever. Nothing here reads the
//! environment itself; the caller passes its look-up.

use std::io;
use std::path::{Path, PathBuf};

/// The directory name under each base directory.
const APP: &str = "git-credential-bitbucket";

/// The helper's directories, resolved once from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// `HOME` (for `~/` in configured paths).
    pub home: Option<PathBuf>,
    /// Long-lived data (the default plaintext store): `$XDG_DATA_HOME`, `~/.local/share`,
    /// or `%LOCALAPPDATA%`, then `git-credential-bitbucket`.
    pub data: Option<PathBuf>,
    /// State that survives a reboot but is not precious (remembered hosts, rescued tokens):
    /// `$XDG_STATE_HOME`, `~/.local/state`, or `%LOCALAPPDATA%`, then `git-credential-bitbucket`.
    pub state: Option<PathBuf>,
    /// Refresh locks: `$XDG_RUNTIME_DIR`, `$XDG_CACHE_HOME`, `~/.cache`, `%LOCALAPPDATA%`,
    /// then `git-credential-bitbucket/locks`; else `git-credential-bitbucket-UID-locks` in
    /// the system temp directory: there, in a directory every user can write, the one
    /// directory of the user's own is the lock directory itself, which every lock checks.
    pub locks: PathBuf,
}

/// `~/x` under `home`; any other path as it is (git's own `~/` expansion of path settings).
pub(crate) fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

impl Paths {
    /// Resolve from `env` (empty values count as unset, as in the XDG specification).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Paths {
        let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = var("HOME");
        let local_app_data = var("LOCALAPPDATA");
        let under = |xdg: &str, home_rel: &str| {
            var(xdg).or_else(|| home.as_ref().map(|h| h.join(home_rel))).or_else(|| local_app_data.clone())
        };
        let data = under("XDG_DATA_HOME", ".local/share").map(|d| d.join(APP));
        let state = under("XDG_STATE_HOME", ".local/state").map(|d| d.join(APP));
        let locks = var("XDG_RUNTIME_DIR")
            .or_else(|| under("XDG_CACHE_HOME", ".cache"))
            .map(|d| d.join(APP).join("locks"))
            .unwrap_or_else(|| std::env::temp_dir().join(format!("{APP}-{}-locks", current_uid())));
        Paths { home, data, state, locks }
    }
}

/// Create `dir` (and its missing parents) mode 0700, or check an existing one: it must be a
/// real directory (not a symlink), belong to the user, and not be open to others. An existing
/// directory of the user's own that is open to others is tightened to 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    create_dirs(dir)?;
    check_owned(dir, 0o077, true)
}

/// Check that `dir` (which must exist) belongs to the user and that nobody else can write to
/// it: files written there cannot be replaced or redirected by another user.
pub fn unshared_dir(dir: &Path) -> io::Result<()> {
    check_owned(dir, 0o022, false)
}

/// Create `dir` and its missing parents with mode 0700.
pub fn create_dirs(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(unix)]
fn check_owned(dir: &Path, forbidden_bits: u32, tighten: bool) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!("{} is not a directory (a symlink is refused)", dir.display())));
    }
    if meta.uid() != current_uid() {
        return Err(io::Error::other(format!(
            "{} belongs to another user (uid {}); refusing to use it",
            dir.display(),
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & forbidden_bits != 0 {
        if !tighten {
            return Err(io::Error::other(format!(
                "{} can be written by other users (mode {mode:o}); refusing to keep secrets there",
                dir.display()
            )));
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owned(dir: &Path, _forbidden_bits: u32, _tighten: bool) -> io::Result<()> {
    // Per-user profile directories carry their own access control on Windows.
    if std::fs::symlink_metadata(dir)?.is_dir() {
        Ok(())
    } else {
        Err(io::Error::other(format!("{} is not a directory", dir.display())))
    }
}

/// The effective user id (0 where there is no such thing).
pub fn current_uid() -> u32 {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }
    #[cfg(not(unix))]
    {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let pairs = pairs.to_vec();
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn xdg_directories_win_and_empty_values_count_as_unset() {
        let env = env_of(&[
            ("HOME", "/h"),
            ("XDG_DATA_HOME", "/d"),
            ("XDG_STATE_HOME", ""),
            ("XDG_RUNTIME_DIR", "/run/user/1"),
        ]);
        let paths = Paths::from_env(&env);
        assert_eq!(paths.data, Some(PathBuf::from("/d/git-credential-bitbucket")));
        assert_eq!(paths.state, Some(PathBuf::from("/h/.local/state/git-credential-bitbucket")));
        assert_eq!(paths.locks, PathBuf::from("/run/user/1/git-credential-bitbucket/locks"));
    }

    #[test]
    fn without_any_directory_locks_go_to_a_per_user_temp_directory() {
        let paths = Paths::from_env(&env_of(&[("HOME", "")]));
        assert_eq!(paths.data, None);
        assert_eq!(paths.state, None);
        let expected = std::env::temp_dir().join(format!("git-credential-bitbucket-{}-locks", current_uid()));
        assert_eq!(paths.locks, expected, "one directory of the user's own, checked itself");
    }

    #[cfg(unix)]
    #[test]
    fn private_dir_creates_0700_and_tightens_an_open_one() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("real")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("real"), tmp.path().join("link")).unwrap();
        let err = private_dir(&tmp.path().join("link")).unwrap_err().to_string();
        assert!(err.contains("symlink"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_writable_by_others_is_refused_for_secrets() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let err = unshared_dir(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("can be written by other users"), "{err}");
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        unshared_dir(tmp.path()).unwrap();
    }
}
