//! git's URL matching for `SECTION.<url>.KEY` (git's `urlmatch.c`): URLs are normalised
//! (lower-case scheme and host, default port dropped, `%XX` escapes normalised, `.` and `..`
//! resolved), then a configured URL matches a request when scheme, user (if it names one),
//! host (a `*` label matches any one label), port and a path prefix ending at a `/` all agree.
//! The more specific match wins: longer host pattern, then longer path, then a named user;
//! on a tie the later one.
//!
//! A port of git's rules, kept close to its structure so that a reader can compare them line
//! by line; the differential test (`differential.rs`) holds it to git's answers.

/// A normalised URL and where its parts are (byte offsets into `url`; 0 length = absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlInfo {
    url: String,
    scheme_len: usize,
    user: Option<(usize, usize)>,
    host: (usize, usize),
    port: (usize, usize),
    path_off: usize,
}

/// How well a configured URL matched a request: compared field by field, larger is better.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Specificity {
    host_len: usize,
    path_len: usize,
    user_matched: bool,
}

const SCHEME_CHARS: &[u8] = b"+.-";
const HOST_CHARS: &[u8] = b".-_[:]";
const UNSAFE_CHARS: &[u8] = b" <>\"%{}|\\^`";
const RESERVED: &[u8] = b":/?#[]@!$&'()*+,;=";

/// Append `from` with escapes normalised: unsafe bytes escaped, `%XX` of anything else
/// unescaped except the delimiters of `RESERVED`, which stay escaped. `None` on a bad `%XX`.
fn append_normalized_escapes(out: &mut String, from: &[u8]) -> Option<()> {
    let mut i = 0;
    while i < from.len() {
        let (ch, was_escaped) = if from[i] == b'%' {
            let hex = from.get(i + 1..i + 3)?;
            let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            i += 3;
            (value, true)
        } else {
            i += 1;
            (from[i - 1], false)
        };
        if ch <= 0x1F || ch >= 0x7F || UNSAFE_CHARS.contains(&ch) || (was_escaped && RESERVED.contains(&ch)) {
            out.push_str(&format!("%{ch:02X}"));
        } else {
            out.push(ch as char);
        }
    }
    Some(())
}

/// Normalise `url` as git does (`url_normalize`); `allow_globs` lets the host hold `*`
/// (configured URLs). `None` for what git refuses.
pub(crate) fn normalize(bytes: &[u8], allow_globs: bool) -> Option<UrlInfo> {
    let scheme_len =
        bytes.iter().take_while(|b| b.is_ascii_alphanumeric() || SCHEME_CHARS.contains(b)).count();
    if scheme_len == 0 || !bytes[0].is_ascii_alphabetic() || !bytes[scheme_len..].starts_with(b"://") {
        return None;
    }
    let mut norm = String::from_utf8_lossy(&bytes[..scheme_len + 3]).to_ascii_lowercase();
    let mut rest = &bytes[scheme_len + 3..];
    let user = normalize_user(&mut norm, &mut rest, scheme_len)?;
    let slash = rest.iter().position(|b| b"/?#".contains(b)).unwrap_or(rest.len());
    if rest.is_empty() || b":/?#".contains(&rest[0]) {
        return None; // no host, and only `file:` may have none (not a scheme settings use)
    }
    let host_off = norm.len();
    // The port starts at the last ':' of the authority unless a ']' (IPv6) comes after it.
    let colon = rest[..slash].iter().rposition(|&b| b == b':' || b == b']').filter(|&i| rest[i] == b':');
    let host_end = colon.unwrap_or(slash);
    let host_ok = rest[..host_end]
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || HOST_CHARS.contains(b) || (allow_globs && *b == b'*'));
    if !host_ok {
        return None;
    }
    norm.push_str(&String::from_utf8_lossy(&rest[..host_end]).to_ascii_lowercase());
    let host = (host_off, norm.len() - host_off);
    let port = match colon {
        Some(colon) => normalize_port(&mut norm, &rest[colon + 1..slash])?,
        None => (0, 0),
    };
    let path_off = norm.len();
    normalize_path(&mut norm, &rest[slash..])?;
    Some(UrlInfo { url: norm, scheme_len, user, host, port, path_off })
}

/// Copy the `user[:password]@` part, if any; returns where the user name is.
fn normalize_user(norm: &mut String, rest: &mut &[u8], scheme_len: usize) -> Option<Option<(usize, usize)>> {
    let slash = rest.iter().position(|b| b"/?#".contains(b)).unwrap_or(rest.len());
    let Some(at) = rest.iter().position(|&b| b == b'@').filter(|&at| at < slash) else {
        return Some(None);
    };
    let user_off = norm.len();
    append_normalized_escapes(norm, &rest[..at])?;
    let user_len = match norm[scheme_len + 3..].find(':') {
        Some(colon) => colon,
        None => norm.len() - user_off,
    };
    norm.push('@');
    *rest = &rest[at + 1..];
    Some(Some((user_off, user_len)))
}

/// Append `:PORT` unless it is empty or the scheme's default; `None` for an invalid port.
fn normalize_port(norm: &mut String, digits: &[u8]) -> Option<(usize, usize)> {
    let mut digits = digits;
    while digits.len() > 1 && digits[0] == b'0' {
        digits = &digits[1..];
    }
    let default =
        (norm.starts_with("http:") && digits == b"80") || (norm.starts_with("https:") && digits == b"443");
    if digits.is_empty() || default {
        return Some((0, 0));
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number: u32 = if digits.len() <= 5 { std::str::from_utf8(digits).ok()?.parse().ok()? } else { 0 };
    if number == 0 || number > 65_535 {
        return None;
    }
    norm.push(':');
    let off = norm.len();
    norm.push_str(std::str::from_utf8(digits).ok()?);
    Some((off, digits.len()))
}

/// Append the path with `.` and `..` segments resolved, then any query or fragment.
fn normalize_path(norm: &mut String, rest: &[u8]) -> Option<()> {
    let path_start = norm.len();
    norm.push('/');
    let mut url = rest.strip_prefix(b"/").unwrap_or(rest);
    loop {
        let seg_start = norm.len();
        let next = url.iter().position(|b| b"/?#".contains(b)).unwrap_or(url.len());
        append_normalized_escapes(norm, &url[..next])?;
        let mut skip_slash = false;
        match &norm[seg_start..] {
            "." if seg_start == path_start + 1 => {
                norm.truncate(norm.len() - 1);
                skip_slash = true;
            }
            "." => norm.truncate(norm.len() - 2),
            ".." => {
                if norm.len() - 3 == path_start {
                    return None; // `..` above the root
                }
                let prev = norm[..norm.len() - 3].rfind('/')?;
                if prev == path_start {
                    norm.truncate(prev + 1);
                    skip_slash = true;
                } else {
                    norm.truncate(prev);
                }
            }
            _ => {}
        }
        url = &url[next..];
        match url.first() {
            Some(b'/') => {
                url = &url[1..];
                if !skip_slash {
                    norm.push('/');
                }
            }
            _ => break,
        }
    }
    append_normalized_escapes(norm, url)
}

impl UrlInfo {
    fn part(&self, (off, len): (usize, usize)) -> &str {
        &self.url[off..off + len]
    }

    /// How `self`, a configured URL, matches `request`; `None` when it does not.
    pub(crate) fn matches(&self, request: &UrlInfo) -> Option<Specificity> {
        if self.url[..self.scheme_len] != request.url[..request.scheme_len] {
            return None;
        }
        let user_matched = match (self.user, request.user) {
            (None, _) => false,
            (Some(mine), Some(theirs)) if self.part(mine) == request.part(theirs) => true,
            _ => return None,
        };
        if !host_matches(request.part(request.host), self.part(self.host))
            || self.part(self.port) != request.part(request.port)
        {
            return None;
        }
        let path_len = path_prefix_len(&request.url[request.path_off..], &self.url[self.path_off..])?;
        Some(Specificity { host_len: self.host.1, path_len, user_matched })
    }
}

/// Label by label; a `*` label of the pattern matches any one label (git's `match_host`,
/// including its treatment of a trailing dot).
fn host_matches(host: &str, pattern: &str) -> bool {
    let (mut host, mut pattern) = (host.as_bytes(), pattern.as_bytes());
    while !host.is_empty() && !pattern.is_empty() {
        let h = host.iter().position(|&b| b == b'.').unwrap_or(host.len());
        let p = pattern.iter().position(|&b| b == b'.').unwrap_or(pattern.len());
        if pattern[..p] != *b"*" && host[..h] != pattern[..p] {
            return false;
        }
        host = &host[(h + 1).min(host.len())..];
        pattern = &pattern[(p + 1).min(pattern.len())..];
    }
    host.is_empty() && pattern.is_empty()
}

/// The length of the match when `prefix` is `path` or a prefix of it ending at a `/` (both
/// taken to end with an implicit `/`), counting that `/`.
fn path_prefix_len(path: &str, prefix: &str) -> Option<usize> {
    if prefix.is_empty() || prefix == "/" {
        return (path.is_empty() || path.starts_with('/')).then_some(1);
    }
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(prefix.len() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(url: &str) -> String {
        normalize(url.as_bytes(), true).map(|u| u.url).unwrap_or_else(|| "INVALID".into())
    }

    #[test]
    fn urls_are_normalised_like_git() {
        assert_eq!(norm("HTTPS://Me@Example.COM:443/a/./b/../c%7e%2f"), "https://Me@example.com/a/c~%2F");
        assert_eq!(norm("http://h:0080"), "http://h/");
        assert_eq!(norm("http://h:08080/x"), "http://h:8080/x");
        assert_eq!(norm("http://h:99999/"), "INVALID");
        assert_eq!(norm("http://h/../x"), "INVALID");
        assert_eq!(norm("http://*.h.com/"), "http://*.h.com/");
        assert_eq!(normalize(b"http://*.h.com/", false), None);
        assert_eq!(norm("https://u:p@h/"), "https://u:p@h/");
        assert_eq!(norm("nothing"), "INVALID");
    }

    #[test]
    fn the_most_specific_match_is_the_largest() {
        let request = normalize(b"https://alice@git.example.com/team/repo.git", false).unwrap();
        let spec = |pattern: &str| normalize(pattern.as_bytes(), true).unwrap().matches(&request);
        assert!(spec("https://bob@git.example.com").is_none());
        assert!(spec("https://git.example.com/tea").is_none());
        assert!(spec("https://*.com").is_none());
        assert!(spec("http://git.example.com").is_none());
        let host = spec("https://git.example.com").unwrap();
        let wild = spec("https://*.example.com").unwrap();
        let user = spec("https://alice@git.example.com").unwrap();
        let path = spec("https://git.example.com/team/").unwrap();
        assert!(host > wild, "the host pattern's length counts, a `*` as one character");
        assert!(user > host && path > user);
    }
}
