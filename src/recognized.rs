//! Data Center hosts recognised by their realm alone, remembered for `store` and `erase`.
//!
//! Git passes `wwwauth[]` (the server's `WWW-Authenticate` headers) to `get`, where a
//! `realm="Atlassian Bitbucket"` header tells this helper the host is Data Center. Git does
//! not pass them to `store` after the server accepted a credential, so without memory such a
//! host could never keep a token. When `get` recognises an https host by its realm, its
//! origin is written to a small file in the state directory (no secret: `https://host:port`
//! per line); `store`, `erase` and the commands then recognise it too. Only https origins
//! are ever written: the realm never makes a plain-http host ours.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::PathBuf;

use crate::paths::Paths;

/// At most this many origins are remembered; the oldest go first.
pub const MAX_HOSTS: usize = 256;
/// A file larger than this is not ours: read no further.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// The file of remembered origins.
#[derive(Debug, Clone)]
pub struct RecognizedHosts {
    path: Option<PathBuf>,
}

impl RecognizedHosts {
    /// `datacenter-hosts` in the state directory ([`Paths::state`]).
    pub fn new(paths: &Paths) -> Self {
        RecognizedHosts { path: paths.state.as_ref().map(|s| s.join("datacenter-hosts")) }
    }

    fn read(&self) -> Vec<String> {
        let Some(path) = &self.path else { return Vec::new() };
        let mut text = String::new();
        let read = fs::File::open(path).and_then(|f| f.take(MAX_FILE_BYTES).read_to_string(&mut text));
        match read {
            Ok(_) => text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Whether `origin` (`https://host[:port]`) was recognised before.
    pub fn contains(&self, origin: &str) -> bool {
        self.read().iter().any(|line| line == origin)
    }

    /// Remember `origin` (best effort: a failure only means it is recognised by its realm again).
    pub fn remember(&self, origin: &str) {
        if origin.contains(['\n', '\r']) || !origin.starts_with("https://") || self.contains(origin) {
            return;
        }
        let Some(path) = &self.path else { return };
        match self.append(path, origin) {
            Ok(()) => {
                tracing::debug!("remembered {origin} as Bitbucket Data Center (recognised by its realm)")
            }
            Err(e) => tracing::debug!("could not remember {origin}: {e}"),
        }
    }

    /// Under an exclusive lock: read, add, keep the newest [`MAX_HOSTS`], write a 0600 file
    /// atomically.
    fn append(&self, path: &std::path::Path, origin: &str) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(path);
        crate::paths::private_dir(dir)?;
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
        }
        let lock = options.open(path.with_extension("lock"))?;
        lock.lock()?;
        let mut hosts = self.read();
        if hosts.iter().any(|h| h == origin) {
            return Ok(());
        }
        hosts.push(origin.to_owned());
        let keep_from = hosts.len().saturating_sub(MAX_HOSTS);
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        for host in &hosts[keep_from..] {
            writeln!(file, "{host}")?;
        }
        file.as_file().sync_all()?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_https_origins_once_and_never_http() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().display().to_string();
        let env = move |k: &str| (k == "XDG_STATE_HOME").then(|| state.clone());
        let hosts = RecognizedHosts::new(&Paths::from_env(&env));
        assert!(!hosts.contains("https://git.example.com"));
        hosts.remember("https://git.example.com");
        hosts.remember("https://git.example.com");
        hosts.remember("http://plain.example.com");
        assert!(hosts.contains("https://git.example.com"));
        assert!(!hosts.contains("http://plain.example.com"));
        let file = dir.path().join("git-credential-bitbucket/datacenter-hosts");
        assert_eq!(fs::read_to_string(&file).unwrap(), "https://git.example.com\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn only_the_newest_hosts_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().display().to_string();
        let env = move |k: &str| (k == "XDG_STATE_HOME").then(|| state.clone());
        let hosts = RecognizedHosts::new(&Paths::from_env(&env));
        for i in 0..MAX_HOSTS + 5 {
            hosts.remember(&format!("https://h{i}.example.com"));
        }
        assert!(!hosts.contains("https://h0.example.com"), "the oldest was dropped");
        assert!(hosts.contains(&format!("https://h{}.example.com", MAX_HOSTS + 4)));
        assert_eq!(hosts.read().len(), MAX_HOSTS);
    }

    #[test]
    fn parallel_writers_lose_no_host() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().display().to_string();
        std::thread::scope(|scope| {
            for i in 0..8 {
                let state = state.clone();
                scope.spawn(move || {
                    let env = move |k: &str| (k == "XDG_STATE_HOME").then(|| state.clone());
                    RecognizedHosts::new(&Paths::from_env(&env))
                        .remember(&format!("https://p{i}.example.com"));
                });
            }
        });
        let env = move |k: &str| (k == "XDG_STATE_HOME").then(|| state.clone());
        assert_eq!(RecognizedHosts::new(&Paths::from_env(&env)).read().len(), 8);
    }
}
