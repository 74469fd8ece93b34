//! HTTP plumbing for the fake: the answer type handlers build, header and form reading, and
//! the parsed `Authorization` header. No Bitbucket rules live here.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tiny_http::{Header, Request, Response, StatusCode};

/// Form bodies (token and consent requests) larger than this are refused.
const MAX_FORM_BYTES: u64 = 64 * 1024;

/// The body of an answer: in memory, or streamed (git's packs).
pub(crate) enum Body {
    Bytes(Vec<u8>),
    Stream { reader: Box<dyn Read + Send>, length: Option<usize> },
}

/// An answer before it is sent, so the status can be recorded first.
pub(crate) struct Reply {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    body: Body,
}

impl Reply {
    pub(crate) fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
            body: Body::Bytes(body),
        }
    }

    pub(crate) fn stream(
        status: u16,
        headers: Vec<(String, String)>,
        reader: Box<dyn Read + Send>,
        length: Option<usize>,
    ) -> Self {
        Self { status, headers, body: Body::Stream { reader, length } }
    }

    pub(crate) fn text(status: u16, text: &str) -> Self {
        Self::bytes(status, "text/plain; charset=utf-8", text.as_bytes().to_vec())
    }

    pub(crate) fn html(status: u16, html: String) -> Self {
        Self::bytes(status, "text/html; charset=utf-8", html.into_bytes())
    }

    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::bytes(status, "application/json", value.to_string().into_bytes())
    }

    pub(crate) fn redirect(location: &str) -> Self {
        Self::text(302, "Found\n").with_header("Location", location)
    }

    pub(crate) fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn into_response(self) -> Response<Box<dyn Read + Send>> {
        let headers = self
            .headers
            .iter()
            .filter_map(|(name, value)| Header::from_bytes(name.as_bytes(), value.as_bytes()).ok())
            .collect();
        let (reader, length): (Box<dyn Read + Send>, _) = match self.body {
            Body::Bytes(bytes) => {
                let length = bytes.len();
                (Box::new(Cursor::new(bytes)), Some(length))
            }
            Body::Stream { reader, length } => (reader, length),
        };
        Response::new(StatusCode(self.status), headers, reader, length, None)
    }
}

/// The value of the first header called `name`.
pub(crate) fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_owned())
}

/// Decodes `a=1&b=2` (query strings and form bodies); a repeated key keeps its first value.
pub(crate) fn parse_pairs(encoded: &str) -> HashMap<String, String> {
    let mut pairs = HashMap::new();
    for (key, value) in url::form_urlencoded::parse(encoded.as_bytes()) {
        pairs.entry(key.into_owned()).or_insert_with(|| value.into_owned());
    }
    pairs
}

/// Reads an `application/x-www-form-urlencoded` body.
pub(crate) fn read_form(request: &mut Request) -> Result<HashMap<String, String>, Reply> {
    let mut body = Vec::new();
    request
        .as_reader()
        .take(MAX_FORM_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|_| Reply::text(400, "unreadable body\n"))?;
    if body.len() as u64 > MAX_FORM_BYTES {
        return Err(Reply::text(413, "form body too large\n"));
    }
    let text = String::from_utf8(body).map_err(|_| Reply::text(400, "body is not UTF-8\n"))?;
    Ok(parse_pairs(&text))
}

/// The credentials a request carried in its `Authorization` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Presented {
    /// No `Authorization` header.
    Nothing,
    Basic {
        username: String,
        secret: String,
    },
    Bearer(String),
    /// `Authorization: JWT {token}` (Bitbucket Connect apps).
    Jwt(String),
    /// Another scheme, or a header that does not parse.
    Unusable,
}

impl Presented {
    pub(crate) fn parse(header: Option<&str>) -> Self {
        let Some(header) = header else {
            return Self::Nothing;
        };
        let (scheme, value) = header.trim().split_once(' ').unwrap_or((header, ""));
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            Self::parse_basic(value)
        } else if scheme.eq_ignore_ascii_case("bearer") && !value.is_empty() {
            Self::Bearer(value.to_owned())
        } else if scheme.eq_ignore_ascii_case("jwt") && !value.is_empty() {
            Self::Jwt(value.to_owned())
        } else {
            Self::Unusable
        }
    }

    fn parse_basic(value: &str) -> Self {
        let decoded = STANDARD.decode(value).ok().and_then(|bytes| String::from_utf8(bytes).ok());
        match decoded.as_deref().and_then(|pair| pair.split_once(':')) {
            Some((username, secret)) => {
                Self::Basic { username: username.to_owned(), secret: secret.to_owned() }
            }
            None => Self::Unusable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_password_may_contain_colons() {
        let header = crate::client::basic_auth("alice", "a:b:c");
        assert_eq!(
            Presented::parse(Some(&header)),
            Presented::Basic { username: "alice".into(), secret: "a:b:c".into() }
        );
    }

    #[test]
    fn unknown_scheme_is_unusable() {
        assert_eq!(Presented::parse(Some("Digest x=1")), Presented::Unusable);
        assert_eq!(Presented::parse(None), Presented::Nothing);
        assert_eq!(Presented::parse(Some("Bearer abc")), Presented::Bearer("abc".into()));
    }
}
