//! Running git: writing its configuration (`configure` / `unconfigure`), the URL-matched
//! settings read (in the process when possible, else one `git config` call), and the few
//! reads outside it (`core.askPass`, only when a prompt is about to be shown).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::config::ConfigError;
use crate::error::Failure as Error;

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

/// `git`, with the OAuth client secrets removed from its environment: every git process
/// the helper starts is made here.
pub(crate) fn git() -> Command {
    let mut command = Command::new("git");
    crate::config::scrub_secret_env(&mut command);
    command
}

/// Run `git ARGS` with no input and collect its output.
pub(crate) fn run_git(args: &[&str]) -> std::io::Result<std::process::Output> {
    git().args(args).stdin(Stdio::null()).output()
}

/// Every URL-matched value of one section, as `git config --null --get-urlmatch SECTION URL`
/// prints them: read in the process ([`crate::config_files`]), or, when that reader cannot be
/// sure of git's answer, from git itself (exit code 1, "nothing set", is an empty result).
///
/// `url` may name a user (`https://alice@host/`), so that user-specific settings match as in
/// git; git's arguments are public, so the user is dropped from the URL git is given.
pub(crate) fn get_urlmatch(section: &str, url: &str) -> Result<Vec<u8>, ConfigError> {
    match crate::config_files::get_urlmatch_here(section, url) {
        Ok(found) => {
            tracing::debug!("{section} settings read from git's configuration files in the process");
            return Ok(found);
        }
        Err(why) => tracing::debug!("{section} settings read by `git config` instead: {why}"),
    }
    let url = without_user(url);
    let output = run_git(&["config", "--null", "--get-urlmatch", section, &url])
        .map_err(|e| ConfigError::Git(format!("cannot run git: {e}")))?;
    if !output.status.success() && output.status.code() != Some(1) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr.lines().next().unwrap_or("no message");
        return Err(ConfigError::Git(format!("reading the {section} settings for {url} failed: {reason}")));
    }
    Ok(output.stdout)
}

/// `url` without its `user[:password]@` part.
fn without_user(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            // Both setters only fail for URLs that cannot have a user, which have none here.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

fn git_config(args: &[&str]) -> Result<std::process::Output, Error> {
    let mut all = vec!["config"];
    all.extend_from_slice(args);
    run_git(&all).map_err(|e| ConfigError::Git(format!("cannot run git: {e}")).into())
}

fn git_config_checked(args: &[&str]) -> Result<(), Error> {
    let out = git_config(args)?;
    // 5: "you tried to unset an option which does not exist" — fine when unsetting.
    if out.status.success() || (args.contains(&"--unset-all") && out.status.code() == Some(5)) {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(ConfigError::Git(format!(
        "writing ({}) failed: {}",
        args.join(" "),
        stderr.lines().next().unwrap_or("no message")
    ))
    .into())
}

/// `git config --global KEY VALUE`.
pub(crate) fn set_global(key: &str, value: &str) -> Result<(), Error> {
    git_config_checked(&["--global", key, value])
}

/// `git config --global --unset-all KEY`; `false` when it was not set.
pub(crate) fn unset_global(key: &str) -> Result<bool, Error> {
    let was_set = git_config(&["--global", "--get-all", key])?.status.success();
    git_config_checked(&["--global", "--unset-all", key])?;
    Ok(was_set)
}

/// `git config --get core.askPass`, if set.
pub fn core_askpass() -> Option<String> {
    let out = git_config(&["--get", "core.askPass"]).ok()?;
    let value = String::from_utf8(out.stdout).ok()?;
    let value = value.trim_end_matches('\n');
    (!value.is_empty()).then(|| value.to_owned())
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
    fn the_user_never_reaches_gits_arguments() {
        assert_eq!(without_user("https://alice@bitbucket.org/x/y.git"), "https://bitbucket.org/x/y.git");
        assert_eq!(without_user("http://me%40x.com:pw@127.0.0.1:7990/"), "http://127.0.0.1:7990/");
        assert_eq!(without_user("https://bitbucket.org/"), "https://bitbucket.org/");
    }

    #[test]
    fn urls_are_checked_and_deduplicated() {
        assert_eq!(all_urls(&["https://bitbucket.org/".into()]).unwrap(), [CLOUD_URL]);
        assert!(matches!(all_urls(&["ftp://x".into()]), Err(Error::Usage(_))));
    }
}
