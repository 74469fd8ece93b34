//! The commands a person runs — `login`, `use`, `logout`, `list`, `token`, `diagnose`,
//! `configure` — one file each, and the dispatcher that runs a command line: git's
//! operations go to `operation::operate`, everything else to its command.
//!
//! Each command writes its own output to the `out` it is given (stdout in the binary) and
//! messages to stderr. None ever prints a secret except `token`, whose whole purpose is to
//! print one access token on stdout. The exit codes and the command lines a message
//! suggests belong here, not to the library's [`Failure`]. Nothing here calls back into the
//! crate root.

mod configure;
mod diagnose;
mod list;
mod login;
mod logout;
mod oauth_client;
mod token;
mod use_account;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::time::{Duration, UNIX_EPOCH};

use crate::auth::{Authenticator, Context};
use crate::cli::{self, Cli, Command};
use crate::error::Failure;
use crate::operation::{self, Operation, Overrides};
use crate::protocol::{Credential, ProtocolError};
use crate::store::StoredSecret;
use crate::target;

/// The URL commands use when none is given.
const DEFAULT_URL: &str = "https://bitbucket.org";

/// The whole binary after start-up: parse `args`, install the trace `GIT_BITBUCKET_TRACE`
/// asks for, run the command, and turn an error into one line on stderr and an exit code.
pub(crate) fn run_cli(args: Vec<OsString>, ctx: &Context) -> u8 {
    let cli = match Cli::from_args(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    crate::trace::init_from_env(ctx.env);
    match run(cli.command, ctx) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("git-credential-bitbucket: {e}{}", next_step(&e));
            exit_code(&e)
        }
    }
}

/// The command line to run next, for the failures one fixes with this program, after `; `.
fn next_step(e: &Failure) -> String {
    const PROGRAM: &str = "git-credential-bitbucket";
    match e {
        Failure::RefreshRefused { url, .. } => format!("; sign in again with: {PROGRAM} login {url}"),
        Failure::NotSignedIn { url } => format!("; run: {PROGRAM} login {url}"),
        Failure::NoSuchAccount { url, username } => {
            format!("; sign in first: {PROGRAM} login {url} --user {username}")
        }
        Failure::NotBitbucket { url } => format!("; for Data Center run: {PROGRAM} configure --url {url}"),
        _ => String::new(),
    }
}

/// The process exit code for `e`: 2 for bad usage or bad input, 1 for everything else.
fn exit_code(e: &Failure) -> u8 {
    match e {
        Failure::Input(ProtocolError::Io(_)) => 1,
        Failure::Input(_) | Failure::Usage(_) | Failure::NotBitbucket { .. } => 2,
        _ => 1,
    }
}

/// Run one command line: git's operations on the process's stdin and stdout, or a person's
/// command. Messages for the person go to stderr; a command's own output to stdout.
fn run(command: Command, ctx: &Context) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let url = |url: Option<String>| url.unwrap_or_else(|| DEFAULT_URL.to_owned());
    let operation = match command {
        Command::Get => Operation::Get,
        Command::Store => Operation::Store,
        Command::Erase => Operation::Erase,
        Command::Configure { system, urls } => {
            return say_each("set", configure::configure(system, &urls, ctx)?);
        }
        Command::Unconfigure { system, urls } => {
            return say_each("removed", configure::unconfigure(system, &urls)?);
        }
        Command::Login { url: u, setup_oauth: true, user, default, .. } => {
            return say(login::set_up_oauth(&url(u), user.as_deref(), default, ctx)?);
        }
        Command::Login { url: u, method, user, bearer, default, .. } => {
            let how = login::LoginOptions { method, user: user.as_deref(), bearer, default };
            return say(login::login(&url(u), how, ctx)?);
        }
        Command::Use { user, url: u } => return say(use_account::use_account(&url(u), &user, ctx)?),
        Command::Logout { url: u, user, forget_oauth } => {
            let u = url(u);
            if forget_oauth {
                say_each("removed", logout::forget_oauth_consumer(&u, ctx)?)?;
            }
            return say(logout::logout(&u, user.as_deref(), ctx)?);
        }
        Command::List { json } => return reader_left(list::list(json, ctx, &mut stdout.lock())),
        Command::Token { url: u, user } => {
            return reader_left(token::token(&url(u), user.as_deref(), ctx, &mut stdout.lock()));
        }
        Command::Diagnose { url: u } => {
            let verdict = diagnose::diagnose(&url(u), ctx, &mut stdout.lock());
            return reader_left(verdict.and_then(|ok| if ok { Ok(()) } else { Err(Failure::ProblemsFound) }));
        }
        Command::Completions { shell } => {
            return reader_left(cli::completions(shell, &mut stdout.lock()).map_err(Failure::Output));
        }
        Command::GenerateMan { dir } => {
            let written =
                cli::generate_man(&dir).map_err(|e| Failure::Usage(format!("{}: {e}", dir.display())))?;
            return say_each("wrote", written.iter().map(|p| p.display().to_string()).collect());
        }
        Command::Other(args) => return unknown_operation(&args),
    };
    operation::operate(
        operation,
        &mut std::io::stdin().lock(),
        &mut stdout.lock(),
        ctx,
        &Overrides::default(),
    )
}

/// Git may add operations and always pipes stdin: ignore them. A person at a terminal typed it.
fn unknown_operation(args: &[OsString]) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Ok(());
    }
    let name = args.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
    Err(Failure::Usage(format!("unknown command '{name}'; see git-credential-bitbucket --help")))
}

/// A reader that closed the pipe early (`list | head -n1`, `grep -q`) is not a fault of the
/// command: it stops quietly and succeeds, as ripgrep does, so a pipeline does not fail on it.
fn reader_left(result: Result<(), Failure>) -> Result<(), Failure> {
    match result {
        Err(Failure::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn say(line: String) -> Result<(), Failure> {
    eprintln!("{line}");
    Ok(())
}

fn say_each(verb: &str, lines: Vec<String>) -> Result<(), Failure> {
    for line in lines {
        eprintln!("{verb} {line}");
    }
    Ok(())
}

fn credential_for(url: &str, user: Option<&str>) -> Result<Credential, Failure> {
    let mut cred = Credential::from_url(url).map_err(|e| Failure::Usage(format!("{url}: {e}")))?;
    let web = cred
        .protocol
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("https") || p.eq_ignore_ascii_case("http"));
    if !web || cred.host.as_deref().is_none_or(str::is_empty) {
        return Err(Failure::Usage(format!("{url}: expected an http(s) URL such as {DEFAULT_URL}")));
    }
    if let Some(user) = user {
        cred.username = Some(user.to_owned());
    }
    Ok(cred)
}

/// The authenticator for a URL a person typed. Accounts are per host, as git asks for them
/// (unless `credential.useHttpPath` is set), so the path is not part of the key; for Data
/// Center it is the base URL (context path included) unless `bitbucketDataCenterUrl` says
/// otherwise.
fn open<'a>(url: &str, user: Option<&str>, ctx: &'a Context<'a>) -> Result<Authenticator<'a>, Failure> {
    let mut cred = credential_for(url, user)?;
    let base = target::settings_url(&cred).unwrap_or_default();
    let path = cred.path.take();
    let host_url = target::matching_url(&cred).unwrap_or_default();
    let mut raw = operation::settings_for(&host_url, ctx.env, &Overrides::default())?;
    let cloud = cred.host.as_deref().is_some_and(crate::host::is_cloud_host);
    if path.is_some() && !cloud && raw.get(crate::settings::key::DATACENTER_URL).is_none() {
        raw.set(crate::settings::key::DATACENTER_URL, base.trim_end_matches('/'));
    }
    operation::authenticator_with(&cred, &raw, ctx, None)?
        .ok_or_else(|| Failure::NotBitbucket { url: host_url.trim_end_matches('/').to_owned() })
}

/// Describe a stored token for people: kind and expiry.
fn describe(record: &StoredSecret, now: u64) -> String {
    match record.expires_at {
        Some(t) if t > now => {
            format!("{}, expires {} (in {} min)", record.kind.name(), utc(t), (t - now) / 60)
        }
        Some(t) => format!("{}, expired {}", record.kind.name(), utc(t)),
        None => format!("{}, no expiry", record.kind.name()),
    }
}

/// `YYYY-MM-DD HH:MM` in UTC. An HTTP date ends with the year 9999, and so does this: a
/// later time (no real expiry) reads as its last minute.
fn utc(unix: u64) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    const LAST_SECOND_OF_9999: u64 = 253_402_300_799;
    // `Wed, 18 Nov 2026 11:06:40 GMT`: fixed width, every field at its place.
    let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix.min(LAST_SECOND_OF_9999)));
    let field = |range: std::ops::Range<usize>| date.get(range).unwrap_or_default();
    let month = MONTHS.iter().position(|m| *m == field(8..11)).map_or(0, |i| i + 1);
    format!("{}-{month:02}-{} {}", field(12..16), field(5..7), field(17..22))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn the_command_line_to_run_next_and_the_exit_code_are_the_commands() {
        let url = "https://git.example.com".to_owned();
        let foreign = Failure::NotBitbucket { url: url.clone() };
        assert_eq!(
            format!("{foreign}{}", next_step(&foreign)),
            "https://git.example.com is not a Bitbucket host this helper serves; for Data Center run: git-credential-bitbucket configure --url https://git.example.com"
        );
        assert_eq!(exit_code(&foreign), 2);
        let refused = Failure::RefreshRefused { url: url.clone(), reason: "HTTP 400".to_owned() };
        assert_eq!(
            format!("{refused}{}", next_step(&refused)),
            "Bitbucket refused to refresh the sign-in for https://git.example.com (HTTP 400); the saved sign-in was kept; sign in again with: git-credential-bitbucket login https://git.example.com"
        );
        let signed_out = Failure::NotSignedIn { url };
        assert_eq!(exit_code(&signed_out), 1);
        let public = Error::from(signed_out);
        assert!(matches!(public, Error::NotSignedIn(_)), "{public:?}");
        assert_eq!(
            public.to_string(),
            "not signed in to https://git.example.com",
            "no command line in the library's message"
        );
    }
}
