//! Opening the sign-in page: `BROWSER` first, then the system opener.
//!
//! `BROWSER` is a command (a `:`-separated list is tried in order); `%s` in it stands for the
//! URL, otherwise the URL is the last argument. The URL is passed as a separate argument to
//! `sh`, never spliced into shell text. The sign-in URL carries no secret (only the client id,
//! `state` and the PKCE challenge).

use std::process::{Child, Command, Stdio};

use crate::settings::Browser;

/// How the page was opened.
#[derive(Debug)]
pub enum Opened {
    /// A command was started; the caller may watch it to learn whether it failed.
    Started(Child),
    /// Nothing could be started: the person must open the URL themselves.
    Nothing,
}

/// Start a browser on `url`: the `BROWSER` commands first; on WSL the Windows browser
/// (`wslview`, else `explorer.exe`), which reaches the helper's `localhost` listener through
/// WSL's port forwarding; then, on a desktop, the system opener.
pub fn open(url: &str, browser: &Browser) -> Opened {
    if let Some(var) = browser.command.as_deref().filter(|v| !v.trim().is_empty()) {
        for command in var.split(':').map(str::trim).filter(|c| !c.is_empty()) {
            if let Some(child) = spawn_shell(command, url, browser.search_path.as_deref()) {
                return Opened::Started(child);
            }
        }
        return Opened::Nothing;
    }
    let search_path = browser.search_path.as_deref();
    let wsl: &[(&str, &[&str])] = if browser.wsl { WSL_OPENERS } else { &[] };
    let desktop = if browser.desktop { system_openers() } else { &[] };
    for (program, args) in wsl.iter().chain(desktop) {
        if !is_executable(program, search_path) {
            continue;
        }
        let started = crate::settings::scrub_secret_env(&mut Command::new(program))
            .args(*args)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(child) = started {
            return Opened::Started(child);
        }
    }
    Opened::Nothing
}

/// Windows' browser from inside WSL: `wslview` (wslu), else Explorer, which opens a URL in the
/// default browser (and exits 1 even then, so the helper also offers paste-back).
const WSL_OPENERS: &[(&str, &[&str])] = &[("wslview", &[]), ("explorer.exe", &[])];

fn spawn_shell(command: &str, url: &str, search_path: Option<&str>) -> Option<Child> {
    let program = command.split_whitespace().next()?;
    if !is_executable(program, search_path) {
        return None;
    }
    let script =
        if command.contains("%s") { command.replace("%s", "\"$1\"") } else { format!("{command} \"$1\"") };
    crate::settings::scrub_secret_env(&mut Command::new("sh"))
        .args(["-c", &script, "sh", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// Whether `program` names an existing file, directly or on `search_path` (`PATH`).
fn is_executable(program: &str, search_path: Option<&str>) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    search_path.is_some_and(|paths| std::env::split_paths(paths).any(|dir| dir.join(program).is_file()))
}

#[cfg(target_os = "macos")]
fn system_openers() -> &'static [(&'static str, &'static [&'static str])] {
    &[("open", &[])]
}

#[cfg(windows)]
fn system_openers() -> &'static [(&'static str, &'static [&'static str])] {
    &[("rundll32", &["url.dll,FileProtocolHandler"])]
}

#[cfg(not(any(target_os = "macos", windows)))]
fn system_openers() -> &'static [(&'static str, &'static [&'static str])] {
    &[("xdg-open", &[]), ("gio", &["open"]), ("sensible-browser", &[])]
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A fake browser that records its arguments, one per line.
    fn recorder(dir: &std::path::Path) -> (String, std::path::PathBuf) {
        let out = dir.join("args");
        let script = dir.join("browser");
        let text = format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n", out.display());
        crate::test_script::write_script(&script, &text);
        (script.display().to_string(), out)
    }

    fn command(browser: &str) -> Browser {
        let search_path = crate::settings::process_env("PATH");
        Browser { command: Some(browser.to_owned()), desktop: false, search_path, wsl: false }
    }

    fn run(url: &str, browser: &str) {
        let Opened::Started(mut child) = open(url, &command(browser)) else { panic!("not started") };
        child.wait().unwrap();
    }

    #[test]
    fn percent_s_is_replaced_by_the_url_as_one_argument() {
        let dir = tempfile::tempdir().unwrap();
        let (browser, out) = recorder(dir.path());
        let pwned = dir.path().join("pwned");
        let url = format!("http://x/?a=1&b=$(touch {0});c=`touch {0}`", pwned.display());
        run(&url, &format!("{browser} --new-window %s"));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), format!("--new-window\n{url}\n"));
        assert!(!pwned.exists());
    }

    #[test]
    fn without_percent_s_the_url_is_the_last_argument() {
        let dir = tempfile::tempdir().unwrap();
        let (browser, out) = recorder(dir.path());
        run("http://h/p?q=1", &browser);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "http://h/p?q=1\n");
    }

    #[test]
    fn a_list_falls_through_to_the_first_command_that_exists() {
        let dir = tempfile::tempdir().unwrap();
        let (browser, out) = recorder(dir.path());
        run("http://h/", &format!("/nonexistent/browser:no-such-browser-here:{browser}"));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "http://h/\n");
        assert!(matches!(open("http://h/", &command("/nonexistent/browser")), Opened::Nothing));
    }
}
