//! Writing git's configuration: `configure` / `unconfigure` (the helper for Cloud and each
//! Data Center URL) and the global settings `login --setup-oauth` keeps. Git itself is run
//! by `settings::git`.

use std::path::{Path, PathBuf};

use crate::error::Failure as Error;
use crate::settings::git::git_config_checked;

/// The Bitbucket Cloud URL the helper is always configured for.
pub const CLOUD_URL: &str = "https://bitbucket.org";

/// Which git config file to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `~/.gitconfig` (`--global`).
    Global,
    /// The system file (`--system`).
    System,
}

impl Scope {
    fn flag(self) -> &'static str {
        match self {
            Scope::Global => "--global",
            Scope::System => "--system",
        }
    }
}

/// The `credential.helper` value that runs this executable: a path wherever one can be written,
/// so that git starts it through `sh` alone. The short name `bitbucket` makes git start a
/// second `git` (`git credential-bitbucket`) on every `get`, `store` and `erase` only to find
/// the binary. When `PATH` leads to this very file, the path written is the one on `PATH` (a
/// package manager's link, which an upgrade keeps), else this executable's own. The short name
/// stays where no path can be written faithfully (this executable's path unknown or not
/// UTF-8), and on Windows when the binary is on `PATH`, as before: a path there has not been
/// tried through Git for Windows' `sh`.
pub fn helper_value(path_var: Option<&str>) -> String {
    const SHORT_NAME: &str = "bitbucket";
    let Some(exe) = std::env::current_exe().ok().and_then(|p| p.canonicalize().ok()) else {
        return SHORT_NAME.to_owned();
    };
    let on_path = path_var.and_then(|paths| {
        std::env::split_paths(paths)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(exe_name()))
            .find(|candidate| candidate.is_file())
    });
    let path = match on_path {
        Some(link) if link.canonicalize().ok().as_deref() == Some(exe.as_path()) => {
            if cfg!(windows) {
                return SHORT_NAME.to_owned();
            }
            link
        }
        _ => exe,
    };
    absolute_helper(&path).unwrap_or_else(|| SHORT_NAME.to_owned())
}

fn exe_name() -> PathBuf {
    PathBuf::from(format!("git-credential-bitbucket{}", std::env::consts::EXE_SUFFIX))
}

/// `exe` as git's `sh` runs it; `None` for a path that is not UTF-8 (git config holds text).
fn absolute_helper(exe: &Path) -> Option<String> {
    let text = exe.to_str()?;
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c)) {
        Some(text.to_owned())
    } else {
        // Git runs helper values through the shell; `!` plus quoting keeps odd paths whole.
        Some(format!("!'{}'", text.replace('\'', "'\\''")))
    }
}

/// Configure git to use this helper (and only it) for Bitbucket Cloud and each of `urls`.
///
/// For each URL: the helper list is reset with an empty value (so no other helper keeps
/// Bitbucket secrets in plain text) and this helper added; for `urls` other than Cloud,
/// `provider=bitbucket` is set so the helper serves them. Returns what was written.
pub fn configure(scope: Scope, urls: &[String], helper: &str) -> Result<Vec<String>, Error> {
    let mut done = Vec::new();
    for url in all_urls(urls)? {
        let key = format!("credential.{url}.helper");
        git_config_checked(&[scope.flag(), "--unset-all", &key])?;
        git_config_checked(&[scope.flag(), "--add", &key, ""])?;
        git_config_checked(&[scope.flag(), "--add", &key, helper])?;
        done.push(format!("{key} = {helper}"));
        if url != CLOUD_URL {
            let provider = format!("credential.{url}.provider");
            git_config_checked(&[scope.flag(), &provider, "bitbucket"])?;
            done.push(format!("{provider} = bitbucket"));
        }
    }
    Ok(done)
}

/// Undo [`configure`] for Cloud and each of `urls`. Returns what was removed.
pub fn unconfigure(scope: Scope, urls: &[String]) -> Result<Vec<String>, Error> {
    let mut done = Vec::new();
    for url in all_urls(urls)? {
        let key = format!("credential.{url}.helper");
        git_config_checked(&[scope.flag(), "--unset-all", &key])?;
        done.push(key);
        if url != CLOUD_URL {
            let provider = format!("credential.{url}.provider");
            git_config_checked(&[scope.flag(), "--unset-all", &provider])?;
            done.push(provider);
        }
    }
    Ok(done)
}

fn all_urls(urls: &[String]) -> Result<Vec<String>, Error> {
    let mut all = vec![CLOUD_URL.to_owned()];
    for url in urls {
        let parsed = url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                Error::Usage(format!("--url {url}: expected an http(s) URL such as https://git.example.com"))
            })?;
        let text = parsed.as_str().trim_end_matches('/').to_owned();
        if !all.contains(&text) {
            all.push(text);
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_paths_are_quoted_for_the_shell() {
        assert_eq!(
            absolute_helper(Path::new("/usr/local/bin/git-credential-bitbucket")).as_deref(),
            Some("/usr/local/bin/git-credential-bitbucket")
        );
        assert_eq!(absolute_helper(Path::new("/home/a b/it's")).as_deref(), Some("!'/home/a b/it'\\''s'"));
    }

    /// Git config holds text: a path with bytes that are not UTF-8 cannot be written as it is
    /// (a replacement character would name another file), so `configure` keeps the short name.
    #[cfg(unix)]
    #[test]
    fn a_path_that_is_not_utf8_is_not_written() {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/bad\xff/git-credential-bitbucket"));
        assert_eq!(absolute_helper(path), None);
    }

    #[test]
    fn urls_are_checked_and_deduplicated() {
        assert_eq!(all_urls(&["https://bitbucket.org/".into()]).unwrap(), [CLOUD_URL]);
        assert!(matches!(all_urls(&["ftp://x".into()]), Err(Error::Usage(_))));
    }
}
