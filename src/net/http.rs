//! The HTTP client every request goes through, and its errors.
//!
//! One blocking client with bounded connect and total timeouts and no automatic redirects:
//! a redirect is reported, never followed, so a secret can never travel to another host.
//! The proxy and TLS trust are exactly those of a [`Network`] (never read by reqwest from
//! the environment on its own). Nothing here prints; errors carry the URL and status, never
//! a header, a body or a proxy password.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use url::Url;

use super::tls::{ProxyRefused, ServerHosts};
use super::{NetError, Network, ProxyChoice, ProxyTrust, Trust};
use crate::host::redacted;
use crate::secret::Secret;

/// Longest connect timeout of any request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response body read from any endpoint: a user object or a token response is a few
/// KiB; anything bigger is not what the endpoint documents.
pub const MAX_BODY_BYTES: u64 = 256 * 1024;

/// A failed HTTP exchange.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Could not connect, TLS refused, or no answer in time.
    #[error("could not reach {url}: {reason}")]
    Network {
        /// The endpoint.
        url: String,
        /// Why (timeout, refused, TLS).
        reason: String,
    },
    /// The server answered with a redirect, which is not followed.
    #[error(
        "{url} answered with a redirect to {location}; not following it (a secret must not go to another address)"
    )]
    Redirect {
        /// The endpoint.
        url: String,
        /// Where it pointed (scheme, host and path only).
        location: String,
    },
    /// An unexpected status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The endpoint.
        url: String,
        /// The status code.
        status: u16,
        /// Bitbucket's `error` field, when the body had one.
        error: Option<String>,
    },
    /// The proxy could not be reached, refused the request or wants authentication.
    #[error("could not reach {url} through the proxy {proxy} (from {origin}): {reason}")]
    Proxy {
        /// The endpoint.
        url: String,
        /// The proxy, without user or password.
        proxy: String,
        /// The setting it came from.
        origin: String,
        /// What went wrong, and what to do.
        reason: String,
    },
    /// The server's TLS certificate is not trusted.
    #[error("could not reach {url}: the TLS certificate of {host} is not trusted ({reason}); {fix}")]
    Untrusted {
        /// The endpoint.
        url: String,
        /// The server.
        host: String,
        /// The TLS library's reason.
        reason: String,
        /// Which setting fixes it.
        fix: String,
    },
    /// A body that is not what the endpoint documents.
    #[error("{url} answered something that is not the expected JSON: {reason}")]
    BadResponse {
        /// The endpoint.
        url: String,
        /// What was wrong (never the body).
        reason: String,
    },
}

/// The blocking HTTP client all requests go through.
#[derive(Debug, Clone)]
pub struct Http {
    client: Client,
    network: Arc<Network>,
    /// The server hosts the TLS verifier tells from the proxy's (`net::tls`).
    servers: Arc<ServerHosts>,
}

impl Http {
    /// A client that reaches servers as `network` says: its proxy (with `NO_PROXY` applied
    /// per request) and its TLS trust, nothing read from the environment by reqwest.
    pub fn with_network(total: Duration, network: Network) -> Result<Http, NetError> {
        let mut builder = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(total))
            .timeout(total)
            .redirect(reqwest::redirect::Policy::none())
            // No connection is kept for a next request: a run makes a few requests at most, and
            // a proxy (or server) that closes a connection after answering would otherwise
            // race the reuse ("connection closed before message completed", seen with
            // tinyproxy between the token request and the user look-up).
            .pool_max_idle_per_host(0)
            .user_agent(concat!("git-credential-bitbucket/", env!("CARGO_PKG_VERSION")))
            .no_proxy();
        let network = Arc::new(network);
        if let Some(proxy) = &network.proxy {
            let exceptions =
                network.no_proxy.as_ref().map(|(list, from)| format!("; except {list:?} ({from})"));
            tracing::debug!(
                target: "http",
                "proxy {} (from {}){}",
                proxy.redacted(),
                proxy.origin,
                exceptions.unwrap_or_default()
            );
        }
        if network.proxy.is_some() {
            let decision = Arc::clone(&network);
            builder = builder.proxy(reqwest::Proxy::custom(move |url| {
                decision.proxy_for(url).map(|proxy| proxy.url.clone())
            }));
        }
        // The server's trust and an https proxy's, apart (see `net::tls`).
        let (tls, servers) = super::tls::client_config(&network)?;
        builder = builder.tls_backend_preconfigured(tls);
        let client = builder.build().map_err(|e| NetError::Client(reason(&e)))?;
        Ok(Http { client, network, servers })
    }

    /// Send `request` to `url` and check for redirects and transport errors.
    pub fn send(&self, url: &Url, request: RequestBuilder) -> Result<Response, ApiError> {
        tracing::debug!(target: "http", "{} ...", redacted(url));
        let request = request.build().map_err(|e| self.failure(url, &e))?;
        self.servers.add(request.url());
        let response = self.client.execute(request).map_err(|e| self.failure(url, &e))?;
        tracing::debug!(target: "http", "{} -> {}", redacted(url), response.status().as_u16());
        if response.status() == StatusCode::PROXY_AUTHENTICATION_REQUIRED
            && let Some(proxy) = self.network.proxy_for(url)
        {
            return Err(proxy_error(url, proxy, PROXY_AUTH));
        }
        if response.status().is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .map(|u| redacted(&u))
                .unwrap_or_else(|| "an unknown address".to_owned());
            return Err(ApiError::Redirect { url: redacted(url), location });
        }
        Ok(response)
    }

    /// `GET url` with HTTP Basic.
    pub fn get_basic(&self, url: &Url, username: &str, secret: &Secret) -> Result<Response, ApiError> {
        self.send(url, self.client.get(url.clone()).basic_auth(username, Some(secret.expose())))
    }

    /// `GET url` with `Authorization: Bearer`.
    pub fn get_bearer(&self, url: &Url, token: &Secret) -> Result<Response, ApiError> {
        self.send(url, self.client.get(url.clone()).bearer_auth(token.expose()))
    }

    /// The underlying client, for building other requests.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

const PROXY_AUTH: &str = "the proxy wants a user and password (HTTP 407); write them in the proxy URL, e.g. http://USER:PASSWORD@proxy.example.com:3128, or check the ones there";

impl Http {
    /// The error for a request that got no response: an untrusted certificate names the
    /// setting that fixes it; any other failure while a proxy is in force names the proxy and
    /// its setting (the proxy may be what failed).
    fn failure(&self, url: &Url, e: &reqwest::Error) -> ApiError {
        if let Some(refused) = ProxyRefused::find(e) {
            return self.proxy_untrusted(url, refused);
        }
        let causes = causes(e);
        if let Some(cause) = causes.iter().find(|c| c.contains("certificate"))
            && let Some(host) = url.host_str()
        {
            return ApiError::Untrusted {
                url: redacted(url),
                host: host.to_owned(),
                reason: cause.clone(),
                fix: untrusted_fix(&self.network.trust, url),
            };
        }
        if let Some(proxy) = self.network.proxy_for(url) {
            let target = format!(
                "{}:{}",
                url.host_str().unwrap_or_default(),
                url.port_or_known_default().unwrap_or(0)
            );
            let why = if causes.iter().any(|c| c.contains("proxy authorization required")) {
                PROXY_AUTH.to_owned()
            } else if causes.iter().any(|c| c.contains("tunnel error: unsuccessful")) {
                format!(
                    "the proxy refused to open a connection to {target} (wrong proxy user or password, or a port the proxy does not allow)"
                )
            } else {
                reason(e)
            };
            return proxy_error(url, proxy, &why);
        }
        ApiError::Network { url: redacted(url), reason: reason(e) }
    }
}

impl Http {
    /// The error for a certificate refused by the https proxy's check: named with the proxy
    /// and `http.proxySSLCAInfo`, never with the server's settings, which do not apply to it.
    fn proxy_untrusted(&self, url: &Url, refused: &ProxyRefused) -> ApiError {
        let host = url.host_str().unwrap_or_default().to_owned();
        let (checked, fix) = match &self.network.proxy_trust {
            ProxyTrust::System => (
                "the system trust store".to_owned(),
                "if a private CA issued it, set http.proxySSLCAInfo to a PEM file holding that CA",
            ),
            ProxyTrust::Only(path, origin) => (
                format!("{} only ({origin}), which does not hold the CA that issued it", path.display()),
                "point http.proxySSLCAInfo at a PEM file holding that CA",
            ),
        };
        let rule = "http.sslVerify, http.sslCAInfo and http.sslCAPath apply to the server, never to the proxy, for git and this helper alike";
        match self.network.proxy_for(url) {
            Some(proxy) => proxy_error(
                url,
                proxy,
                &format!(
                    "the proxy's TLS certificate is not trusted ({}): it was checked against {checked}; {fix} ({rule})",
                    refused.reason
                ),
            ),
            // The server shares the https proxy's host name, so it met the proxy's check too.
            None => ApiError::Untrusted {
                url: redacted(url),
                host,
                reason: refused.reason.clone(),
                fix: format!(
                    "{} is also the host of the https proxy, so its certificate must pass the proxy's check as well: it was checked against {checked}; {fix}",
                    url.host_str().unwrap_or_default()
                ),
            },
        }
    }
}

fn proxy_error(url: &Url, proxy: &ProxyChoice, reason: &str) -> ApiError {
    ApiError::Proxy {
        url: redacted(url),
        proxy: proxy.redacted(),
        origin: proxy.origin.to_string(),
        reason: reason.to_owned(),
    }
}

fn untrusted_fix(trust: &Trust, url: &Url) -> String {
    let origin = url.origin().ascii_serialization();
    match trust {
        Trust::Only { ca_info, ca_path } => {
            let named: Vec<String> = ca_info
                .iter()
                .chain(ca_path)
                .map(|(path, from)| format!("{} ({from})", path.display()))
                .collect();
            format!(
                "it was checked only against {}, which does not hold the CA that issued it; point http.sslCAInfo at a PEM file holding that CA",
                named.join(" and ")
            )
        }
        _ => format!(
            "if a private CA issued it (or a proxy inspects TLS), set http.sslCAInfo to a PEM file holding that CA, for git and this helper alike: git config --global http.{origin}/.sslCAInfo /path/to/ca.pem"
        ),
    }
}

/// The error and each of its sources, outermost first.
fn causes(e: &reqwest::Error) -> Vec<String> {
    let mut all = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        all.push(s.to_string());
        source = s.source();
    }
    all
}

fn reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    if e.is_connect() {
        return "connection failed".to_owned();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

/// Read a response body of at most [`MAX_BODY_BYTES`]; a larger one is an error, never
/// read to its end.
pub fn read_body(url: &Url, response: Response) -> Result<Vec<u8>, ApiError> {
    use std::io::Read;
    let mut body = Vec::new();
    response.take(MAX_BODY_BYTES + 1).read_to_end(&mut body).map_err(|e| ApiError::Network {
        url: redacted(url),
        reason: format!("reading the answer failed: {e}"),
    })?;
    if body.len() as u64 > MAX_BODY_BYTES {
        return Err(ApiError::BadResponse {
            url: redacted(url),
            reason: format!("the answer is larger than {} KiB", MAX_BODY_BYTES / 1024),
        });
    }
    Ok(body)
}
