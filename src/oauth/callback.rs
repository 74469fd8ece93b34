//! The `http://localhost:PORT/` listener that receives the browser after sign-in.
//!
//! It binds loopback only (127.0.0.1, and ::1 when available), accepts exactly one callback
//! whose `state` matches, answers every request with a small static page (nothing from the
//! request is reflected), and closes. [`judge_callback`] is the whole decision, a plain
//! function testable without sockets.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// What one request to the callback listener means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// The authorization code, state verified.
    Code(Secret),
    /// The person refused (`error=access_denied`), state verified.
    Denied,
    /// Another OAuth error, state verified.
    Failed(String),
    /// Missing or wrong `state`, or not a callback at all: answer 400 and keep waiting.
    Forged,
    /// A code pasted without its address where the server does not verify PKCE (Cloud):
    /// nothing binds it to this sign-in, so it is refused and the whole address asked for.
    BareCode,
}

/// Decide what a callback query means. Nothing but an exactly matching `state` ends the wait.
pub fn judge_callback(query: &str, expected_state: &str) -> CallbackOutcome {
    let mut state = None;
    let mut code = None;
    let mut error = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "state" => &mut state,
            "code" => &mut code,
            "error" => &mut error,
            _ => continue,
        };
        if slot.is_some() {
            // A repeated parameter is not something Bitbucket sends.
            return CallbackOutcome::Forged;
        }
        *slot = Some(value.into_owned());
    }
    if !state.as_deref().is_some_and(|s| bool::from(s.as_bytes().ct_eq(expected_state.as_bytes()))) {
        return CallbackOutcome::Forged;
    }
    match (code, error) {
        (Some(code), None) if !code.is_empty() && code.len() <= 4096 => {
            CallbackOutcome::Code(Secret::new(code))
        }
        (None, Some(e)) if e == "access_denied" => CallbackOutcome::Denied,
        (None, Some(e)) => CallbackOutcome::Failed(sanitize(&e)),
        _ => CallbackOutcome::Forged,
    }
}

/// Keep an error code printable: OAuth error codes are short ASCII words.
fn sanitize(error: &str) -> String {
    error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect()
}

/// Why the listener could not run or the wait ended without a code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackError {
    /// The port is taken (another sign-in, or another program).
    #[error(
        "port {port} on localhost is already in use, so the sign-in callback cannot be received; close the program using it, or choose another port with credential.bitbucketOAuthRedirectPort (or GIT_BITBUCKET_OAUTH_PORT) and register http://localhost:PORT/ as the consumer's callback URL"
    )]
    PortInUse { port: u16 },
    /// Binding failed for another reason.
    #[error("cannot listen on localhost:{port}: {reason}")]
    Bind {
        port: u16,
        /// The OS error.
        reason: String,
    },
    /// No callback within the timeout.
    #[error(
        "no sign-in arrived within {secs} seconds; run the command again (or raise credential.bitbucketOAuthTimeout)"
    )]
    Timeout {
        /// The timeout.
        secs: u64,
    },
    /// The person refused access in the browser.
    #[error("access was denied in the browser; nothing was stored")]
    Denied,
    /// Bitbucket sent another OAuth error.
    #[error("Bitbucket answered the sign-in with error '{0}'; nothing was stored")]
    Failed(String),
}

const PAGE_OK: &str = "<!doctype html><meta charset=utf-8><title>Signed in</title>\
<h1>Signed in to Bitbucket</h1><p>git-credential-bitbucket has what it needs. You can close this tab.</p>";
const PAGE_DENIED: &str = "<!doctype html><meta charset=utf-8><title>Access denied</title>\
<h1>Access was denied</h1><p>Nothing was stored. You can close this tab.</p>";
const PAGE_FAILED: &str = "<!doctype html><meta charset=utf-8><title>Sign-in failed</title>\
<h1>Sign-in failed</h1><p>Nothing was stored. See the terminal for details. You can close this tab.</p>";
const PAGE_BAD: &str = "<!doctype html><meta charset=utf-8><title>Not a valid sign-in</title>\
<h1>This is not a valid sign-in response</h1><p>It may be old or forged. Nothing was changed.</p>";

/// Something that ends the wait: a request judged, or a line pasted on the terminal.
#[derive(Debug)]
pub enum Arrival {
    /// A callback request's outcome.
    Callback(CallbackOutcome),
    /// What the person pasted (an address or a bare code).
    Pasted(String),
    /// The browser command failed: show the URL for pasting (handled by the caller).
    BrowserFailed,
}

/// A bound callback listener.
pub struct Listener {
    servers: Vec<Arc<tiny_http::Server>>,
    port: u16,
}

impl Listener {
    /// Bind `127.0.0.1:port` (and `[::1]:port` when the machine has IPv6 loopback).
    pub fn bind(port: u16) -> Result<Listener, CallbackError> {
        let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let first = tiny_http::Server::http(v4).map_err(|e| bind_error(port, &*e))?;
        let port = first.server_addr().to_ip().map_or(port, |a| a.port());
        let mut servers = vec![Arc::new(first)];
        // `localhost` may resolve to ::1 first; serve it too when possible.
        if let Ok(v6) = tiny_http::Server::http(SocketAddr::from((Ipv6Addr::LOCALHOST, port))) {
            servers.push(Arc::new(v6));
        }
        Ok(Listener { servers, port })
    }

    /// The `redirect_uri` registered with the consumer.
    pub fn redirect_uri(&self) -> String {
        format!("http://localhost:{}/", self.port)
    }

    /// Wait for a valid callback (or a pasted answer on `extra`) until `timeout`.
    /// Requests with a wrong `state` get 400 and the wait goes on.
    pub fn wait(
        self,
        expected_state: &str,
        timeout: Duration,
        events: (Sender<Arrival>, Receiver<Arrival>),
        mut on_other: impl FnMut(Arrival) -> Option<Result<Secret, CallbackError>>,
    ) -> Result<Secret, CallbackError> {
        let (tx, rx) = events;
        for server in &self.servers {
            let (server, tx, state) = (Arc::clone(server), tx.clone(), expected_state.to_owned());
            thread::spawn(move || serve(&server, &state, &tx));
        }
        drop(tx);
        let deadline = Instant::now() + timeout;
        let result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Arrival::Callback(CallbackOutcome::Code(code))) => break Ok(code),
                Ok(Arrival::Callback(CallbackOutcome::Denied)) => break Err(CallbackError::Denied),
                Ok(Arrival::Callback(CallbackOutcome::Failed(e))) => break Err(CallbackError::Failed(e)),
                Ok(Arrival::Callback(CallbackOutcome::Forged)) => {
                    tracing::debug!("callback: ignored a request without the right state (answered 400)");
                }
                Ok(other) => {
                    if let Some(done) = on_other(other) {
                        break done;
                    }
                }
                Err(_) => break Err(CallbackError::Timeout { secs: timeout.as_secs() }),
            }
        };
        for server in &self.servers {
            server.unblock();
        }
        result
    }
}

fn bind_error(port: u16, e: &(dyn std::error::Error + Send + Sync + 'static)) -> CallbackError {
    let in_use =
        e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
            || e.to_string().contains("in use");
    if in_use {
        CallbackError::PortInUse { port }
    } else {
        CallbackError::Bind { port, reason: e.to_string() }
    }
}

/// Answer requests until one ends the wait (or the listener is unblocked).
fn serve(server: &tiny_http::Server, expected_state: &str, tx: &Sender<Arrival>) {
    for request in server.incoming_requests() {
        let url = request.url().to_owned();
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        let outcome =
            if path == "/" { judge_callback(query, expected_state) } else { CallbackOutcome::Forged };
        let (status, page) = match &outcome {
            CallbackOutcome::Code(_) => (200, PAGE_OK),
            CallbackOutcome::Denied => (200, PAGE_DENIED),
            CallbackOutcome::Failed(_) => (200, PAGE_FAILED),
            CallbackOutcome::Forged | CallbackOutcome::BareCode => (400, PAGE_BAD),
        };
        let header = tiny_http::Header::from_bytes("Content-Type", "text/html; charset=utf-8")
            .expect("static header is valid");
        let response = tiny_http::Response::from_string(page).with_status_code(status).with_header(header);
        let _ = request.respond(response);
        let ends = !matches!(outcome, CallbackOutcome::Forged);
        if tx.send(Arrival::Callback(outcome)).is_err() || ends {
            return;
        }
    }
}

/// Split what the person pasted: the whole redirected address (judged like a callback,
/// state included), or a bare code. A bare code is taken only where the server verifies PKCE
/// (`pkce_verified`: Data Center), which binds it to this attempt; elsewhere (Cloud ignores
/// PKCE) only the `state` of the whole address can, so a bare code is [`CallbackOutcome::BareCode`].
pub fn judge_pasted(text: &str, expected_state: &str, pkce_verified: bool) -> CallbackOutcome {
    let text = text.trim();
    if let Some((_, query)) = text.split_once('?') {
        return judge_callback(query.split('#').next().unwrap_or_default(), expected_state);
    }
    let looks_like_code = !text.is_empty()
        && text.len() <= 4096
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
    match (looks_like_code, pkce_verified) {
        (true, true) => CallbackOutcome::Code(Secret::new(text)),
        (true, false) => CallbackOutcome::BareCode,
        (false, _) => CallbackOutcome::Forged,
    }
}

/// A channel for [`Listener::wait`].
pub fn events() -> (Sender<Arrival>, Receiver<Arrival>) {
    channel()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_state_and_code_is_accepted() {
        assert_eq!(judge_callback("code=abc&state=s1", "s1"), CallbackOutcome::Code(Secret::new("abc")));
    }

    #[test]
    fn wrong_missing_or_repeated_state_is_forged() {
        for query in [
            "code=abc&state=s2",
            "code=abc&state=s",
            "code=abc&state=s12",
            "code=abc&state=",
            "code=abc",
            "code=abc&state=s1&state=s2",
            "",
            "state=s1",
            "code=&state=s1",
        ] {
            assert_eq!(judge_callback(query, "s1"), CallbackOutcome::Forged, "{query}");
        }
    }

    #[test]
    fn denied_and_other_errors_need_the_state_too() {
        assert_eq!(judge_callback("error=access_denied&state=s1", "s1"), CallbackOutcome::Denied);
        assert_eq!(judge_callback("error=access_denied&state=x", "s1"), CallbackOutcome::Forged);
        assert_eq!(
            judge_callback("error=server_error%3Cscript%3E&state=s1", "s1"),
            CallbackOutcome::Failed("server_errorscript".into())
        );
    }

    #[test]
    fn pasted_address_is_checked_like_a_callback_and_bare_code_only_where_pkce_is_verified() {
        for pkce in [true, false] {
            assert_eq!(
                judge_pasted(" http://localhost:34106/?code=c1&state=s1 \n", "s1", pkce),
                CallbackOutcome::Code(Secret::new("c1"))
            );
            assert_eq!(
                judge_pasted("http://localhost:34106/?code=c1&state=bad", "s1", pkce),
                CallbackOutcome::Forged
            );
            assert_eq!(judge_pasted("not a code", "s1", pkce), CallbackOutcome::Forged);
        }
        assert_eq!(judge_pasted("c0de-1", "s1", true), CallbackOutcome::Code(Secret::new("c0de-1")));
        assert_eq!(judge_pasted("c0de-1", "s1", false), CallbackOutcome::BareCode, "Cloud: no PKCE check");
    }

    #[test]
    fn second_bind_of_the_same_port_names_port_and_setting() {
        let first = Listener::bind(0).unwrap();
        let port = first.port;
        let err = Listener::bind(port).err().unwrap();
        assert_eq!(err, CallbackError::PortInUse { port });
        assert!(err.to_string().contains(crate::settings::key::OAUTH_REDIRECT_PORT));
    }
}
