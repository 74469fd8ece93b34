//! The command line, defined once with clap: the binary parses it, and the man page and
//! shell completions are generated from the same definition.

use std::ffi::OsString;

use clap::{Parser, Subcommand};

/// Git credential helper for Bitbucket Cloud and Data Center.
#[derive(Debug, Parser)]
#[command(
    name = "git-credential-bitbucket",
    version,
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
    /// Any other operation: git may add new ones, and they are silently ignored.
    #[command(external_subcommand)]
    Other(Vec<OsString>),
}
