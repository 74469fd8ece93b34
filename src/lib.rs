//! `git-credential-bitbucket`: sign in to Bitbucket (Cloud and Data Center) once, then keep
//! git working silently.
//!
//! The binary is a thin user of this library. The library parses git's credential protocol
//! ([`Credential`]), decides whether a host is Bitbucket ([`host`]), reads settings from one
//! `git config` call and the environment ([`config`]), keeps secrets in a [`store`], and
//! decides the order of attempts ([`auth`]). Secrets live only in [`Secret`], which cannot be
//! printed by accident.
#![deny(clippy::print_stdout)]
#![warn(missing_docs)]

pub mod access;
pub mod auth;
pub mod bitbucket;
pub mod cli;
pub mod commands;
pub mod config;
pub mod gitconfig;
pub mod host;
pub mod lock;
pub mod net;
pub mod oauth;
pub mod paths;
pub mod prompt;
pub mod protocol;
pub mod recognized;
pub mod rescue;
mod secret;
pub mod store;
pub mod trace;

use std::io::{BufRead, Write};

pub use auth::{Authenticator, Context};
pub use protocol::{Credential, ProtocolError};
pub use secret::Secret;

use crate::config::RawSettings;

/// Everything that can go wrong, each with a message for the person at the terminal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Git (or a person) sent input the protocol does not allow, or the answer could not be
    /// written.
    #[error("{}", protocol_message(.0))]
    Protocol(#[from] ProtocolError),
    /// A setting is wrong or git config could not be read.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The host is refused.
    #[error(transparent)]
    Host(#[from] host::HostError),
    /// The secret store failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A request to Bitbucket failed.
    #[error(transparent)]
    Api(#[from] bitbucket::api::ApiError),
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
    /// Signing in failed; the message says why and what to do.
    #[error("{0}")]
    SignIn(String),
    /// A refresh failed for a reason other than a dead refresh token; every token was kept.
    #[error("could not refresh the sign-in for {url}: {reason}; the saved sign-in was kept")]
    RefreshFailed {
        /// The account (no secret in it).
        url: String,
        /// What went wrong and what to check.
        reason: String,
    },
    /// A valid password of an account with two-step verification (switch to OAuth).
    #[error("two-step verification is on for this account: sign in with OAuth")]
    TwoStep,
    /// Bad usage of a command.
    #[error("{0}")]
    Usage(String),
}

fn protocol_message(e: &ProtocolError) -> String {
    match e {
        ProtocolError::Io(io) => format!("could not read the input or write the answer: {io}"),
        ProtocolError::UnwritableValue { .. } | ProtocolError::AnswerTooLarge { .. } => e.to_string(),
        _ => format!("bad input: {e}"),
    }
}

impl Error {
    /// The process exit code: 2 for bad usage or bad input, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Protocol(
                ProtocolError::Io(_)
                | ProtocolError::UnwritableValue { .. }
                | ProtocolError::AnswerTooLarge { .. },
            ) => 1,
            Error::Protocol(_) | Error::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// A helper operation from git.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Answer a credential.
    Get,
    /// Keep a credential the server accepted.
    Store,
    /// Forget a credential the server rejected.
    Erase,
}

/// The URL of a request, for `git config --get-urlmatch` and messages. Never with the
/// username: `git config` arguments are visible to every local user (`ps`), and a username
/// can be an email address or worse. So `credential.<url>.*` settings whose URL names a user
/// are not matched (docs/decisions.md). `None` without protocol and host.
pub fn request_url(cred: &Credential) -> Option<String> {
    let (protocol, host) = (cred.protocol.as_deref()?, cred.host.as_deref()?);
    let path = cred.path.as_deref().map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or_default();
    Some(format!("{protocol}://{host}/{path}"))
}

/// Set up the authenticator for `cred`'s host: one `git config` call, host recognition,
/// validated settings, the store. `None` when the host is not one this helper serves.
pub fn authenticator_for<'a>(
    cred: &Credential,
    ctx: &'a Context<'a>,
) -> Result<Option<Authenticator<'a>>, Error> {
    let Some(url) = request_url(cred) else { return Ok(None) };
    let raw = RawSettings::load(&url, ctx.env)?;
    authenticator_with(cred, raw, ctx)
}

/// Like [`authenticator_for`] with settings already read.
pub fn authenticator_with<'a>(
    cred: &Credential,
    raw: RawSettings,
    ctx: &'a Context<'a>,
) -> Result<Option<Authenticator<'a>>, Error> {
    let provider = raw.provider()?;
    let recognized = || recognized::RecognizedHosts::from_env(ctx.env);
    let origin = || {
        host::origin(cred.protocol.as_deref().unwrap_or_default(), cred.host.as_deref().unwrap_or_default())
    };
    let deployment = match host::classify(cred, provider)? {
        Some(host::Deployment::DataCenter) if provider == host::Provider::Auto => {
            // Recognised by the realm git passes to `get` only: remember it for `store`.
            recognized().remember(&origin());
            Some(host::Deployment::DataCenter)
        }
        Some(deployment) => Some(deployment),
        None if provider == host::Provider::Auto
            && cred.protocol.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("https"))
            && recognized().contains(&origin()) =>
        {
            Some(host::Deployment::DataCenter)
        }
        None => None,
    };
    let Some(deployment) = deployment else {
        tracing::debug!("{}: not a Bitbucket host; nothing to do", request_url(cred).unwrap_or_default());
        return Ok(None);
    };
    let mut settings = raw.validate(ctx.env)?;
    if deployment == host::Deployment::DataCenter && provider == host::Provider::Auto {
        confine_to_origin(&mut settings, &origin());
    }
    let store = store::open(&settings);
    Ok(Some(Authenticator::new(settings, deployment, store, ctx)))
}

/// A host recognised only by its realm is any https server that says it is Bitbucket Data
/// Center. It must not receive what belongs to another instance: the configured Data Center
/// base URL and OAuth client apply to it only when that base URL is on the same origin.
fn confine_to_origin(settings: &mut config::Settings, origin: &str) {
    let same_origin = settings.datacenter_url.as_ref().is_some_and(|base| {
        let host = base.host_str().unwrap_or_default();
        let host = base.port().map_or_else(|| host.to_owned(), |port| format!("{host}:{port}"));
        host::origin(base.scheme(), &host) == origin
    });
    if !same_origin {
        if settings.datacenter_url.is_some() || settings.datacenter_client.is_some() {
            tracing::debug!(
                "{origin} was recognised by its realm only: not using the configured Data Center base URL or OAuth client, which belong to another origin"
            );
        }
        settings.datacenter_url = None;
        settings.datacenter_client = None;
    }
}

/// Run one helper operation: read the credential from `input`, answer on `output`.
///
/// Bad input is refused before any store or network is touched. A host this helper does not
/// serve gets no answer and no change.
pub fn run_operation(
    op: Operation,
    input: &mut impl BufRead,
    output: &mut impl Write,
    ctx: &Context,
) -> Result<(), Error> {
    let cred = Credential::read_from(input)?;
    let Some(auth) = authenticator_for(&cred, ctx)? else { return Ok(()) };
    match op {
        Operation::Get => {
            if let Some(answer) = auth.get(&cred)? {
                answer.write_to(output)?;
            }
        }
        Operation::Store => auth.store(&cred)?,
        Operation::Erase => auth.erase(&cred)?,
    }
    Ok(())
}

/// Current time in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
