//! Malformed input on stdin (docs/decisions.md, "Protocol"): a NUL byte, a line without `=`, non-UTF-8 in a value
//! other than `path`, a line over 64 KiB, input over 1 MiB and a `url=` without protocol are
//! refused with exit code 2 and one line on stderr, nothing on stdout, and no store read or
//! written. The edges of those rules are accepted: a line of exactly 64 KiB, input of exactly
//! 1 MiB, `=` inside a value, `\r\n` line ends and any bytes in `path`. Every case runs the
//! real binary against a plaintext store whose bytes are compared before and after.

use std::process::Output;

use crate::common::*;
use serde_json::Value;

const MAX_LINE: usize = 64 * 1024;
const MAX_INPUT: usize = 1024 * 1024;
/// The credential every case builds on: a host the helper serves, with a username.
const BASE: &[u8] = b"protocol=https\nhost=bitbucket.org\nusername=alice\n";
const STORED: &str = "stored-token";

/// An isolated home with a plaintext store of its own.
type Fixture = PlaintextFixture;

impl Fixture {
    /// A fixture whose store holds [`STORED`] for alice on bitbucket.org.
    fn seeded(namespace: &'static str) -> Self {
        let fixture = Fixture::new(namespace);
        let output = fixture.run("store", format!("{}password={STORED}\n\n", as_text(BASE)).as_bytes());
        assert_quiet_success(&output, "seeding the store");
        assert!(fixture.store.exists(), "seeding did not create the store");
        fixture
    }

    /// What `get` answers for alice on bitbucket.org (with `extra` lines), after checking
    /// it succeeded quietly.
    fn get_alice(&self, extra: &[u8]) -> String {
        let output = self.run("get", [BASE, extra, b"\n"].concat());
        assert_quiet_success(&output, "get");
        String::from_utf8(output.stdout).expect("UTF-8 answer")
    }

    /// Runs `get`, `store` and `erase` with `bad` lines after the base credential (and with a
    /// password that would change the store: a new one for `store`, the stored one for
    /// `erase`) and checks each is refused and the store left byte for byte as it was.
    fn assert_every_operation_refuses(&self, bad: &[u8], what: &str) {
        for (op, password) in [("get", None), ("store", Some("new-token")), ("erase", Some(STORED))] {
            let before = self.bytes();
            let password = password.map(|p| format!("password={p}\n")).unwrap_or_default();
            for input in [
                [BASE, password.as_bytes(), bad, b"\n"].concat(),
                [bad, BASE, password.as_bytes(), b"\n"].concat(),
            ] {
                let output = self.run(op, &input);
                assert_refused(&output, &format!("{op} with {what}"));
                assert_eq!(self.bytes(), before, "{op} with {what} changed the store");
            }
        }
    }
}

fn as_text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("UTF-8")
}

/// Exit 2, exactly one stderr line starting with the program name, nothing on stdout, no panic.
fn assert_refused(output: &Output, what: &str) {
    assert_one_line_error(output, 2, what);
}

/// A line `key=` + filler whose content (newline excluded) is exactly `len` bytes.
fn line_of(key: &str, len: usize) -> Vec<u8> {
    let mut line = format!("{key}=").into_bytes();
    assert!(len >= line.len());
    line.resize(len, b'p');
    line.push(b'\n');
    line
}

/// Unknown-key lines of at most 60,000 bytes adding up to exactly `total` bytes.
fn padding(mut total: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(total);
    while total > 0 {
        let len = if total > 60_100 { 60_000 } else { total };
        out.extend(line_of("x-padding", len - 1));
        total -= len;
    }
    out
}

/// The credential with password `password`, padded with unknown keys to exactly `total` bytes,
/// the terminating blank line included.
fn input_of_size(password: &str, total: usize) -> Vec<u8> {
    let head = [BASE, format!("password={password}\n").as_bytes()].concat();
    [head.as_slice(), &padding(total - head.len() - 1), b"\n"].concat()
}

#[test]
fn nul_byte_is_refused_and_the_store_left_alone() {
    let fixture = Fixture::seeded("bad-nul");
    fixture.assert_every_operation_refuses(b"username=al\0ice\n", "a NUL inside a value");
    fixture.assert_every_operation_refuses(b"\0\n", "a line holding only NUL");
    fixture.assert_every_operation_refuses(b"x-unknown\0=value\n", "a NUL inside a key");
}

#[test]
fn line_without_equals_sign_is_refused_and_the_store_left_alone() {
    let fixture = Fixture::seeded("bad-no-equals");
    fixture.assert_every_operation_refuses(b"hostbitbucket.org\n", "a line without '='");
    fixture.assert_every_operation_refuses(b" \n", "a line of one space");
}

#[test]
fn non_utf8_value_is_refused_for_every_attribute_but_path() {
    let fixture = Fixture::seeded("bad-non-utf8");
    for key in ["protocol", "host", "username", "password", "wwwauth[]", "capability[]", "x-unknown"] {
        let line = [format!("{key}=ok").as_bytes(), b"\xff\xfe\n"].concat();
        fixture.assert_every_operation_refuses(&line, &format!("non-UTF-8 in {key}"));
    }
}

#[test]
fn line_over_64_kib_is_refused_and_one_of_exactly_64_kib_is_accepted() {
    let fixture = Fixture::seeded("bad-long-line");
    fixture.assert_every_operation_refuses(&line_of("x-unknown", MAX_LINE + 1), "a 64 KiB + 1 line");
    fixture.assert_every_operation_refuses(&line_of("password", MAX_LINE + 1), "a 64 KiB + 1 password");
    // No newline at all: the helper must stop reading, not wait for the end of the line.
    let endless = vec![b'x'; 4 * MAX_LINE];
    let output = fixture.run("store", [BASE, &endless].concat());
    assert_refused(&output, "an unterminated 256 KiB line");

    let longest = line_of("password", MAX_LINE);
    let output = fixture.run("store", [BASE, &longest, b"\n"].concat());
    assert_quiet_success(&output, "store with a 64 KiB password line");
    let password = &longest["password=".len()..MAX_LINE];
    assert_eq!(fixture.get_alice(b""), format!("username=alice\npassword={}\n", as_text(password)));
}

#[test]
fn input_over_1_mib_is_refused_and_input_of_exactly_1_mib_is_accepted() {
    let fixture = Fixture::seeded("bad-huge-input");
    let before = fixture.bytes();
    for op in ["get", "store", "erase"] {
        let password = if op == "erase" { STORED } else { "new-token" };
        let output = fixture.run(op, input_of_size(password, MAX_INPUT + 1));
        assert_refused(&output, &format!("{op} with 1 MiB + 1 byte"));
        assert_eq!(fixture.bytes(), before, "{op} with 1 MiB + 1 byte changed the store");
    }
    // Endless input without a blank line: refused once past the limit, not read to the end.
    let output = fixture.run("store", [BASE, &padding(4 * MAX_INPUT)].concat());
    assert_refused(&output, "4 MiB of input");

    let exact = input_of_size("one-mib-token", MAX_INPUT);
    assert_eq!(exact.len(), MAX_INPUT);
    assert_quiet_success(&fixture.run("store", &exact), "store with exactly 1 MiB");
    assert_eq!(fixture.get_alice(b""), "username=alice\npassword=one-mib-token\n");
}

#[test]
fn url_without_protocol_is_refused_and_the_store_left_alone() {
    let fixture = Fixture::seeded("bad-url");
    fixture.assert_every_operation_refuses(b"url=bitbucket.org/team/repo.git\n", "url= without protocol");
    fixture.assert_every_operation_refuses(b"url=://bitbucket.org/\n", "url= with an empty protocol");
}

#[test]
fn bad_input_does_not_create_a_missing_store() {
    let fixture = Fixture::new("bad-no-file");
    let store_dir = fixture.store.parent().expect("store directory").to_owned();
    for bad in [&b"username=a\0\n"[..], b"no-equals\n", b"username=\xff\n", b"url=bitbucket.org\n"] {
        let output = fixture.run("store", [BASE, b"password=new-token\n", bad, b"\n"].concat());
        assert_refused(&output, &format!("store with {}", String::from_utf8_lossy(bad).trim_end()));
    }
    let output = fixture.run("store", [BASE, &line_of("password", MAX_LINE + 1)].concat());
    assert_refused(&output, "store with a long line");
    assert!(!store_dir.exists(), "bad input created {}", store_dir.display());
}

#[test]
fn value_containing_equals_signs_is_kept_whole() {
    let fixture = Fixture::new("ok-equals");
    let output = fixture.run("store", [BASE, b"password==a=b==c=\n\n"].concat());
    assert_quiet_success(&output, "store");
    assert_eq!(fixture.get_alice(b""), "username=alice\npassword==a=b==c=\n");
}

#[test]
fn crlf_line_ends_are_accepted_and_never_written_back() {
    let fixture = Fixture::new("ok-crlf");
    let stored = b"protocol=https\r\nhost=bitbucket.org\r\nusername=alice\r\npassword=crlf-token\r\n\r\n";
    assert_quiet_success(&fixture.run("store", stored), "store with CRLF");
    let record: Value = serde_json::from_slice(&fixture.bytes().expect("store file")).expect("JSON");
    let entry = &record["entries"]["ok-crlf:https://alice@bitbucket.org/"]["alice"];
    assert_eq!(entry["secret"], "crlf-token");

    let output = fixture.run("get", b"protocol=https\r\nhost=bitbucket.org\r\nusername=alice\r\n\r\n");
    assert_quiet_success(&output, "get with CRLF");
    assert_eq!(output.stdout, b"username=alice\npassword=crlf-token\n");
}

#[test]
fn non_utf8_path_is_accepted_and_keys_the_secret() {
    let fixture = Fixture::new("ok-path-bytes");
    let output = fixture.run("store", [BASE, b"path=team/r\xff\xfe.git\npassword=path-token\n\n"].concat());
    assert_quiet_success(&output, "store with a non-UTF-8 path");
    let file: Value = serde_json::from_slice(&fixture.bytes().expect("store file")).expect("JSON");
    let key = "ok-path-bytes:https://alice@bitbucket.org/team/r%FF%FE.git";
    assert_eq!(file["entries"][key]["alice"]["secret"], "path-token", "{file:#}");

    assert_eq!(fixture.get_alice(b"path=team/r\xff\xfe.git\n"), "username=alice\npassword=path-token\n");
    assert_eq!(fixture.get_alice(b"path=team/r\xff.git\n"), "", "another path got the secret");
}

#[test]
fn unknown_operation_is_ignored_without_output() {
    let fixture = Fixture::seeded("ok-unknown-op");
    let before = fixture.bytes();
    for input in
        [&b""[..], b"protocol=https\nhost=bitbucket.org\nusername=alice\npassword=x\n\n", b"\0garbage"]
    {
        let output = fixture.run("frobnicate", input);
        assert_quiet_success(&output, "frobnicate");
        assert!(output.stdout.is_empty(), "stdout: {}", String::from_utf8_lossy(&output.stdout));
    }
    assert_eq!(fixture.bytes(), before);
}
