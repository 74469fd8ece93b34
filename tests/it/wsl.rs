//! Signing in from WSL: with no `BROWSER` and no desktop, the helper opens the sign-in page
//! with `wslview` (the Windows browser), whose redirect reaches the helper's `localhost`
//! listener; the person does not have to paste anything.

use crate::common::*;
use bitbucket_test_support::{Consent, client};

/// A `wslview` first on PATH that records the URL it is given: (its directory, PATH, the
/// file the URL lands in).
fn recording_wslview() -> (tempfile::TempDir, String, std::path::PathBuf) {
    let bin = tempfile::tempdir().unwrap();
    let (recorder, opened) = recording_browser(bin.path());
    std::fs::rename(&recorder, bin.path().join("wslview")).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap());
    (bin, path, opened)
}

#[test]
fn on_wsl_the_sign_in_page_opens_in_the_windows_browser() {
    let setup = Setup::cloud();
    let (_bin, path, opened) = recording_wslview();
    let mut child = spawn_get(
        &setup,
        &[("PATH", &path), ("WSL_DISTRO_NAME", "Ubuntu"), ("WSL_INTEROP", "/run/WSL/1_interop")],
    );
    let url = wait_for_file(&opened, &mut child);
    assert!(url.contains("/site/oauth2/authorize?"), "wslview got the sign-in page: {url}");
    assert_eq!(client::get(&setup.consent_callback(&url, Consent::Grant)).unwrap().status, 200);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(field(&out, "username"), Some("alice"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("paste"), "no paste-back needed: {stderr}");
}

#[test]
fn outside_wsl_and_without_a_desktop_the_address_is_printed_for_paste_back() {
    let setup = Setup::cloud();
    let (_bin, path, opened) = recording_wslview();
    let child = spawn_get(&setup, &[("PATH", &path), ("GIT_BITBUCKET_OAUTH_TIMEOUT", "1")]);
    let out = child.wait_with_output().unwrap();
    assert!(!opened.exists(), "wslview is not used outside WSL");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("open this address in a browser"), "{stderr}");
}
