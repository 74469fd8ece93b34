//! Test support for `git-credential-bitbucket`: a fake Bitbucket server (Cloud and Data
//! Center) that serves real git repositories through `git http-backend` and implements the
//! OAuth and REST endpoints the helper talks to, a private Secret Service (gnome-keyring in its
//! own D-Bus session), isolated git environments, and real network pieces: a proxy
//! (tinyproxy) and TLS from a private CA (openssl, stunnel). It exists only for tests and benchmarks:
//! it must never be a dependency of the shipped helper, and it never talks to a real Bitbucket.

#![warn(missing_docs)]
#![deny(clippy::print_stdout)]

pub mod bins;
pub mod client;
pub mod fake;
pub mod gitenv;
pub mod keyring;
pub mod process;
pub mod proxy;
pub mod tls;
pub mod tmux;

pub use bins::support_bin;
pub use client::HttpResponse;
pub use fake::{
    Consent, Counts, FakeBitbucket, Fault, FaultTimes, Gate, Mode, RecordedRequest, RequestKind, SECRET_MARK,
    User,
};
pub use gitenv::GitEnv;
pub use keyring::{KeyringSession, SecretItem};
pub use proxy::Tinyproxy;
pub use tls::{PrivateCa, TlsFront};
pub use tmux::Tmux;
