//! The OAuth callback decision: a query string (or pasted text) against the expected state.
//!
//! Input: `query NUL expected_state` (no NUL: the whole input is the query, the state empty).
//! `judge_callback` and `judge_pasted` must never panic, and a `Code` must never come from a
//! query without `state=<the expected state>` (a bare pasted code only where PKCE is verified); that is checked by decoding the query here,
//! independently of the `url` crate the code under test uses.
#![no_main]

use git_credential_bitbucket::fuzzing::{CallbackOutcome, judge_callback, judge_pasted};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (query, state) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(query), Ok(state)) = (std::str::from_utf8(query), std::str::from_utf8(state)) else {
        return;
    };
    if let CallbackOutcome::Code(_) = judge_callback(query, state) {
        assert!(carries_state(query, state), "Code without the expected state");
    }
    if let CallbackOutcome::Code(_) = judge_pasted(query, state, true) {
        // A pasted address is judged like a callback; a bare code has no state to check
        // (where the server verifies PKCE, PKCE binds it to the attempt).
        if let Some((_, pasted_query)) = query.trim().split_once('?') {
            let pasted_query = pasted_query.split('#').next().unwrap_or_default();
            assert!(carries_state(pasted_query, state), "pasted Code without the expected state");
        }
    }
    if let CallbackOutcome::Code(_) = judge_pasted(query, state, false) {
        // Without PKCE (Cloud) only a whole address with the expected state gives a code.
        let pasted_query = query.trim().split_once('?').map(|(_, q)| q.split('#').next().unwrap_or_default());
        assert!(pasted_query.is_some_and(|q| carries_state(q, state)), "Code without the expected state (no PKCE)");
    }
});

/// True when one `&`-separated pair of `query` is `state=<expected>` once form-decoded.
///
/// A plain substring test for `state=` + the form-encoding of `expected` is not enough: form
/// encoding is many-to-one (`state=%731` is `state=s1`, so is `st%61te=s1`), so an honest
/// match can be spelled in ways the substring test does not see. Invalid UTF-8 after
/// decoding becomes U+FFFD, as in the `url` crate, so a state holding U+FFFD is matched the
/// same way here as there.
fn carries_state(query: &str, expected: &str) -> bool {
    query.split('&').any(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        form_decode(key) == "state" && form_decode(value) == expected
    })
}

fn form_decode(part: &str) -> String {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|&b| (b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 2;
            }
            (b, _, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
