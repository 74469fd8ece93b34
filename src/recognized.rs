//! Data Center hosts recognised by their realm alone, remembered for `store` and `erase`.
//!
//! Git passes `wwwauth[]` (the server's `WWW-Authenticate` headers) to `get`, where a
//! `realm="Atlassian Bitbucket"` header tells this helper the host is Data Center. Git does
//! not pass them to `store` after the server accepted a credential, so without memory such a
//! host could never keep a token. When `get` recognises an https host by its realm, its
//! origin is written to a small file in the state directory (no secret: `https://host:port`
//! per line); `store`, `erase` and the commands then recognise it too. Only https origins
//! are ever written: the realm never makes a plain-http host ours.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

/// The file of remembered origins.
#[derive(Debug, Clone)]
pub struct RecognizedHosts {
    path: Option<PathBuf>,
}

impl RecognizedHosts {
    /// `$XDG_STATE_HOME/git-credential-bitbucket/datacenter-hosts` (or under `~/.local/state`).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let base = env("XDG_STATE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| env("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".local/state")))
            .or_else(|| env("LOCALAPPDATA").map(PathBuf::from));
        RecognizedHosts { path: base.map(|b| b.join("git-credential-bitbucket").join("datacenter-hosts")) }
    }

    /// Whether `origin` (`https://host[:port]`) was recognised before.
    pub fn contains(&self, origin: &str) -> bool {
        let Some(path) = &self.path else { return false };
        fs::read_to_string(path).is_ok_and(|text| text.lines().any(|line| line == origin))
    }

    /// Remember `origin` (best effort: a failure only means it is recognised by its realm again).
    pub fn remember(&self, origin: &str) {
        if self.contains(origin) || origin.contains(['\n', '\r']) || !origin.starts_with("https://") {
            return;
        }
        let Some(path) = &self.path else { return };
        let written = (|| -> std::io::Result<()> {
            let dir = path.parent().unwrap_or(path);
            fs::create_dir_all(dir)?;
            let mut text = fs::read_to_string(path).unwrap_or_default();
            text.push_str(origin);
            text.push('\n');
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            fs::File::create(&tmp)?.write_all(text.as_bytes())?;
            fs::rename(&tmp, path)
        })();
        match written {
            Ok(()) => {
                tracing::debug!("remembered {origin} as Bitbucket Data Center (recognised by its realm)")
            }
            Err(e) => tracing::debug!("could not remember {origin}: {e}"),
        }
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
        let hosts = RecognizedHosts::from_env(&env);
        assert!(!hosts.contains("https://git.example.com"));
        hosts.remember("https://git.example.com");
        hosts.remember("https://git.example.com");
        hosts.remember("http://plain.example.com");
        assert!(hosts.contains("https://git.example.com"));
        assert!(!hosts.contains("http://plain.example.com"));
        let file = dir.path().join("git-credential-bitbucket/datacenter-hosts");
        assert_eq!(fs::read_to_string(file).unwrap(), "https://git.example.com\n");
    }
}
