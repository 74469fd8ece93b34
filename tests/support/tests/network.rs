//! The real network pieces the helper's proxy and TLS tests stand on: tinyproxy forwards and
//! logs, with and without Basic authentication, and the private CA issues a certificate that
//! `openssl` itself verifies for 127.0.0.1, served by stunnel.

use std::process::Command;

use bitbucket_test_support::{FakeBitbucket, Mode, PrivateCa, Tinyproxy, TlsFront, client};

fn through_proxy(proxy: &Tinyproxy, fake: &FakeBitbucket, extra_header: &str) -> u16 {
    let raw = format!(
        "GET {}/2.0/user HTTP/1.1\r\nHost: {}\r\n{extra_header}Connection: close\r\n\r\n",
        fake.base_url(),
        fake.host()
    );
    client::send_raw(&format!("127.0.0.1:{}", proxy.port()), raw.as_bytes()).unwrap().status
}

#[test]
fn tinyproxy_forwards_and_logs_the_request_line() {
    let fake = FakeBitbucket::start(Mode::Cloud);
    let proxy = Tinyproxy::start(&[], None);
    assert_eq!(through_proxy(&proxy, &fake, ""), 401, "the fake's own answer, forwarded");
    assert_eq!(proxy.requests(), [format!("GET {}/2.0/user HTTP/1.1", fake.base_url())], "{}", proxy.log());
}

#[test]
fn tinyproxy_with_basic_auth_wants_the_credentials() {
    let fake = FakeBitbucket::start(Mode::Cloud);
    let proxy = Tinyproxy::start(&[], Some(("u", "p")));
    assert_eq!(through_proxy(&proxy, &fake, ""), 407);
    let good = format!("Proxy-Authorization: {}\r\n", client::basic_auth("u", "p"));
    assert_eq!(through_proxy(&proxy, &fake, &good), 401, "forwarded to the fake");
}

#[test]
fn private_ca_issues_a_certificate_for_loopback_that_stunnel_serves() {
    let ca = PrivateCa::new();
    let verify = Command::new("openssl")
        .args(["verify", "-purpose", "sslserver", "-verify_ip", "127.0.0.1", "-CAfile"])
        .arg(ca.ca_cert())
        .arg(ca.server_cert())
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    let fake = FakeBitbucket::start(Mode::Cloud);
    let front = TlsFront::start(&ca, fake.port());
    let connect = format!("127.0.0.1:{}", front.port());
    let handshake = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &connect,
            "-verify_return_error",
            "-verify_ip",
            "127.0.0.1",
            "-CAfile",
        ])
        .arg(ca.ca_cert())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&handshake.stdout);
    assert!(handshake.status.success() && text.contains("Verify return code: 0 (ok)"), "{text}");
}
