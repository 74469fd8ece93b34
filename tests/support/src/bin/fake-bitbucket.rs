//! `fake-bitbucket`: the test suite's fake Bitbucket as a process, for benchmark scripts and
//! manual experiments. It prints `base_url=...`, serves until its stdin closes (or SIGTERM /
//! SIGINT), then prints the request counts on stderr. It is a test tool: it listens on
//! 127.0.0.1 only and must never front real credentials.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use bitbucket_test_support::{Counts, FakeBitbucket, Mode, User};

const USAGE: &str = "\
usage: fake-bitbucket [--datacenter CONTEXT] [--user NAME:EMAIL:TOKEN]... [--repo WS/NAME]...
                      [--consumer ID:SECRET[:REDIRECT_PREFIX]]... [--counts-file PATH]
                      [--until-signal]

Starts a fake Bitbucket (Cloud unless --datacenter) on 127.0.0.1, prints `base_url=URL`,
and serves until stdin is closed (or SIGTERM/SIGINT). On exit it prints
`requests git=N rest=N token=N authorize=N other=N` on stderr.

  --datacenter CONTEXT   Data Center under the context path CONTEXT (\"\" for none)
  --user NAME:EMAIL:TOKEN
                         an account; TOKEN is its API token (Cloud) or personal HTTP
                         access token (Data Center)
  --repo WS/NAME         a repository with one commit on main (Data Center: PROJECT/NAME)
  --consumer ID:SECRET[:REDIRECT_PREFIX]
                         an OAuth consumer (default redirect prefix http://localhost:34106/)
  --counts-file PATH     rewrite PATH with the counts line after every request
  --until-signal         ignore stdin; serve until SIGTERM/SIGINT (for `cmd &` in scripts,
                         where stdin is /dev/null)";

const DEFAULT_REDIRECT_PREFIX: &str = "http://localhost:34106/";

/// How often the wait loop looks at the signal flag.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
struct Options {
    datacenter: Option<String>,
    users: Vec<(String, String, String)>,
    repos: Vec<String>,
    consumers: Vec<(String, String, String)>,
    counts_file: Option<PathBuf>,
    until_signal: bool,
    help: bool,
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("fake-bitbucket: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if options.help {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    signals::install();
    let fake = start(&options);
    println!("base_url={}", fake.base_url());
    let _ = io::stdout().flush();
    wait_for_end(options.until_signal);
    eprintln!("requests {}", fake.counts());
    ExitCode::SUCCESS
}

fn start(options: &Options) -> FakeBitbucket {
    let mode = match &options.datacenter {
        Some(context_path) => Mode::DataCenter { context_path: context_path.clone() },
        None => Mode::Cloud,
    };
    let datacenter = options.datacenter.is_some();
    let fake = FakeBitbucket::start(mode);
    for (name, email, token) in &options.users {
        fake.add_user(User::new(name, email).with_api_token(token));
        if datacenter {
            fake.add_dc_personal_token(name, token);
        }
    }
    for repo in &options.repos {
        fake.create_repo(repo);
    }
    for (id, secret, redirect_prefix) in &options.consumers {
        fake.add_consumer(id, secret, redirect_prefix);
    }
    if let Some(path) = &options.counts_file {
        write_counts(path, &Counts::default());
        let path = path.clone();
        fake.set_request_observer(move |counts| write_counts(&path, counts));
    }
    fake
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options::default();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--datacenter" => options.datacenter = Some(value("--datacenter")?),
            "--user" => {
                let spec = value("--user")?;
                match spec.splitn(3, ':').collect::<Vec<_>>()[..] {
                    [name, email, token] if !name.is_empty() && !token.is_empty() => {
                        options.users.push((name.into(), email.into(), token.into()));
                    }
                    _ => return Err(format!("--user wants NAME:EMAIL:TOKEN, not {spec:?}")),
                }
            }
            "--repo" => {
                let repo = value("--repo")?;
                if repo.split('/').filter(|s| !s.is_empty()).count() != 2 {
                    return Err(format!("--repo wants WS/NAME, not {repo:?}"));
                }
                options.repos.push(repo);
            }
            "--consumer" => {
                let spec = value("--consumer")?;
                let parts: Vec<&str> = spec.splitn(3, ':').collect();
                match parts[..] {
                    [id, secret] => {
                        options.consumers.push((id.into(), secret.into(), DEFAULT_REDIRECT_PREFIX.into()));
                    }
                    [id, secret, prefix] => {
                        options.consumers.push((id.into(), secret.into(), prefix.into()));
                    }
                    _ => return Err(format!("--consumer wants ID:SECRET, not {spec:?}")),
                }
            }
            "--counts-file" => options.counts_file = Some(value("--counts-file")?.into()),
            "--until-signal" => options.until_signal = true,
            "-h" | "--help" => options.help = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

/// Blocks until stdin reaches end of file (unless `until_signal`) or a signal arrives.
fn wait_for_end(until_signal: bool) {
    let (closed, stdin_closed) = mpsc::channel::<()>();
    // With --until-signal the sender stays here, so the channel never reports a disconnect.
    let _sender = if until_signal {
        Some(closed)
    } else {
        std::thread::spawn(move || {
            let mut sink = [0u8; 4096];
            let mut stdin = io::stdin().lock();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = closed.send(());
        });
        None
    };
    loop {
        match stdin_closed.recv_timeout(SIGNAL_POLL) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) if signals::received() => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Replaces `path` atomically (temporary file + rename), so a reader never sees half a line.
fn write_counts(path: &Path, counts: &Counts) {
    let temporary = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = std::fs::write(&temporary, format!("requests {counts}\n"))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(e) = written {
        eprintln!("fake-bitbucket: cannot write {}: {e}", path.display());
    }
}

#[cfg(unix)]
mod signals {
    //! SIGTERM and SIGINT set a flag the wait loop polls, so the counts are still printed.

    use std::ffi::c_int;
    use std::sync::atomic::{AtomicBool, Ordering};

    static RECEIVED: AtomicBool = AtomicBool::new(false);

    const SIGINT: c_int = 2;
    const SIGTERM: c_int = 15;

    unsafe extern "C" {
        fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    }

    extern "C" fn on_signal(_: c_int) {
        // Only an atomic store: async-signal-safe.
        RECEIVED.store(true, Ordering::SeqCst);
    }

    pub(crate) fn install() {
        for signum in [SIGINT, SIGTERM] {
            // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe, and
            // `signal` is given a valid signal number and a function with the C ABI.
            unsafe {
                signal(signum, on_signal);
            }
        }
    }

    pub(crate) fn received() -> bool {
        RECEIVED.load(Ordering::SeqCst)
    }
}

#[cfg(not(unix))]
mod signals {
    //! No signal handling here: the server stops when stdin closes.

    pub(crate) fn install() {}

    pub(crate) fn received() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments_parse() {
        let options = parse(&[
            "--datacenter",
            "/bitbucket",
            "--user",
            "alice:alice@example.com:tok:en",
            "--repo",
            "PROJ/repo",
            "--consumer",
            "id:secret:http://localhost:9/",
        ])
        .expect("valid arguments");
        assert_eq!(options.datacenter.as_deref(), Some("/bitbucket"));
        assert_eq!(options.users[0].2, "tok:en");
        assert_eq!(options.consumers[0].2, "http://localhost:9/");
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["--user", "alice"]).is_err());
        assert!(parse(&["--repo", "norepo"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--counts-file"]).is_err());
    }
}
