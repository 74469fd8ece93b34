//! What went wrong, at two grains. [`Failure`], inside the crate, names every way a step can
//! fail, each with a message for the person at the terminal; the commands choose the exit
//! code and add the command line to run next. [`Error`], the public one, sorts them by what
//! a calling program can do about it, and keeps the message.

use crate::protocol::ProtocolError;
use crate::{bitbucket, host, lock, net, oauth, prompt, settings, store};

/// Everything that can go wrong inside the crate, each with a message for the person at the
/// terminal (the command line to run next is the commands' to add).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
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
    #[error("Bitbucket refused to refresh the sign-in for {url} ({reason}); the saved sign-in was kept")]
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
    #[error("not signed in to {url}")]
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
    #[error("nothing is stored for {username} at {url}")]
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
    #[error("{url} is not a Bitbucket host this helper serves")]
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

/// What went wrong, sorted by what the calling program can do about it. Each variant holds
/// the one-line message for the person ([`Display`](std::fmt::Display)); new kinds may be
/// added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing is stored for the account and nobody can sign in here (no terminal, prompts
    /// off, not interactive): sign in first, interactively.
    #[error(transparent)]
    NotSignedIn(Detail),
    /// Bitbucket refused: a typed token, a new or refreshed token, or an OAuth client's id and
    /// secret. Signing in again, or other credentials, may help; retrying the same will not.
    #[error(transparent)]
    Refused(Detail),
    /// Bitbucket, or the proxy in front of it, could not be reached or gave an answer that
    /// cannot be used; the stored sign-in was kept. Trying again later may help.
    #[error(transparent)]
    Unreachable(Detail),
    /// The input, a setting, the URL or the host is not what it must be: fix it and try again.
    #[error(transparent)]
    BadInput(Detail),
    /// The secret store (or the lock around a refresh) cannot be used right now.
    #[error(transparent)]
    StoreUnavailable(Detail),
    /// A person is needed (a prompt, a browser) and there is no terminal to ask on.
    #[error(transparent)]
    NeedsPerson(Detail),
    /// Anything else (writing the answer, a git too old for the stored token, ...).
    #[error(transparent)]
    Other(Detail),
}

/// The message of an [`Error`], for the person: what failed, on what. Print it; its inside
/// is not part of the API.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Detail(Box<Failure>);

impl From<Failure> for Error {
    fn from(failure: Failure) -> Error {
        let kind = match &failure {
            Failure::NotSignedIn { .. } | Failure::NoSuchAccount { .. } => Error::NotSignedIn,
            Failure::RefreshRefused { .. }
            | Failure::NewTokenRefused { .. }
            | Failure::TypedTokenRefused { .. }
            | Failure::ConsumerRefused { .. }
            | Failure::Token(oauth::TokenError::Rejected { .. }) => Error::Refused,
            Failure::Api(_)
            | Failure::Token(oauth::TokenError::Api(_))
            | Failure::RefreshFailed { .. }
            | Failure::ConsumerUnchecked { .. } => Error::Unreachable,
            Failure::Input(ProtocolError::Io(_)) => Error::Other,
            Failure::Input(_)
            | Failure::Config(_)
            | Failure::Host(_)
            | Failure::Network(_)
            | Failure::Endpoint(_)
            | Failure::NoOAuthClient
            | Failure::NotBitbucket { .. }
            | Failure::Usage(_) => Error::BadInput,
            Failure::Store(_) | Failure::Lock(_) => Error::StoreUnavailable,
            Failure::NoTerminal => Error::NeedsPerson,
            _ => Error::Other,
        };
        kind(Detail(Box::new(failure)))
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        match error {
            Error::NotSignedIn(detail)
            | Error::Refused(detail)
            | Error::Unreachable(detail)
            | Error::BadInput(detail)
            | Error::StoreUnavailable(detail)
            | Error::NeedsPerson(detail)
            | Error::Other(detail) => *detail.0,
        }
    }
}
