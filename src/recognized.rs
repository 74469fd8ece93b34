//! Data Center hosts recognised by their realm alone, remembered for `store` and `erase`.
//!
//! Git passes `wwwauth[]` (the server's `WWW-Authenticate` headers) to `get`, where a
//! `realm="Atlassian Bitbucket"` header tells this helper the host is Data Center. Git does
//! not pass them to `store` after the server accepted a credential, so without memory such a
//! host could never keep a token. When `get` recognises an https host by its realm, its
//! origin is written to a small file in the state directory (no secret: `https://host:port`
//! per line); `store`, `erase` and the commands then recognise it too. Only https origins
//! are ever written: the realm never makes a plain-http host ours.
//!
//! Beside it, [`OAuthOffers`] remembers whether a Data Center server has an OAuth 2.0
//! provider (`datacenter-oauth`: `URL yes|no UNIX-TIME` per line, the URL being the probe's,
//! `…/rest/oauth2/1.0/client`), so that the question is asked once a day, not before every
//! sign-in. Both files are bounded, 0600, and
//! replaced atomically under a lock.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::settings::paths::Paths;

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
        self.path.as_deref().map(read_lines).unwrap_or_default()
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
        let added = update_lines(path, |hosts| {
            if !hosts.iter().any(|h| h == origin) {
                hosts.push(origin.to_owned());
            }
        });
        match added {
            Ok(()) => {
                tracing::debug!("remembered {origin} as Bitbucket Data Center (recognised by its realm)")
            }
            Err(e) => tracing::debug!("could not remember {origin}: {e}"),
        }
    }
}

/// How long a server's answer about OAuth is trusted before it is asked again.
pub const OAUTH_ANSWER_SECS: u64 = 86_400;

/// What Data Center servers said about their OAuth 2.0 provider, per probe URL.
#[derive(Debug, Clone)]
pub struct OAuthOffers {
    path: Option<PathBuf>,
}

impl OAuthOffers {
    /// `datacenter-oauth` in the state directory ([`Paths::state`]).
    pub fn new(paths: &Paths) -> Self {
        OAuthOffers { path: paths.state.as_ref().map(|s| s.join("datacenter-oauth")) }
    }

    /// The answer remembered for `url` and when it was given (Unix seconds), unless it is
    /// older than [`OAUTH_ANSWER_SECS`].
    pub fn answer(&self, url: &str, now: u64) -> Option<(bool, u64)> {
        let lines = self.path.as_deref().map(read_lines).unwrap_or_default();
        lines.iter().rev().find_map(|line| {
            let mut words = line.split(' ');
            let (found, offered, at) = (words.next()?, words.next()?, words.next()?.parse::<u64>().ok()?);
            let fresh = now.saturating_sub(at) < OAUTH_ANSWER_SECS;
            (found == url && fresh).then_some((offered == "yes", at))
        })
    }

    /// Remember the answer for `url` (best effort).
    pub fn remember(&self, url: &str, offered: bool, now: u64) {
        let Some(path) = &self.path else { return };
        if url.contains([' ', '\n', '\r']) {
            return;
        }
        let line = format!("{url} {} {now}", if offered { "yes" } else { "no" });
        let written = update_lines(path, |lines| {
            lines.retain(|l| l.split(' ').next() != Some(url));
            lines.push(line);
        });
        if let Err(e) = written {
            tracing::debug!("could not remember the answer of {url}: {e}");
        }
    }
}

/// The non-empty lines of a small file; none when it cannot be read.
fn read_lines(path: &Path) -> Vec<String> {
    let mut text = String::new();
    let read = fs::File::open(path).and_then(|f| f.take(MAX_FILE_BYTES).read_to_string(&mut text));
    match read {
        Ok(_) => text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect(),
        Err(_) => Vec::new(),
    }
}

/// Under an exclusive lock: read the lines, `change` them, keep the newest [`MAX_HOSTS`],
/// write a 0600 file atomically.
fn update_lines(path: &Path, change: impl FnOnce(&mut Vec<String>)) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(path);
    crate::settings::paths::private_dir(dir)?;
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let lock = options.open(path.with_extension("lock"))?;
    lock.lock()?;
    let mut lines = read_lines(path);
    change(&mut lines);
    let keep_from = lines.len().saturating_sub(MAX_HOSTS);
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    for line in &lines[keep_from..] {
        writeln!(file, "{line}")?;
    }
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The helper's paths with the state directory under `dir`.
    fn paths_in(dir: &Path) -> Paths {
        let state = dir.display().to_string();
        Paths::from_env(&move |k: &str| (k == "XDG_STATE_HOME").then(|| state.clone()))
    }

    #[test]
    fn remembers_https_origins_once_and_never_http() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = RecognizedHosts::new(&paths_in(dir.path()));
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
        let hosts = RecognizedHosts::new(&paths_in(dir.path()));
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

    #[test]
    fn oauth_answers_are_remembered_per_url_for_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let offers = OAuthOffers::new(&paths_in(dir.path()));
        let url = "https://git.example.com/ctx/rest/oauth2/1.0/client";
        assert_eq!(offers.answer(url, 1_000), None);
        offers.remember(url, false, 1_000);
        offers.remember("https://other.example.com/rest/oauth2/1.0/client", true, 1_000);
        assert_eq!(offers.answer(url, 1_000 + OAUTH_ANSWER_SECS - 1), Some((false, 1_000)));
        assert_eq!(offers.answer(url, 1_000 + OAUTH_ANSWER_SECS), None, "asked again after a day");
        offers.remember(url, true, 2_000);
        assert_eq!(offers.answer(url, 2_000), Some((true, 2_000)), "the newer answer replaces the older");
        let file = dir.path().join("git-credential-bitbucket/datacenter-oauth");
        assert_eq!(fs::read_to_string(&file).unwrap().lines().count(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
