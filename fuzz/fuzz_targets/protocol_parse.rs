//! Git's credential protocol, parsed and written back.
//!
//! Whatever `Credential::read_from` accepts must never panic it, and `write_to` must either
//! refuse the credential or write lines that read back as the very same credential: what the
//! helper answers git is exactly what it holds.
#![no_main]

use git_credential_bitbucket::Credential;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(first) = Credential::read_from(&mut &data[..]) else { return };
    let mut written = Vec::new();
    if first.write_to(&mut written).is_err() {
        // Refusing a value it cannot write faithfully (line break, NUL, a path ending in `\r`,
        // a line or answer over the limits) is the documented answer.
        return;
    }
    let second = match Credential::read_from(&mut &written[..]) {
        Ok(second) => second,
        Err(e) => panic!("write_to wrote what read_from refuses ({e}): {}", shown(&written)),
    };
    assert_eq!(first, second, "the round trip changed the credential; written: {}", shown(&written));
});

/// The written bytes, escaped and cut short. `Secret` redacts itself in `Debug`, so these are
/// what tells two credentials apart when only a secret differs.
fn shown(written: &[u8]) -> String {
    const SHOWN: usize = 1024;
    let cut = &written[..written.len().min(SHOWN)];
    let more = if written.len() > SHOWN { format!("... ({} bytes)", written.len()) } else { String::new() };
    format!("{}{more}", cut.escape_ascii())
}
