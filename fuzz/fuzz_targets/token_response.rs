//! A token endpoint's answer (HTTP status and body), judged without I/O.
//!
//! Input: the status as a big-endian u16 in the first two bytes, the body after them.
//! `parse_token_response` must never panic, and what it returns must keep the promises of its
//! documentation: tokens only from a 2xx status and fit to hand to git (non-empty, at most
//! `MAX_TOKEN_BYTES`, no line break or NUL), `Rejected` only for 400/401, error codes sanitised.
#![no_main]

use git_credential_bitbucket::fuzzing::{ParsedError, parse_token_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = data.split_first_chunk::<2>() else { return };
    let status = u16::from_be_bytes(*status);
    let success = (200..300).contains(&status);
    match parse_token_response(status, body) {
        Ok(tokens) => {
            assert!(success, "a token from HTTP {status}");
            assert_usable("access_token", tokens.access_token.expose());
            if let Some(refresh) = &tokens.refresh_token {
                assert_usable("refresh_token", refresh.expose());
            }
        }
        Err(ParsedError::Rejected { error, status: said, .. }) => {
            assert!(matches!(status, 400 | 401), "Rejected from HTTP {status}");
            assert_eq!(said, status);
            assert_sanitised(&error);
        }
        Err(ParsedError::Status { status: said, error }) => {
            assert!(!success, "a failure status for HTTP {status}");
            assert_eq!(said, status);
            error.as_deref().map(assert_sanitised);
        }
        Err(ParsedError::Malformed(_)) => assert!(success, "Malformed for HTTP {status}"),
    }
});

fn assert_usable(what: &str, token: &str) {
    assert!(!token.is_empty(), "empty {what}");
    assert!(
        token.len() <= git_credential_bitbucket::fuzzing::MAX_TOKEN_BYTES,
        "{what} of {} bytes",
        token.len()
    );
    assert!(!token.contains(['\n', '\r', '\0']), "{what} with a line break or NUL");
}

fn assert_sanitised(error: &str) {
    assert!(error.chars().count() <= 64, "error code longer than 64 characters");
    assert!(
        error.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c)),
        "unsanitised error code {error:?}"
    );
}
