//! Which hosts the helper serves (docs/configuration.md, "Which hosts are served"), proven by whether a secret already in the store
//! is answered: `bitbucket.org` in any case and with port 443 is served without
//! configuration; look-alikes and other hosts are not (exit 0, no output, store untouched,
//! even for `store`); plain http to `bitbucket.org` is refused; another host is served over
//! http only with `provider=bitbucket`, and over https also when git passes Data Center's
//! realm, which never serves plain http.

use std::process::Output;

use crate::common::*;
use serde_json::{Value, json};

const DC_REALM: &str = "wwwauth[]=Basic realm=\"Atlassian Bitbucket\"\n";

/// An isolated home with a plaintext store of its own.
type Fixture = PlaintextFixture;

impl Fixture {
    /// Writes the store file directly (the documented layout), with `secret` for alice under
    /// her key and the host default key of each `scheme://host` in `hosts`.
    fn seed(&self, hosts: &[&str], secret: &str) {
        let record = json!({"kind": "token", "username": "alice", "secret": secret});
        let mut entries = serde_json::Map::new();
        for url in hosts {
            let (scheme, host) = url.split_once("://").expect("scheme://host");
            let ns = self.namespace;
            entries.insert(format!("{ns}:{scheme}://alice@{host}/"), json!({"alice": record}));
            entries.insert(format!("{ns}:{scheme}://{host}/"), json!({"": record}));
        }
        let file = json!({"version": 1, "entries": entries});
        std::fs::create_dir_all(self.store.parent().expect("store directory")).expect("create store dir");
        std::fs::write(&self.store, serde_json::to_vec_pretty(&file).expect("JSON")).expect("write store");
    }

    fn entries(&self) -> Value {
        let bytes = self.bytes().expect("the store file exists");
        serde_json::from_slice::<Value>(&bytes).expect("store is JSON")["entries"].clone()
    }

    /// `get` for alice at `scheme://host` with `extra` lines: the answer, after checking the
    /// helper succeeded quietly.
    fn get(&self, url: &str, extra: &str) -> String {
        let output = self.run("get", format!("{}username=alice\n{extra}\n", parts(url)));
        assert_quiet_success(&output, &format!("get {url}"));
        String::from_utf8(output.stdout).expect("UTF-8 answer")
    }
}

/// `protocol=...\nhost=...\n` for `scheme://host`.
fn parts(url: &str) -> String {
    let (scheme, host) = url.split_once("://").expect("scheme://host");
    format!("protocol={scheme}\nhost={host}\n")
}

fn answer(secret: &str) -> String {
    format!("username=alice\npassword={secret}\n")
}

/// Exit 0, nothing on stdout or stderr.
fn assert_not_served(output: &Output, what: &str) {
    assert_quiet_success(output, what);
    assert!(output.stdout.is_empty(), "{what}: stdout: {}", String::from_utf8_lossy(&output.stdout));
}

/// Exit 1, one stderr line starting with the program name, nothing on stdout.
fn assert_refused(output: &Output, what: &str) {
    assert_one_line_error(output, 1, what);
}

const LOOKALIKES: [&str; 5] =
    ["evilbitbucket.org", "api.bitbucket.org", "github.com", "bitbucket.org.evil.com", "bitbucket.org:8443"];

#[test]
fn bitbucket_org_in_any_case_and_with_port_443_is_served() {
    let fixture = Fixture::new("hosts-cloud");
    let output =
        fixture.run("store", "protocol=https\nhost=BitBucket.ORG:443\nusername=alice\npassword=cloud\n");
    assert_quiet_success(&output, "store for BitBucket.ORG:443");
    let entries = fixture.entries();
    assert_eq!(
        entries["hosts-cloud:https://alice@bitbucket.org/"]["alice"]["secret"], "cloud",
        "{entries:#}"
    );

    for host in ["bitbucket.org", "BitBucket.ORG", "bitbucket.org:443", "BITBUCKET.ORG:443"] {
        assert_eq!(fixture.get(&format!("https://{host}"), ""), answer("cloud"), "{host}");
    }
}

#[test]
fn lookalike_and_other_hosts_are_not_served_and_their_secrets_untouched() {
    let fixture = Fixture::new("hosts-lookalike");
    let urls: Vec<String> = LOOKALIKES.iter().map(|h| format!("https://{h}")).collect();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    // Secrets sit under exactly the keys these hosts would use: only host recognition keeps
    // the helper from answering, replacing or erasing them.
    fixture.seed(&urls, "seeded");
    let before = fixture.bytes();

    for url in &urls {
        let cred = format!("{}username=alice\n", parts(url));
        assert_not_served(&fixture.run("get", format!("{cred}\n")), &format!("get {url}"));
        assert_not_served(&fixture.run("store", format!("{cred}password=new\n")), &format!("store {url}"));
        assert_not_served(&fixture.run("erase", format!("{cred}password=seeded\n")), &format!("erase {url}"));
        assert_eq!(fixture.bytes(), before, "{url} changed the store");
    }
}

#[test]
fn store_for_a_host_not_served_writes_nothing() {
    let fixture = Fixture::new("hosts-no-write");
    for host in LOOKALIKES {
        let output =
            fixture.run("store", format!("protocol=https\nhost={host}\nusername=alice\npassword=x\n"));
        assert_not_served(&output, &format!("store {host}"));
    }
    assert!(!fixture.store.parent().expect("store dir").exists(), "a store was created");
}

#[test]
fn host_not_served_never_opens_the_store() {
    let fixture = Fixture::new("hosts-no-open");
    // A keyring that cannot be reached: opening it would be an error.
    let no_keyring = [
        ("GIT_BITBUCKET_CREDENTIAL_STORE", "keyring"),
        ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"),
    ];
    for op in ["get", "store", "erase"] {
        let output = fixture.run_with(
            op,
            "protocol=https\nhost=github.com\nusername=alice\npassword=x\n",
            &no_keyring,
        );
        assert_not_served(&output, &format!("{op} github.com"));
    }
    // The same request for a host that is served does reach the store, and fails.
    let output = fixture.run_with("get", "protocol=https\nhost=bitbucket.org\nusername=alice\n", &no_keyring);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn plain_http_to_bitbucket_org_is_refused_and_touches_nothing() {
    let fixture = Fixture::new("hosts-http-cloud");
    fixture.seed(&["http://bitbucket.org", "https://bitbucket.org"], "seeded");
    let before = fixture.bytes();

    for host in ["bitbucket.org", "BitBucket.org", "bitbucket.org:443"] {
        let cred = format!("protocol=http\nhost={host}\nusername=alice\n");
        assert_refused(&fixture.run("get", &cred), &format!("get http://{host}"));
        assert_refused(
            &fixture.run("store", format!("{cred}password=new\n")),
            &format!("store http://{host}"),
        );
        assert_refused(
            &fixture.run("erase", format!("{cred}password=seeded\n")),
            &format!("erase http://{host}"),
        );
    }
    // Configuring the provider explicitly does not make it acceptable.
    fixture.env.config("credential.http://bitbucket.org.provider", "bitbucket");
    assert_refused(&fixture.run("get", "protocol=http\nhost=bitbucket.org\nusername=alice\n"), "configured");
    assert_eq!(fixture.bytes(), before, "the store changed");
}

#[test]
fn plain_http_to_bitbucket_org_on_port_80_is_refused() {
    let fixture = Fixture::new("hosts-http-80");
    let cred = "protocol=http\nhost=bitbucket.org:80\nusername=alice\n";
    assert_refused(&fixture.run("get", cred), "get http://bitbucket.org:80");
    // With every host configured as Bitbucket (as git's helper test suite sets up), the
    // helper must still refuse plain http to bitbucket.org rather than keep a secret for it.
    fixture.env.config("credential.provider", "bitbucket");
    assert_refused(
        &fixture.run("store", format!("{cred}password=leaked\n")),
        "store http://bitbucket.org:80",
    );
    assert_eq!(fixture.bytes(), None, "a secret for plain http to bitbucket.org was stored");
}

#[test]
fn loopback_host_over_http_is_served_only_with_provider_bitbucket() {
    let fixture = Fixture::new("hosts-loopback");
    fixture.seed(&["http://127.0.0.1:7990", "http://127.0.0.1:7991"], "loopback");

    assert_eq!(fixture.get("http://127.0.0.1:7990", ""), "", "served without configuration");
    assert_eq!(fixture.get("http://127.0.0.1:7990", DC_REALM), "", "served over http for a realm");

    fixture.env.config("credential.http://127.0.0.1:7990.provider", "bitbucket");
    assert_eq!(fixture.get("http://127.0.0.1:7990", ""), answer("loopback"));
    assert_eq!(fixture.get("http://127.0.0.1:7991", ""), "", "the setting for port 7990 served 7991");

    fixture.env.config("credential.provider", "bitbucket");
    assert_eq!(fixture.get("http://127.0.0.1:7991", ""), answer("loopback"), "provider for all hosts");
}

#[test]
fn data_center_realm_over_https_is_served_without_configuration() {
    let fixture = Fixture::new("hosts-realm");
    fixture.seed(&["https://git.example.com"], "datacenter");

    assert_eq!(fixture.get("https://git.example.com", ""), "", "served before the realm was seen");
    let other = "wwwauth[]=Basic realm=\"GitHub\"\n";
    assert_eq!(fixture.get("https://git.example.com", other), "", "served for another realm");
    assert_eq!(fixture.get("https://git.example.com", DC_REALM), answer("datacenter"));
    let any_case = "wwwauth[]=Basic realm=\"atlassian BITBUCKET\"\n";
    assert_eq!(fixture.get("https://git.example.com", any_case), answer("datacenter"));
    // git passes the realm to `get` only; once seen, the origin is remembered for `store`.
    assert_eq!(fixture.get("https://git.example.com", ""), answer("datacenter"), "remembered");
}

#[test]
fn data_center_realm_alone_never_serves_plain_http() {
    let fixture = Fixture::new("hosts-realm-http");
    fixture.seed(&["http://git.example.com"], "datacenter");
    let before = fixture.bytes();

    assert_eq!(fixture.get("http://git.example.com", DC_REALM), "");
    let output = fixture
        .run("store", format!("{}username=alice\npassword=new\n{DC_REALM}", parts("http://git.example.com")));
    assert_not_served(&output, "store over http with the realm");
    assert_eq!(fixture.bytes(), before, "the store changed");
}
