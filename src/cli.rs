//! The command line, defined once with clap: the binary parses it, and the man page and
//! shell completions are generated from the same definition. It imports nothing from the
//! commands it names: `commands` reads what this parses.

use std::ffi::OsString;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

/// The first line of `--version`: the package version and the git commit the binary was built
/// from (`unknown` when built from a tree without either; see `build.rs`).
macro_rules! version_line {
    () => {
        concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("GIT_CREDENTIAL_BITBUCKET_BUILD_COMMIT"), ")")
    };
}

/// What `--version` prints after the name.
pub const VERSION: &str = version_line!();

/// `--version` adds whether a packager compiled in an OAuth consumer (never its secret).
const LONG_VERSION: &str = if crate::settings::BUILTIN_CLOUD_CLIENT.is_some() {
    concat!(version_line!(), "\nbuilt-in OAuth consumer: yes")
} else {
    concat!(version_line!(), "\nbuilt-in OAuth consumer: no")
};

/// How `login` signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoginMethod {
    /// OAuth in the browser (needs a configured consumer/client).
    Oauth,
    /// A username and an API token (Cloud), or an HTTP access token (Data Center).
    Token,
}

/// Git credential helper for Bitbucket Cloud and Data Center.
#[derive(Debug, Parser)]
#[command(
    name = "git-credential-bitbucket",
    version = VERSION,
    long_version = LONG_VERSION,
    about = "Git credential helper for Bitbucket Cloud and Data Center",
    long_about = "Signs you in to Bitbucket once (OAuth in the browser, or an API token), keeps \
                  the tokens in the OS keyring, refreshes them before they expire, and answers \
                  git's credential requests without a network round trip.\n\n\
                  Set it up with `git-credential-bitbucket configure`."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Git protocol: answer a credential on stdout (run by git)
    Get,
    /// Git protocol: keep a credential the server accepted (run by git)
    Store,
    /// Git protocol: forget a credential the server rejected (run by git)
    Erase,
    /// Make git use this helper for Bitbucket (and only it)
    Configure {
        /// Change the system git config instead of the global one
        #[arg(long)]
        system: bool,
        /// Also serve this Bitbucket Data Center URL (repeatable)
        #[arg(long = "url", value_name = "URL")]
        urls: Vec<String>,
    },
    /// Remove what `configure` added
    Unconfigure {
        /// Change the system git config instead of the global one
        #[arg(long)]
        system: bool,
        /// Also remove this URL's settings (repeatable)
        #[arg(long = "url", value_name = "URL")]
        urls: Vec<String>,
    },
    /// Sign in without a git command (browser OAuth or a token) and store the result
    Login {
        /// Bitbucket URL [default: https://bitbucket.org]
        url: Option<String>,
        /// How to sign in [default: oauth when a consumer is configured, else token]
        #[arg(long, value_enum)]
        method: Option<LoginMethod>,
        /// Account name to sign in as (asked when absent)
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// The token is a Data Center project or repository token (sent as Authorization: Bearer)
        #[arg(long)]
        bearer: bool,
        /// Make this account the host default (answers remotes without a username) even when
        /// another account is the default [asked at a terminal when absent]
        #[arg(long)]
        default: bool,
        /// First set up an OAuth client (guided: a Cloud consumer in your workspace, or a Data
        /// Center application link's id and secret), then sign in with it
        #[arg(long, conflicts_with_all = ["method", "bearer"])]
        setup_oauth: bool,
    },
    /// Make USER's stored account the host default (answers remotes without a username)
    Use {
        /// The account
        user: String,
        /// Bitbucket URL [default: https://bitbucket.org]
        url: Option<String>,
    },
    /// Delete every secret stored for an account (access, refresh, host default copy)
    Logout {
        /// Bitbucket URL [default: https://bitbucket.org]
        url: Option<String>,
        /// Which account [default: the host default]
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Also forget the OAuth client `login --setup-oauth` saved (secret and id)
        #[arg(long)]
        forget_oauth: bool,
    },
    /// Show the stored accounts per host: kind and expiry, never a secret
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Print a fresh access token on stdout (refreshed if needed), for scripts and curl
    Token {
        /// Bitbucket URL [default: https://bitbucket.org]
        url: Option<String>,
        /// Which account [default: the host default]
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
    },
    /// Check the environment, settings, store and network; exit 1 when something is wrong
    Diagnose {
        /// Bitbucket URL to check [default: https://bitbucket.org]
        url: Option<String>,
    },
    /// Print a shell completion script
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages into a directory
    #[command(name = "generate-man")]
    GenerateMan {
        /// Where to write git-credential-bitbucket.1 (and one page per subcommand)
        dir: PathBuf,
    },
    /// Any other operation: git may add new ones, and they are silently ignored.
    #[command(external_subcommand, hide = true)]
    Other(Vec<OsString>),
}

impl Cli {
    /// This process's command line. Git runs `get`, `store` and `erase` with no option on
    /// every fetch and push; those skip building clap's command tree (about a tenth of the
    /// instructions of a hot `get`). Everything else, `get --help` included, goes to clap.
    pub fn from_args(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
        let args: Vec<OsString> = args.into_iter().collect();
        match protocol_operation(&args) {
            Some(command) => Ok(Cli { command }),
            None => Cli::try_parse_from(args),
        }
    }
}

/// `PROGRAM get|store|erase` and nothing more: one of git's operations.
fn protocol_operation(args: &[OsString]) -> Option<Command> {
    let [_, op] = args else { return None };
    match op.to_str()? {
        "get" => Some(Command::Get),
        "store" => Some(Command::Store),
        "erase" => Some(Command::Erase),
        _ => None,
    }
}

/// Write the shell completion script for `shell` to `out`. It is made in memory first:
/// `clap_complete` panics on a write error (a reader that closed the pipe).
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "git-credential-bitbucket", &mut script);
    out.write_all(&script)
}

/// Write `git-credential-bitbucket.1` and a page per subcommand into `dir`.
pub fn generate_man(dir: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let command = Cli::command();
    let mut written = Vec::new();
    let main = dir.join("git-credential-bitbucket.1");
    let mut buffer = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut buffer)?;
    std::fs::write(&main, buffer)?;
    written.push(main);
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("git-credential-bitbucket-{}", sub.get_name());
        let sub = sub.clone().name(name.clone());
        let mut buffer = Vec::new();
        clap_mangen::Man::new(sub).render(&mut buffer)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, buffer)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        std::iter::once("git-credential-bitbucket").chain(words.iter().copied()).map(OsString::from).collect()
    }

    #[test]
    fn git_operations_skip_clap_and_mean_what_clap_would_parse() {
        for op in ["get", "store", "erase"] {
            let fast = protocol_operation(&args(&[op])).expect("a git operation");
            let clap = Cli::try_parse_from(args(&[op])).expect("clap parses it").command;
            assert_eq!(format!("{fast:?}"), format!("{clap:?}"));
        }
    }

    #[test]
    fn anything_else_goes_to_clap() {
        for words in [&["get", "--help"][..], &["--version"], &["list"], &["GET"], &[], &["get", "x"]] {
            assert!(protocol_operation(&args(words)).is_none(), "{words:?}");
        }
        assert!(Cli::from_args(args(&["get", "--help"])).is_err(), "clap answers --help");
    }
}
