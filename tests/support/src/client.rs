//! A minimal blocking HTTP/1.0 client for plain-`http` URLs, so tests can talk to the fake
//! server (and to the helper's OAuth callback listener) without an HTTP crate. It never follows
//! redirects, never speaks TLS and is not meant for anything but loopback test servers.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// How long a request may wait for the server before failing with a timeout error.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A complete HTTP response: status, headers in the order received, and the whole body.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// The status code, e.g. `200`.
    pub status: u16,
    /// Header names and values as received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked when the server used chunked transfer encoding.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// The value of an `Authorization` header for HTTP Basic with these credentials.
pub fn basic_auth(username: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{username}:{password}")))
}

/// `GET url` with no extra headers.
pub fn get(url: &str) -> io::Result<HttpResponse> {
    request("GET", url, &[], &[])
}

/// `POST url` with an `application/x-www-form-urlencoded` body built from `form`.
pub fn post_form(url: &str, headers: &[(&str, &str)], form: &[(&str, &str)]) -> io::Result<HttpResponse> {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    request("POST", url, &all, body.as_bytes())
}

/// Sends one request over a fresh connection and reads the whole response.
///
/// `url` must be `http://host:port/path?query`. A `Content-Length` header is added when
/// `body` is not empty; `headers` are sent as given.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> io::Result<HttpResponse> {
    let parsed = url::Url::parse(url).map_err(|e| invalid(format!("bad URL {url}: {e}")))?;
    if parsed.scheme() != "http" {
        return Err(invalid(format!("only http:// URLs are supported, not {url}")));
    }
    let host = parsed.host_str().ok_or_else(|| invalid(format!("no host in {url}")))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let target = match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    };

    let mut stream = TcpStream::connect((host, port))?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut head = format!("{method} {target} HTTP/1.0\r\nHost: {host}:{port}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// Sends `raw` (a complete request, exactly as given) to `host` (`127.0.0.1:PORT`) and reads
/// the response until the server closes the connection: for requests [`request`] cannot
/// express, such as chunked or gzip bodies. Include `Connection: close` in an HTTP/1.1 request.
pub fn send_raw(host: &str, raw: &[u8]) -> io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.write_all(raw)?;
    stream.flush()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    parse_response(&response)
}

fn parse_response(raw: &[u8]) -> io::Result<HttpResponse> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("response has no end of headers".to_owned()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut response = HttpResponse { status, headers, body: raw[split + 4..].to_vec() };
    if response.header("Transfer-Encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        response.body = dechunk(&response.body)?;
    }
    Ok(response)
}

fn dechunk(mut data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("truncated chunk size".to_owned()))?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| invalid(format!("bad chunk size {size_hex:?}")))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or_else(|| invalid("truncated chunk".to_owned()))?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
