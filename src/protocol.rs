//! Git's credential helper protocol as plain data: parse what git sends, write what git reads.
//!
//! [`Credential`] holds every attribute git 2.47 sends or accepts. [`Credential::read_from`]
//! parses strictly (the limits and errors of docs/decisions.md, "Protocol") and [`Credential::write_to`] writes
//! attributes back in git's format. This module decides nothing and touches no store or
//! network: policy lives in `auth`.

use std::io::{BufRead, Write};

use crate::secret::Secret;

/// Longest accepted line, newline excluded. Git refuses lines of 65,535 bytes or more.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Largest accepted input.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// Why the input from git was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A NUL byte anywhere in the input.
    #[error("line {line}: contains a NUL byte")]
    Nul {
        /// 1-based line number.
        line: usize,
    },
    /// A non-empty line without `=`.
    #[error("line {line}: expected key=value, found no '='")]
    NoEquals {
        /// 1-based line number.
        line: usize,
    },
    /// A line starting with `=`.
    #[error("line {line}: empty attribute name")]
    EmptyKey {
        /// 1-based line number.
        line: usize,
    },
    /// A key or value (other than `path`) that is not UTF-8.
    #[error("line {line}: '{key}' is not valid UTF-8")]
    NotUtf8 {
        /// 1-based line number.
        line: usize,
        /// The attribute (lossily decoded).
        key: String,
    },
    /// A line longer than 64 KiB (`MAX_LINE_BYTES`).
    #[error("line {line}: longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong {
        /// 1-based line number.
        line: usize,
    },
    /// More than 1 MiB (`MAX_INPUT_BYTES`) before the end of the credential.
    #[error("input is larger than {MAX_INPUT_BYTES} bytes")]
    InputTooLarge,
    /// A `url=` value that git itself would refuse. The URL is not repeated: it may hold a password.
    #[error("line {line}: url is not valid: {reason}")]
    BadUrl {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A value that must have a particular form and does not.
    #[error("line {line}: '{key}' must be {expected}")]
    BadValue {
        /// 1-based line number.
        line: usize,
        /// The attribute.
        key: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A value to write contains a newline, carriage return or NUL.
    #[error("cannot send '{key}' to git: its value contains a line break or NUL")]
    UnwritableValue {
        /// The attribute.
        key: &'static str,
    },
    /// A line or the whole answer would exceed the limits the reader enforces.
    #[error("cannot send '{key}' to git: the answer would exceed the protocol's size limits")]
    AnswerTooLarge {
        /// The attribute.
        key: &'static str,
    },
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// One credential as git describes it: the attributes of git's credential protocol and
/// `git-credential-protocol.md`.
///
/// ```
/// use git_credential_bitbucket::Credential;
/// let input = b"protocol=https\nhost=bitbucket.org\nusername=alice\n\n";
/// let cred = Credential::read_from(&mut &input[..]).unwrap();
/// assert_eq!(cred.host.as_deref(), Some("bitbucket.org"));
/// assert_eq!(cred.username.as_deref(), Some("alice"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credential {
    /// `protocol`: `https`, `http`, ...
    pub protocol: Option<String>,
    /// `host`, with `:port` when one was given.
    pub host: Option<String>,
    /// `path` (only with `credential.useHttpPath`); any bytes, as git percent-decodes it.
    pub path: Option<Vec<u8>>,
    /// `username`; `Some("")` (present but empty) differs from `None`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<Secret>,
    /// `password_expiry_utc`, Unix seconds.
    pub password_expiry_utc: Option<u64>,
    /// `oauth_refresh_token`.
    pub oauth_refresh_token: Option<Secret>,
    /// `wwwauth[]`: the server's `WWW-Authenticate` headers, in order.
    pub wwwauth: Vec<String>,
    /// `capability[]`: what the caller understands (`authtype`, `state`).
    pub capabilities: Vec<String>,
    /// `authtype`, e.g. `Bearer`.
    pub authtype: Option<String>,
    /// `credential`: a pre-encoded credential used with `authtype`.
    pub credential: Option<Secret>,
    /// `ephemeral`: do not store.
    pub ephemeral: bool,
    /// `state[]`: opaque helper state.
    pub state: Vec<String>,
    /// `continue`: a non-final step of multi-stage authentication.
    pub continue_: bool,
    /// `quit`: no further helpers, no prompt.
    pub quit: bool,
}

impl Credential {
    /// Read one credential: `key=value` lines up to a blank line or end of input.
    ///
    /// Stops at the blank line without reading further. Refuses NUL bytes, lines without
    /// `=`, non-UTF-8 outside `path`, lines over 64 KiB and input over
    /// 1 MiB. Unknown keys are ignored; `url=` replaces the URL parts read so far.
    pub fn read_from(reader: &mut impl BufRead) -> Result<Credential, ProtocolError> {
        let mut cred = Credential::default();
        let mut total = 0usize;
        let mut line_no = 0usize;
        let mut buf = Vec::new();
        loop {
            line_no += 1;
            buf.clear();
            let limit = (MAX_LINE_BYTES + 2) as u64; // content, optional '\r', '\n'
            let n = std::io::Read::take(&mut *reader, limit).read_until(b'\n', &mut buf)?;
            if n == 0 {
                break;
            }
            total += n;
            if total > MAX_INPUT_BYTES {
                return Err(ProtocolError::InputTooLarge);
            }
            let ended = buf.last() == Some(&b'\n');
            if ended {
                buf.pop();
            }
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            if buf.len() > MAX_LINE_BYTES || (!ended && n as u64 == limit) {
                return Err(ProtocolError::LineTooLong { line: line_no });
            }
            if buf.is_empty() {
                break;
            }
            cred.apply_line(&buf, line_no)?;
        }
        Ok(cred)
    }

    fn apply_line(&mut self, line: &[u8], line_no: usize) -> Result<(), ProtocolError> {
        if line.contains(&0) {
            return Err(ProtocolError::Nul { line: line_no });
        }
        let eq = line.iter().position(|&b| b == b'=').ok_or(ProtocolError::NoEquals { line: line_no })?;
        let (key, value) = (&line[..eq], &line[eq + 1..]);
        if key.is_empty() {
            return Err(ProtocolError::EmptyKey { line: line_no });
        }
        let key = std::str::from_utf8(key).map_err(|_| ProtocolError::NotUtf8 {
            line: line_no,
            key: String::from_utf8_lossy(key).into_owned(),
        })?;
        if key == "path" {
            self.path = Some(value.to_vec());
            return Ok(());
        }
        let value = std::str::from_utf8(value)
            .map_err(|_| ProtocolError::NotUtf8 { line: line_no, key: key.to_owned() })?;
        self.apply(key, value, line_no)
    }

    fn apply(&mut self, key: &str, value: &str, line: usize) -> Result<(), ProtocolError> {
        let text = || Some(value.to_owned());
        match key {
            "protocol" => self.protocol = text(),
            "host" => self.host = text(),
            "username" => self.username = text(),
            "password" => self.password = Some(Secret::new(value)),
            "password_expiry_utc" => {
                self.password_expiry_utc = Some(value.parse().map_err(|_| ProtocolError::BadValue {
                    line,
                    key: "password_expiry_utc",
                    expected: "a Unix time in seconds",
                })?)
            }
            "oauth_refresh_token" => self.oauth_refresh_token = Some(Secret::new(value)),
            "url" => self.apply_url(value, line)?,
            "wwwauth[]" => push_or_clear(&mut self.wwwauth, value),
            "capability[]" => push_or_clear(&mut self.capabilities, value),
            "state[]" => push_or_clear(&mut self.state, value),
            "authtype" => self.authtype = text(),
            "credential" => self.credential = Some(Secret::new(value)),
            "ephemeral" => self.ephemeral = parse_bool(value, line, "ephemeral")?,
            "continue" => self.continue_ = parse_bool(value, line, "continue")?,
            "quit" => self.quit = parse_bool(value, line, "quit")?,
            _ => {}
        }
        Ok(())
    }

    /// Expand `url=` into its parts, as git does: the URL replaces protocol, host, path,
    /// username and password read before it.
    fn apply_url(&mut self, url: &str, line: usize) -> Result<(), ProtocolError> {
        let bad = |reason| ProtocolError::BadUrl { line, reason };
        let (protocol, rest) = url.split_once("://").ok_or(bad("it has no protocol"))?;
        if protocol.is_empty() {
            return Err(bad("it has no protocol"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (userinfo, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (Some(u), Some(p)),
                None => (Some(info), None),
            },
        };
        let decode_text = |part: &str, what| -> Result<String, ProtocolError> {
            let bytes = percent_decode(part);
            if bytes.iter().any(|&b| matches!(b, b'\n' | b'\r' | 0)) {
                return Err(bad(what));
            }
            String::from_utf8(bytes).map_err(|_| bad("a part of it is not UTF-8 once decoded"))
        };
        self.protocol = Some(decode_text(protocol, "its protocol has a line break")?);
        self.host = Some(decode_text(host, "its host has a line break")?);
        self.username = username.map(|u| decode_text(u, "its username has a line break")).transpose()?;
        self.password = password
            .map(|p| decode_text(p, "its password has a line break").map(Secret::from))
            .transpose()?;
        self.path = match path.map(percent_decode) {
            Some(mut p) => {
                if p.iter().any(|&b| matches!(b, b'\n' | 0)) {
                    return Err(bad("its path has a line break"));
                }
                while p.last() == Some(&b'/') {
                    p.pop();
                }
                (!p.is_empty()).then_some(p)
            }
            None => None,
        };
        Ok(())
    }

    /// The credential git would build from a remote URL (`url=` expanded into its parts).
    ///
    /// ```
    /// use git_credential_bitbucket::Credential;
    /// let cred = Credential::from_url("https://alice@bitbucket.org/team/repo.git").unwrap();
    /// assert_eq!(cred.username.as_deref(), Some("alice"));
    /// assert_eq!(cred.path.as_deref(), Some(&b"team/repo.git"[..]));
    /// ```
    pub fn from_url(url: &str) -> Result<Credential, ProtocolError> {
        let mut cred = Credential::default();
        if url.contains(['\n', '\0']) {
            return Err(ProtocolError::BadUrl { line: 1, reason: "it has a line break" });
        }
        cred.apply_url(url, 1)?;
        Ok(cred)
    }

    /// Write every attribute that is set, in git's format, `capability[]` first. Refuses a
    /// value holding `\n`, `\r` or NUL rather than corrupt the stream.
    ///
    /// ```
    /// use git_credential_bitbucket::{Credential, Secret};
    /// let answer = Credential {
    ///     username: Some("alice".into()),
    ///     password: Some(Secret::new("token")),
    ///     password_expiry_utc: Some(1_900_000_000),
    ///     ..Credential::default()
    /// };
    /// let mut out = Vec::new();
    /// answer.write_to(&mut out).unwrap();
    /// assert_eq!(out, b"username=alice\npassword=token\npassword_expiry_utc=1900000000\n");
    /// ```
    pub fn write_to(&self, out: &mut impl Write) -> Result<(), ProtocolError> {
        let mut lines: Vec<(&'static str, &[u8])> = Vec::new();
        for cap in &self.capabilities {
            lines.push(("capability[]", cap.as_bytes()));
        }
        fn opt<'c>(lines: &mut Vec<(&'static str, &'c [u8])>, key: &'static str, value: Option<&'c [u8]>) {
            if let Some(v) = value {
                lines.push((key, v));
            }
        }
        let expiry = self.password_expiry_utc.map(|t| t.to_string());
        let mut opt = |key, value| opt(&mut lines, key, value);
        opt("protocol", self.protocol.as_deref().map(str::as_bytes));
        opt("host", self.host.as_deref().map(str::as_bytes));
        opt("path", self.path.as_deref());
        opt("username", self.username.as_deref().map(str::as_bytes));
        opt("password", self.password.as_ref().map(|s| s.expose().as_bytes()));
        opt("password_expiry_utc", expiry.as_deref().map(str::as_bytes));
        let refresh = self.oauth_refresh_token.as_ref();
        opt("oauth_refresh_token", refresh.map(|s| s.expose().as_bytes()));
        opt("authtype", self.authtype.as_deref().map(str::as_bytes));
        opt("credential", self.credential.as_ref().map(|s| s.expose().as_bytes()));
        for (flag, key) in [(self.ephemeral, "ephemeral"), (self.continue_, "continue"), (self.quit, "quit")]
        {
            if flag {
                lines.push((key, b"1"));
            }
        }
        for value in &self.wwwauth {
            lines.push(("wwwauth[]", value.as_bytes()));
        }
        for value in &self.state {
            lines.push(("state[]", value.as_bytes()));
        }
        let mut buf = Vec::new();
        for (key, value) in lines {
            // A path may hold a `\r` (git percent-decodes it), but not at its end: readers
            // strip one before the newline.
            let unwritable = if key == "path" {
                value.iter().any(|b| b"\n\0".contains(b)) || value.last() == Some(&b'\r')
            } else {
                value.iter().any(|b| b"\n\r\0".contains(b))
            };
            if unwritable {
                return Err(ProtocolError::UnwritableValue { key });
            }
            if key.len() + 1 + value.len() > MAX_LINE_BYTES
                || buf.len() + key.len() + value.len() + 2 > MAX_INPUT_BYTES
            {
                return Err(ProtocolError::AnswerTooLarge { key });
            }
            buf.extend_from_slice(key.as_bytes());
            buf.push(b'=');
            buf.extend_from_slice(value);
            buf.push(b'\n');
        }
        out.write_all(&buf)?;
        out.flush()?;
        Ok(())
    }

    /// True when git announced it understands `capability` (e.g. `authtype`).
    pub fn has_capability(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }
}

fn push_or_clear(list: &mut Vec<String>, value: &str) {
    if value.is_empty() {
        list.clear();
    } else {
        list.push(value.to_owned());
    }
}

fn parse_bool(value: &str, line: usize, key: &'static str) -> Result<bool, ProtocolError> {
    git_bool(value).ok_or(ProtocolError::BadValue { line, key, expected: "true or false" })
}

/// A boolean the way git spells them (`true`/`yes`/`on`/`1`, `false`/`no`/`off`/`0`, and
/// empty for false), in any letter case. `None` for anything else.
pub fn git_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" | "" => Some(false),
        _ => None,
    }
}

/// Decode `%XX` escapes; a `%` not followed by two hex digits stays as it is (as in git).
fn percent_decode(input: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(input).collect()
}

#[cfg(test)]
mod tests;
