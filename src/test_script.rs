//! For the library's unit tests, which cannot use the test-support crate (the published crate
//! leaves it out): an executable script that runs at once even while other test threads start
//! programs. Written by this process, its write descriptor could be inherited by a child forked
//! at that moment, and running it would fail with ETXTBSY; so `sh` writes it.

use std::path::Path;
use std::process::Command;

/// Write `text` to `path` as an executable script.
pub(crate) fn write_script(path: &Path, text: &str) {
    let status = Command::new("sh")
        .args(["-c", r#"printf '%s' "$2" > "$1" && chmod 755 "$1""#, "sh"])
        .arg(path)
        .arg(text)
        .status()
        .expect("sh");
    assert!(status.success(), "could not write {}", path.display());
}
