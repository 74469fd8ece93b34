//! `git-credential-bitbucket`: sign in to Bitbucket (Cloud and Data Center) once, then keep
//! git working silently.
//!
//! The binary is a thin user of this library: [`run_operation`] answers git, [`commands`]
//! are what a person runs, [`access::TokenRequest`] gets a token for other Rust programs.
//! Secrets are kept in a [`store::SecretStore`] and live in the process only as [`Secret`],
//! which cannot be printed by accident. `docs/architecture.md` walks through the modules.
#![deny(clippy::print_stdout)]
#![warn(missing_docs)]

pub mod access;
mod auth;
mod bitbucket;
pub mod cli;
pub mod commands;
mod configure;
mod decide;
mod host;
mod lock;
mod net;
mod oauth;
mod operation;
pub mod prompt;
mod protocol;
mod recognized;
mod rescue;
mod secret;
mod settings;
mod signals;
pub mod store;
mod target;
#[cfg(all(test, unix))]
mod test_script;
pub mod trace;

pub use auth::Context;
pub use operation::{Operation, Overrides, run_operation, run_operation_with, unix_now};
pub(crate) use operation::{authenticator_with, settings_for};
pub use protocol::{Credential, ProtocolError};
pub use secret::Secret;

/// The parsers the fuzz targets exercise, reachable only with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    pub use crate::oauth::callback::{CallbackOutcome, judge_callback, judge_pasted};
    pub use crate::oauth::{MAX_TOKEN_BYTES, ParsedError, parse_token_response};
}

/// Everything that can go wrong, each with a message for the person at the terminal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Git's input could not be read, or is not what the protocol allows.
    #[error("{}", input_message(.0))]
    Input(ProtocolError),
    /// The answer could not be sent to git (a value git could not read back, or a closed pipe).
    #[error("{}", answer_message(.0))]
    Answer(ProtocolError),
    /// A command's own output could not be written.
    #[error("could not write the output: {0}")]
    Output(std::io::Error),
    /// A setting is wrong or git config could not be read.
    #[error(transparent)]
    Config(#[from] settings::ConfigError),
    /// The host is refused.
    #[error(transparent)]
    Host(#[from] host::HostError),
    /// The secret store failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A request to Bitbucket failed.
    #[error(transparent)]
    Api(#[from] net::http::ApiError),
    /// A proxy or TLS setting cannot be used.
    #[error(transparent)]
    Network(#[from] net::NetError),
    /// A Data Center base URL cannot be found.
    #[error(transparent)]
    Endpoint(#[from] bitbucket::EndpointError),
    /// An OAuth exchange failed.
    #[error(transparent)]
    Token(#[from] oauth::TokenError),
    /// The refresh lock could not be taken.
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    /// A prompt failed.
    #[error(transparent)]
    Prompt(#[from] prompt::PromptError),
    /// A refresh failed for a reason other than a dead refresh token; every token was kept.
    #[error("could not refresh the sign-in for {url}: {reason}; the saved sign-in was kept")]
    RefreshFailed {
        /// The account (no secret in it).
        url: String,
        /// What went wrong and what to check.
        reason: String,
    },
    /// Bitbucket refused the refresh for a reason that is not about the client, and nobody
    /// can sign in here (no terminal, or prompts off); the refresh token was kept.
    #[error(
        "Bitbucket refused to refresh the sign-in for {url} ({reason}); the saved sign-in was kept; sign in again with: git-credential-bitbucket login {url}"
    )]
    RefreshRefused {
        /// The account (no secret in it).
        url: String,
        /// What the token endpoint said (its error code or status, never a body).
        reason: String,
    },
    /// OAuth was asked for, but no consumer (Cloud) or client (Data Center) is configured.
    #[error("{}", bitbucket::NO_CLIENT)]
    NoOAuthClient,
    /// Nothing is stored and no sign-in is possible here.
    #[error("not signed in to {url}; run: git-credential-bitbucket login {url}")]
    NotSignedIn {
        /// The Bitbucket URL.
        url: String,
    },
    /// A Bearer-only token, and a git that cannot send one.
    #[error(
        "the token stored for {url} is a Data Center project or repository token, which works only as `Authorization: Bearer`; git 2.46 or newer is needed to send it (this git did not announce capability[]=authtype)"
    )]
    GitTooOldForBearer {
        /// The account.
        url: String,
    },
    /// The user endpoint refused the access token a sign-in just returned.
    #[error("{url} did not accept the new access token; nothing was stored")]
    NewTokenRefused {
        /// The user endpoint.
        url: String,
    },
    /// The email and token the person typed were refused.
    #[error("Bitbucket refused that email and token for {url}; nothing was stored")]
    TypedTokenRefused {
        /// The account.
        url: String,
    },
    /// `use` names an account that has nothing stored.
    #[error(
        "nothing is stored for {username} at {url}; sign in first: git-credential-bitbucket login {url} --user {username}"
    )]
    NoSuchAccount {
        /// The host.
        url: String,
        /// The account asked for.
        username: String,
    },
    /// A command needs a terminal to ask on.
    #[error("there is no terminal to ask for the token on; run this command in a terminal")]
    NoTerminal,
    /// A URL this helper does not serve was given to a command.
    #[error(
        "{url} is not a Bitbucket host this helper serves; for Data Center run: git-credential-bitbucket configure --url {url}"
    )]
    NotBitbucket {
        /// The URL as given.
        url: String,
    },
    /// `login --setup-oauth`: the token endpoint refused the id and secret typed.
    #[error(
        "Bitbucket refused that {what} (invalid_client at {url}); nothing was saved: copy both again from {from} and run the set-up again"
    )]
    ConsumerRefused {
        /// The token endpoint.
        url: String,
        /// What was typed (`key and secret`, `client ID and secret`).
        what: &'static str,
        /// Where they are copied from.
        from: &'static str,
    },
    /// `login --setup-oauth`: the id and secret could not be checked.
    #[error("could not check the {what} at {url} ({reason}); nothing was saved")]
    ConsumerUnchecked {
        /// The token endpoint.
        url: String,
        /// What was typed.
        what: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// `diagnose` found problems (it printed them).
    #[error("diagnose found problems (see above)")]
    ProblemsFound,
    /// Bad usage of a command.
    #[error("{0}")]
    Usage(String),
}

fn input_message(e: &ProtocolError) -> String {
    match e {
        ProtocolError::Io(io) => format!("could not read git's input: {io}"),
        _ => format!("bad input: {e}"),
    }
}

fn answer_message(e: &ProtocolError) -> String {
    match e {
        ProtocolError::Io(io) => format!("could not send the answer to git: {io}"),
        _ => e.to_string(),
    }
}

impl Error {
    /// The process exit code: 2 for bad usage or bad input, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(ProtocolError::Io(_)) => 1,
            Error::Input(_) | Error::Usage(_) | Error::NotBitbucket { .. } => 2,
            _ => 1,
        }
    }
}
