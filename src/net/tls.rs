//! The TLS configuration of the HTTP client: the server's certificate checked as
//! [`Trust`] says, an `https://` proxy's certificate as [`ProxyTrust`] says, as git has curl
//! do it (`CURLOPT_SSL_VERIFYPEER`/`CURLOPT_CAINFO`/`CURLOPT_CAPATH` for the server,
//! `CURLOPT_PROXY_SSL_VERIFYPEER` left on and `CURLOPT_PROXY_CAINFO` for the proxy).
//!
//! reqwest applies one rustls configuration to the proxy connection and to the connection to
//! the server, so one certificate verifier serves both and chooses by the name it is asked
//! to verify: the proxy's host gets the proxy's check, any other name the server's. When a
//! server the helper sends a request to ([`ServerHosts`], filled by `Http::send`) has the
//! proxy's host name, that name gets both checks (the stricter of the two): the verifier
//! cannot tell the two connections apart, and neither check may be weakened.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use url::{Host, Url};

use super::{NetError, Network, Origin, ProxyTrust, Trust, trust_files};

/// The rustls client configuration for `network`: TLS 1.2 and 1.3, HTTP/1.1, the crypto
/// provider reqwest itself would use, and the verifier described in the module comment.
pub(crate) fn client_config(network: &Network) -> Result<(rustls::ClientConfig, Arc<ServerHosts>), NetError> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let mut system: Option<Arc<dyn ServerCertVerifier>> = None;
    let mut system_verifier = || -> Result<Arc<dyn ServerCertVerifier>, NetError> {
        if let Some(verifier) = &system {
            return Ok(Arc::clone(verifier));
        }
        let verifier: Arc<dyn ServerCertVerifier> = Arc::new(
            rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
                .map_err(|e| NetError::Client(format!("cannot read the system trust store: {e}")))?,
        );
        system = Some(Arc::clone(&verifier));
        Ok(verifier)
    };
    let server = match &network.trust {
        Trust::System => Some(system_verifier()?),
        Trust::Only { .. } => Some(only(server_anchors(&network.trust)?, &provider)?),
        Trust::Off(_) => None,
    };
    let proxy = match network.proxy.as_ref().filter(|p| p.url.scheme() == "https") {
        Some(choice) => {
            let verifier = match &network.proxy_trust {
                ProxyTrust::System => system_verifier()?,
                ProxyTrust::Only(file, origin) => only(anchors_in(file, origin, true)?, &provider)?,
            };
            let name = url_name(&choice.url)
                .ok_or_else(|| NetError::Client(format!("{} has no host name", choice.redacted())))?;
            Some(ProxyCheck { name, verifier })
        }
        None => None,
    };
    let servers = Arc::new(ServerHosts::default());
    let verifier = ByName {
        server,
        proxy,
        servers: Arc::clone(&servers),
        algorithms: provider.signature_verification_algorithms,
    };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| NetError::Client(e.to_string()))?
        .dangerous();
    let mut config = builder.with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth();
    // What reqwest offers when it builds the configuration itself (no HTTP/2 here).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, servers))
}

/// The hosts of the servers requests were sent to (never the proxy's, unless a server has
/// its name too).
#[derive(Debug, Default)]
pub(crate) struct ServerHosts(Mutex<Vec<ServerName<'static>>>);

impl ServerHosts {
    /// Note the host of a URL a request is about to go to.
    pub(crate) fn add(&self, url: &Url) {
        let Some(name) = url_name(url) else { return };
        let mut names = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !names.iter().any(|n| same_host(n, &name)) {
            names.push(name);
        }
    }

    fn contains(&self, name: &ServerName<'_>) -> bool {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().any(|n| same_host(n, name))
    }
}

fn only(
    anchors: Vec<CertificateDer<'static>>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, NetError> {
    let mut roots = RootCertStore::empty();
    for anchor in anchors {
        roots.add(anchor).map_err(|e| NetError::Client(format!("a trusted certificate is unusable: {e}")))?;
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|e| NetError::Client(e.to_string()))?;
    Ok(verifier)
}

/// The name rustls is asked to verify when the client connects to `url`'s host.
pub(crate) fn url_name(url: &Url) -> Option<ServerName<'static>> {
    match url.host()? {
        Host::Domain(name) => ServerName::try_from(name.to_owned()).ok(),
        Host::Ipv4(ip) => Some(ServerName::from(std::net::IpAddr::V4(ip))),
        Host::Ipv6(ip) => Some(ServerName::from(std::net::IpAddr::V6(ip))),
    }
}

/// Whether two server names are the same host: DNS names without letter case or a final
/// dot, addresses as addresses.
pub(crate) fn same_host(a: &ServerName<'_>, b: &ServerName<'_>) -> bool {
    match (a, b) {
        (ServerName::DnsName(a), ServerName::DnsName(b)) => {
            a.as_ref().trim_end_matches('.').eq_ignore_ascii_case(b.as_ref().trim_end_matches('.'))
        }
        (ServerName::IpAddress(a), ServerName::IpAddress(b)) => a == b,
        _ => false,
    }
}

#[derive(Debug)]
struct ProxyCheck {
    name: ServerName<'static>,
    verifier: Arc<dyn ServerCertVerifier>,
}

/// The verifier choosing by name (see the module comment). Handshake signatures are always
/// checked, whoever the peer: rustls asks for them without saying which connection they
/// belong to, and the proxy's must be checked.
#[derive(Debug)]
struct ByName {
    /// The server's check; `None` when verification is off for the server.
    server: Option<Arc<dyn ServerCertVerifier>>,
    /// The `https://` proxy's host and check.
    proxy: Option<ProxyCheck>,
    /// The servers' hosts.
    servers: Arc<ServerHosts>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ByName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(proxy) = self.proxy.as_ref().filter(|p| same_host(&p.name, server_name)) {
            proxy
                .verifier
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map_err(ProxyRefused::wrap)?;
            if !self.servers.contains(server_name) {
                return Ok(ServerCertVerified::assertion());
            }
        }
        match &self.server {
            Some(server) => {
                server.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The proxy's certificate failed the proxy's check: carried inside the rustls error so the
/// message can name the proxy and `http.proxySSLCAInfo` rather than the server's settings.
#[derive(Debug)]
pub(crate) struct ProxyRefused {
    /// The TLS library's reason, e.g. `invalid peer certificate: UnknownIssuer`.
    pub(crate) reason: String,
}

impl ProxyRefused {
    fn wrap(error: rustls::Error) -> rustls::Error {
        let refused = ProxyRefused { reason: error.to_string() };
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(refused))))
    }

    /// The refusal somewhere in `error`'s chain of sources (the TLS error travels inside
    /// `io::Error`s, whose `source()` skips what they wrap, so each one is opened too).
    pub(crate) fn find<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e ProxyRefused> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(found) = ProxyRefused::inside(e) {
                return Some(found);
            }
            // io::Error in io::Error in rustls::Error, as tunnels wrap them.
            let mut wrapped: &(dyn std::error::Error + 'static) = e;
            while let Some(inner) = wrapped.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
                if let Some(found) = ProxyRefused::inside(inner) {
                    return Some(found);
                }
                wrapped = inner;
            }
            next = e.source();
        }
        None
    }

    fn inside<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e ProxyRefused> {
        match error.downcast_ref::<rustls::Error>()? {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(other))) => {
                other.downcast_ref::<ProxyRefused>()
            }
            _ => None,
        }
    }
}

impl fmt::Display for ProxyRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the proxy's certificate: {}", self.reason)
    }
}

impl std::error::Error for ProxyRefused {}

/// The certificates of every PEM file [`Trust::Only`] names.
fn server_anchors(trust: &Trust) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let mut anchors = Vec::new();
    // `http.sslCAPath` and `http.sslCAInfo` (or their variables) always differ in origin.
    let from_dir =
        |origin: &Origin| matches!(trust, Trust::Only { ca_path: Some((_, o)), .. } if o == origin);
    for (file, origin) in &trust_files(trust)? {
        match anchors_in(file, origin, !from_dir(origin)) {
            Ok(certs) => anchors.extend(certs),
            // A CA directory may hold other files (hash links, CRLs, READMEs).
            Err(_) if from_dir(origin) => {}
            Err(e) => return Err(e),
        }
    }
    if anchors.is_empty()
        && let Trust::Only { ca_path: Some((dir, origin)), .. } = trust
    {
        return Err(NetError::Trust {
            path: dir.display().to_string(),
            origin: origin.clone(),
            reason: "no PEM certificate in it".to_owned(),
        });
    }
    Ok(anchors)
}

/// The PEM certificates in `file`; none is an error when `required`.
pub(crate) fn anchors_in(
    file: &Path,
    origin: &Origin,
    required: bool,
) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let trouble =
        |reason: String| NetError::Trust { path: file.display().to_string(), origin: origin.clone(), reason };
    let pem = std::fs::read(file).map_err(|e| trouble(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| trouble(format!("not a PEM certificate file ({e})")))?;
    if certs.is_empty() && required {
        return Err(trouble("no PEM certificate in it".to_owned()));
    }
    Ok(certs)
}
