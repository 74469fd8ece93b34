//! The one place a git process starts ([`git`]), and what the helper asks git: the
//! URL-matched settings when they cannot be read in the process ([`get_urlmatch`]) and
//! `core.askPass`, read only when a prompt is about to be shown; and the global settings
//! written for the commands ([`set_global`], [`unset_global`]).

use std::process::{Command, Stdio};

use super::env::scrub_secret_env;
use super::error::ConfigError;
use super::files::{UrlMatched, get_urlmatch_here, match_listing};

/// `git`, with the OAuth client secrets removed from its environment: every git process
/// the helper starts is made here.
pub(crate) fn git() -> Command {
    let mut command = Command::new("git");
    scrub_secret_env(&mut command);
    command
}

/// Run `git ARGS` with no input and collect its output.
pub(crate) fn run_git(args: &[&str]) -> std::io::Result<std::process::Output> {
    git().args(args).stdin(Stdio::null()).output()
}

/// Every URL-matched value of one section, as `git config --null --get-urlmatch SECTION URL`
/// prints them: read in the process ([`super::files`]), or, when that reader cannot be
/// sure of git's answer, from git itself (exit code 1, "nothing set", is an empty result).
///
/// `url` may name a user (`https://alice@host/`), so that user-specific settings match as in
/// git; git's arguments are public, so the user is dropped from the URL git is given.
pub(crate) fn get_urlmatch(section: &str, url: &str) -> Result<Vec<u8>, ConfigError> {
    match get_urlmatch_here(section, url) {
        Ok(found) => {
            tracing::debug!("{section} settings read from git's configuration files in the process");
            return Ok(found.to_git_output(section));
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

/// [`get_urlmatch`] with each value's scope (for the settings that decide where tokens go).
/// In the process when the reader is sure; else one `git config --null --show-scope
/// --get-regexp '^SECTION\.'`, whose entries are URL-matched here as `--get-urlmatch` would:
/// git 2.39 names every scope of `--get-urlmatch --show-scope` `unknown` (2.47 names them),
/// while its `--get-regexp` names them right (docs/decisions.md).
pub(crate) fn get_urlmatch_scoped(section: &str, url: &str) -> Result<UrlMatched, ConfigError> {
    match get_urlmatch_here(section, url) {
        Ok(found) => {
            tracing::debug!("{section} settings read from git's configuration files in the process");
            return Ok(found);
        }
        Err(why) => tracing::debug!("{section} settings read by `git config` instead: {why}"),
    }
    let pattern = format!("^{section}\\.");
    let output = run_git(&["config", "--null", "--show-scope", "--get-regexp", &pattern])
        .map_err(|e| ConfigError::Git(format!("cannot run git: {e}")))?;
    if !output.status.success() && output.status.code() != Some(1) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr.lines().next().unwrap_or("no message");
        return Err(ConfigError::Git(format!("reading the {section} settings failed: {reason}")));
    }
    match_listing(section, url, &output.stdout).ok_or_else(|| {
        ConfigError::Git(format!("reading the {section} settings for {} failed: git refuses the URL or its listing is not understood", without_user(url)))
    })
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

/// `git config --get core.askPass`, if set.
pub fn core_askpass() -> Option<String> {
    let out = run_git(&["config", "--get", "core.askPass"]).ok()?;
    let value = String::from_utf8(out.stdout).ok()?;
    let value = value.trim_end_matches('\n');
    (!value.is_empty()).then(|| value.to_owned())
}

fn git_config(args: &[&str]) -> Result<std::process::Output, ConfigError> {
    let mut all = vec!["config"];
    all.extend_from_slice(args);
    run_git(&all).map_err(|e| ConfigError::Git(format!("cannot run git: {e}")))
}

pub(crate) fn git_config_checked(args: &[&str]) -> Result<(), ConfigError> {
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
    )))
}

/// `git config --global KEY VALUE`.
pub(crate) fn set_global(key: &str, value: &str) -> Result<(), ConfigError> {
    git_config_checked(&["--global", key, value])
}

/// `git config --global --unset-all KEY`; `false` when it was not set.
pub(crate) fn unset_global(key: &str) -> Result<bool, ConfigError> {
    let was_set = git_config(&["--global", "--get-all", key])?.status.success();
    git_config_checked(&["--global", "--unset-all", key])?;
    Ok(was_set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_never_reaches_gits_arguments() {
        assert_eq!(without_user("https://alice@bitbucket.org/x/y.git"), "https://bitbucket.org/x/y.git");
        assert_eq!(without_user("http://me%40x.com:pw@127.0.0.1:7990/"), "http://127.0.0.1:7990/");
        assert_eq!(without_user("https://bitbucket.org/"), "https://bitbucket.org/");
    }
}
