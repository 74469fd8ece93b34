use super::*;
use crate::secret::Secret;

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn http(pairs: &[(&str, &str)]) -> HttpSettings {
    let mut out = Vec::new();
    for (k, v) in pairs {
        out.extend_from_slice(format!("http.{k}\n{v}\0").as_bytes());
    }
    HttpSettings::from_git_output(&out)
}

/// `http.*` pairs (name without `http.`, value) or environment variables.
type Pairs<'a> = &'a [(&'a str, &'a str)];

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

/// (case, target, credential.httpsProxy, credential.httpProxy, http.* pairs, env, expected proxy, expected origin)
type ProxyCase<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    &'a [(&'a str, &'a str)],
    &'a [(&'a str, &'a str)],
    Option<&'a str>,
    Option<Origin>,
);

/// Every proxy rule, one row each.
const PROXY_CASES: &[ProxyCase<'static>] = &[
    ("nothing set", "https://bitbucket.org/", None, None, &[], &[], None, None),
    (
        "credential.httpsProxy beats everything for https",
        "https://bitbucket.org/",
        Some("http://gcm:1"),
        Some("http://gcmhttp:2"),
        &[("proxy", "http://git:3")],
        &[("HTTPS_PROXY", "http://env:4")],
        Some("http://gcm:1/"),
        Some(Origin::GitConfig("credential.httpsProxy")),
    ),
    (
        "credential.httpsProxy is not for http targets",
        "http://127.0.0.1:7990/",
        Some("http://gcm:1"),
        Some("http://gcmhttp:2"),
        &[],
        &[],
        Some("http://gcmhttp:2/"),
        Some(Origin::GitConfig("credential.httpProxy")),
    ),
    (
        "credential.httpProxy serves https when httpsProxy is unset",
        "https://bitbucket.org/",
        None,
        Some("http://gcmhttp:2"),
        &[("proxy", "http://git:3")],
        &[],
        Some("http://gcmhttp:2/"),
        Some(Origin::GitConfig("credential.httpProxy")),
    ),
    (
        "http.proxy beats the environment",
        "https://bitbucket.org/",
        None,
        None,
        &[("proxy", "http://git:3")],
        &[("HTTPS_PROXY", "http://env:4"), ("https_proxy", "http://env:5")],
        Some("http://git:3/"),
        Some(Origin::GitConfig("http.proxy")),
    ),
    (
        "empty http.proxy turns the proxy off, environment included",
        "https://bitbucket.org/",
        None,
        None,
        &[("proxy", "")],
        &[("HTTPS_PROXY", "http://env:4"), ("ALL_PROXY", "http://all:6")],
        None,
        None,
    ),
    (
        "lower case https_proxy wins over HTTPS_PROXY",
        "https://bitbucket.org/",
        None,
        None,
        &[],
        &[("HTTPS_PROXY", "http://upper:4"), ("https_proxy", "http://lower:5")],
        Some("http://lower:5/"),
        Some(Origin::Env("https_proxy")),
    ),
    (
        "HTTPS_PROXY alone",
        "https://bitbucket.org/",
        None,
        None,
        &[],
        &[("HTTPS_PROXY", "http://upper:4")],
        Some("http://upper:4/"),
        Some(Origin::Env("HTTPS_PROXY")),
    ),
    (
        "http_proxy is not for https targets",
        "https://bitbucket.org/",
        None,
        None,
        &[],
        &[("http_proxy", "http://plain:7")],
        None,
        None,
    ),
    (
        "HTTP_PROXY (upper case) is never read, as curl",
        "http://127.0.0.1:7990/",
        None,
        None,
        &[],
        &[("HTTP_PROXY", "http://cgi:8")],
        None,
        None,
    ),
    (
        "http_proxy for http targets",
        "http://127.0.0.1:7990/",
        None,
        None,
        &[],
        &[("http_proxy", "http://plain:7"), ("HTTPS_PROXY", "http://upper:4")],
        Some("http://plain:7/"),
        Some(Origin::Env("http_proxy")),
    ),
    (
        "all_proxy when no scheme variable, lower case first",
        "https://bitbucket.org/",
        None,
        None,
        &[],
        &[("ALL_PROXY", "http://ALL:9"), ("all_proxy", "http://all:10")],
        Some("http://all:10/"),
        Some(Origin::Env("all_proxy")),
    ),
    (
        "ALL_PROXY alone",
        "http://127.0.0.1:7990/",
        None,
        None,
        &[],
        &[("ALL_PROXY", "http://ALL:9")],
        Some("http://all:9/"),
        Some(Origin::Env("ALL_PROXY")),
    ),
    (
        "an empty https_proxy turns the proxy off, as in git",
        "https://bitbucket.org/",
        None,
        None,
        &[],
        &[("https_proxy", ""), ("ALL_PROXY", "http://ALL:9")],
        None,
        None,
    ),
    (
        "no scheme means http, no port means 1080",
        "https://bitbucket.org/",
        None,
        None,
        &[("proxy", "proxy.example.com")],
        &[],
        Some("http://proxy.example.com:1080/"),
        Some(Origin::GitConfig("http.proxy")),
    ),
    (
        "an https proxy without a port uses 443",
        "https://bitbucket.org/",
        None,
        None,
        &[("proxy", "https://proxy.example.com")],
        &[],
        Some("https://proxy.example.com/"),
        Some(Origin::GitConfig("http.proxy")),
    ),
    (
        "an explicit port 80 is kept",
        "https://bitbucket.org/",
        None,
        None,
        &[("proxy", "http://proxy.example.com:80")],
        &[],
        Some("http://proxy.example.com/"),
        Some(Origin::GitConfig("http.proxy")),
    ),
    (
        "user and password are kept for the proxy",
        "https://bitbucket.org/",
        None,
        None,
        &[("proxy", "u:p%40ss@proxy.example.com:3128")],
        &[],
        Some("http://u:p%40ss@proxy.example.com:3128/"),
        Some(Origin::GitConfig("http.proxy")),
    ),
];

#[test]
fn proxy_precedence_follows_gcm_then_git_then_curl() {
    for (case, target, https, plain, pairs, vars, expected, origin) in PROXY_CASES {
        let credential = CredentialProxies { https: https.map(Secret::new), http: plain.map(Secret::new) };
        let network = decide(&url(target), &credential, &http(pairs), &env_of(vars)).unwrap();
        let got = network.proxy.as_ref().map(|p| p.url.as_str().to_owned());
        assert_eq!(got.as_deref(), *expected, "{case}");
        assert_eq!(network.proxy.as_ref().map(|p| p.origin.clone()), *origin, "{case}");
    }
}

#[test]
fn empty_http_proxy_is_reported_as_turned_off() {
    let network = decide(
        &url("https://bitbucket.org/"),
        &CredentialProxies::default(),
        &http(&[("proxy", "")]),
        &env_of(&[("HTTPS_PROXY", "http://env:4")]),
    )
    .unwrap();
    assert_eq!(network.proxy_off, Some(Origin::GitConfig("http.proxy")));
    let lines = network.describe(&url("https://bitbucket.org/"));
    assert!(lines[0].contains("turned off by an empty git config http.proxy"), "{lines:?}");
}

#[test]
fn no_proxy_is_read_as_curl_reads_it() {
    let cases: &[(&str, &str, bool)] = &[
        ("example.com", "example.com", true),
        ("example.com", "www.example.com", true),
        ("example.com", "a.b.example.com", true),
        ("example.com", "notexample.com", false),
        ("example.com", "example.com.evil.org", false),
        (".example.com", "example.com", true),
        (".example.com", "www.example.com", true),
        (".example.com", "wwwexample.com", false),
        ("EXAMPLE.com", "www.Example.COM", true),
        ("example.com.", "www.example.com", true),
        ("*", "anything.at.all", true),
        ("*.example.com", "www.example.com", false),
        ("other.org, example.com", "example.com", true),
        (" other.org ,\texample.com ", "example.com", true),
        ("other.org,,", "example.com", false),
        ("", "example.com", false),
        ("example.com:8443", "example.com", false),
        ("127.0.0.1", "127.0.0.1", true),
        ("127.0.0.1", "127.0.0.10", false),
        ("127.0.0.1:7990", "127.0.0.1", false),
        ("localhost", "127.0.0.1", false),
        ("10.0.0.0/8", "10.1.2.3", true),
        ("10.0.0.0/8", "11.1.2.3", false),
        ("192.168.1.0/24", "192.168.1.200", true),
        ("0.0.0.0/0", "8.8.8.8", true),
        ("10.0.0.0/8", "ten.example.com", false),
        ("::1", "[::1]", true),
        ("[::1]:8080", "[::1]", false),
        ("[::1]", "[::1]", true),
        ("fd00::/8", "fd12::1", true),
        (".", "example.com", false),
    ];
    for (list, host, expected) in cases {
        assert_eq!(no_proxy_matches(list, host), *expected, "NO_PROXY={list:?} host={host}");
    }
}

#[test]
fn no_proxy_applies_to_every_proxy_and_lower_case_wins() {
    let target = url("https://git.example.com/");
    let other = url("https://api.bitbucket.org/");
    let env = env_of(&[("NO_PROXY", "bitbucket.org"), ("no_proxy", ".example.com")]);
    let network =
        decide(&target, &CredentialProxies::default(), &http(&[("proxy", "http://p:3128")]), &env).unwrap();
    assert_eq!(network.no_proxy, Some((".example.com".to_owned(), Origin::Env("no_proxy"))));
    assert!(network.proxy_for(&target).is_none(), "no_proxy excludes the configured http.proxy too");
    assert!(network.proxy_for(&other).is_some(), "NO_PROXY is not read when no_proxy is set");
    let gcm = CredentialProxies { https: Some(Secret::new("http://gcm:1")), http: None };
    let network = decide(&target, &gcm, &HttpSettings::default(), &env).unwrap();
    assert!(network.proxy_for(&target).is_none(), "and GCM's credential.httpsProxy");
    assert!(network.describe(&target)[0].contains("excluded by environment variable no_proxy"));
}

#[test]
fn bad_and_unsupported_proxies_name_their_setting() {
    let cases: &[(Pairs, Pairs, &str)] = &[
        (&[("proxy", "socks5://p:1080")], &[], "http.proxy is set, but a SOCKS proxy"),
        (&[], &[("HTTPS_PROXY", "socks5h://p")], "HTTPS_PROXY is set, but a SOCKS proxy"),
        (&[("proxy", "ftp://p:21")], &[], "invalid value for http.proxy"),
        (&[("proxy", "http://p:3128/some/path")], &[], "invalid value for http.proxy"),
        (&[("proxy", "http://")], &[], "invalid value for http.proxy"),
        (&[], &[("all_proxy", "http://p:99999")], "invalid value for all_proxy"),
        (
            &[("proxy", "http://p:1"), ("proxyauthmethod", "ntlm")],
            &[],
            "http.proxyAuthMethod is set, but proxy authentication other than Basic",
        ),
        (
            &[("proxy", "http://p:1")],
            &[("GIT_HTTP_PROXY_AUTHMETHOD", "negotiate")],
            "GIT_HTTP_PROXY_AUTHMETHOD is set",
        ),
        (
            &[("proxy", "http://p:1"), ("proxyauthmethod", "magic")],
            &[],
            "invalid value for http.proxyAuthMethod",
        ),
        (
            &[("proxy", "https://p"), ("proxysslcert", "/c.pem")],
            &[],
            "http.proxySSLCert is set, but a TLS client certificate for an https proxy is not supported",
        ),
        (&[("proxy", "https://p")], &[("GIT_PROXY_SSL_KEY", "/k.pem")], "GIT_PROXY_SSL_KEY is set"),
        (&[("proxy", "https://p"), ("proxysslkey", "/k.pem")], &[], "http.proxySSLKey is set"),
    ];
    for (pairs, vars, expected) in cases {
        let err = decide(
            &url("https://bitbucket.org/"),
            &CredentialProxies::default(),
            &http(pairs),
            &env_of(vars),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(expected), "{err:?} should contain {expected:?}");
        assert!(!err.contains("p%40") && !err.contains("secret"), "{err}");
    }
    let gcm = CredentialProxies { https: Some(Secret::new("socks5://u:secret@p")), http: None };
    let err = decide(&url("https://bitbucket.org/"), &gcm, &HttpSettings::default(), &env_of(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("credential.httpsProxy") && !err.contains("secret"), "{err}");
}

#[test]
fn proxy_auth_method_is_checked_only_when_a_proxy_is_used() {
    let network = decide(
        &url("https://bitbucket.org/"),
        &CredentialProxies::default(),
        &http(&[("proxyauthmethod", "ntlm")]),
        &env_of(&[]),
    );
    assert!(network.is_ok());
}

#[test]
fn a_proxy_password_never_shows() {
    let network = decide(
        &url("https://bitbucket.org/"),
        &CredentialProxies::default(),
        &http(&[("proxy", "http://alice:s3cr3t@proxy.example.com:3128")]),
        &env_of(&[]),
    )
    .unwrap();
    let proxy = network.proxy.clone().unwrap();
    assert_eq!(proxy.url.password(), Some("s3cr3t"), "kept for the request");
    assert_eq!(proxy.redacted(), "http://proxy.example.com:3128");
    let shown = format!("{:?} {:?}", network, network.describe(&url("https://bitbucket.org/")));
    assert!(!shown.contains("s3cr3t") && !shown.contains("alice"), "{shown}");
}

#[test]
fn tls_trust_follows_git() {
    let target = url("https://bitbucket.example.com/");
    let cases: &[(&str, Pairs, Pairs, Trust)] = &[
        ("nothing set", &[], &[], Trust::System),
        (
            "sslCAInfo replaces the system store",
            &[("sslcainfo", "/etc/corp/ca.pem")],
            &[],
            Trust::Only {
                ca_info: Some(("/etc/corp/ca.pem".into(), Origin::GitConfig("http.sslCAInfo"))),
                ca_path: None,
            },
        ),
        (
            "GIT_SSL_CAINFO wins over http.sslCAInfo, ~ expanded",
            &[("sslcainfo", "/etc/corp/ca.pem")],
            &[("GIT_SSL_CAINFO", "~/ca.pem"), ("HOME", "/home/u")],
            Trust::Only {
                ca_info: Some(("/home/u/ca.pem".into(), Origin::Env("GIT_SSL_CAINFO"))),
                ca_path: None,
            },
        ),
        (
            "sslCAPath alone",
            &[("sslcapath", "/etc/corp/certs")],
            &[],
            Trust::Only {
                ca_info: None,
                ca_path: Some(("/etc/corp/certs".into(), Origin::GitConfig("http.sslCAPath"))),
            },
        ),
        (
            "GIT_SSL_CAPATH",
            &[],
            &[("GIT_SSL_CAPATH", "/d")],
            Trust::Only { ca_info: None, ca_path: Some(("/d".into(), Origin::Env("GIT_SSL_CAPATH"))) },
        ),
        ("an empty sslCAInfo is unset", &[("sslcainfo", "")], &[], Trust::System),
    ];
    for (case, pairs, vars, expected) in cases {
        let network = decide(&target, &CredentialProxies::default(), &http(pairs), &env_of(vars)).unwrap();
        assert_eq!(&network.trust, expected, "{case}");
    }
}

#[test]
fn tls_trust_follows_git_for_paths_and_verification() {
    let target = url("https://bitbucket.example.com/");
    let cases: &[(&str, Pairs, Pairs, Trust)] = &[
        (
            "sslVerify=false turns checks off",
            &[("sslverify", "false"), ("sslcainfo", "/ca.pem")],
            &[],
            Trust::Off(Origin::GitConfig("http.sslVerify")),
        ),
        ("sslVerify=no", &[("sslverify", "no")], &[], Trust::Off(Origin::GitConfig("http.sslVerify"))),
        ("sslVerify=true", &[("sslverify", "true")], &[], Trust::System),
        ("sslVerify given alone is true", &[("sslverify", "true")], &[], Trust::System),
        (
            "GIT_SSL_NO_VERIFY, even empty, beats sslVerify=true",
            &[("sslverify", "true")],
            &[("GIT_SSL_NO_VERIFY", "")],
            Trust::Off(Origin::Env("GIT_SSL_NO_VERIFY")),
        ),
        (
            "openssl backend changes nothing",
            &[("sslbackend", "openssl"), ("sslcainfo", "/ca.pem")],
            &[],
            Trust::Only {
                ca_info: Some(("/ca.pem".into(), Origin::GitConfig("http.sslCAInfo"))),
                ca_path: None,
            },
        ),
    ];
    for (case, pairs, vars, expected) in cases {
        let network = decide(&target, &CredentialProxies::default(), &http(pairs), &env_of(vars)).unwrap();
        assert_eq!(&network.trust, expected, "{case}");
    }
}

#[test]
fn unsupported_tls_settings_are_errors_naming_them() {
    let target = url("https://bitbucket.example.com/");
    let cases: &[(Pairs, Pairs, &str)] = &[
        (&[("sslcert", "/c.pem")], &[], "http.sslCert is set, but a TLS client certificate is not supported"),
        (&[("sslkey", "/k.pem")], &[], "http.sslKey is set"),
        (&[], &[("GIT_SSL_CERT", "/c.pem")], "GIT_SSL_CERT is set"),
        (&[("sslverify", "maybe")], &[], "invalid value for http.sslVerify"),
        (&[("sslbackend", "carrier-pigeon")], &[], "invalid value for http.sslBackend"),
    ];
    for (pairs, vars, expected) in cases {
        let err = decide(&target, &CredentialProxies::default(), &http(pairs), &env_of(vars))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{err:?} should contain {expected:?}");
    }
}

#[test]
fn verification_off_has_a_warning_naming_its_setting() {
    let target = url("https://bitbucket.example.com/x?secret=1");
    let network =
        decide(&target, &CredentialProxies::default(), &http(&[("sslverify", "false")]), &env_of(&[]))
            .unwrap();
    let warning = network.warning().unwrap();
    assert!(
        warning.contains("https://bitbucket.example.com/x") && warning.contains("http.sslVerify"),
        "{warning}"
    );
    assert!(!warning.contains("secret=1"));
    assert!(Network::direct().warning().is_none());
}

#[test]
fn ca_path_lists_its_files_in_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b.pem"), "b").unwrap();
    std::fs::write(dir.path().join("a.pem"), "a").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let origin = Origin::GitConfig("http.sslCAPath");
    let trust = Trust::Only {
        ca_info: Some(("/ca.pem".into(), origin.clone())),
        ca_path: Some((dir.path().into(), origin)),
    };
    let files: Vec<PathBuf> = trust_files(&trust).unwrap().into_iter().map(|(p, _)| p).collect();
    assert_eq!(files, [PathBuf::from("/ca.pem"), dir.path().join("a.pem"), dir.path().join("b.pem")]);
    let missing =
        Trust::Only { ca_info: None, ca_path: Some(("/no/such/dir".into(), Origin::Env("GIT_SSL_CAPATH"))) };
    let err = trust_files(&missing).unwrap_err().to_string();
    assert!(err.contains("/no/such/dir") && err.contains("GIT_SSL_CAPATH"), "{err}");
}

#[test]
fn git_output_keys_are_case_insensitive_and_bare_keys_are_true() {
    let settings =
        HttpSettings::from_git_output(b"http.proxy\nhttp://p:1\0http.sslverify\0http.SSLCAInfo\n/x\0");
    assert_eq!(settings.get("proxy"), Some("http://p:1"));
    assert_eq!(settings.get("sslverify"), Some("true"));
    assert_eq!(settings.get("sslcainfo"), Some("/x"));
}

#[cfg(windows)]
#[test]
fn schannel_ignores_ssl_ca_info_unless_told_as_git_does() {
    let target = url("https://bitbucket.example.com/");
    let trust_of = |pairs: Pairs| {
        decide(&target, &CredentialProxies::default(), &http(pairs), &env_of(&[])).unwrap().trust
    };
    assert_eq!(trust_of(&[("sslbackend", "schannel"), ("sslcainfo", "/ca.pem")]), Trust::System);
    assert_eq!(
        trust_of(&[("sslbackend", "schannel"), ("sslcainfo", "/ca.pem"), ("schannelusesslcainfo", "true")]),
        Trust::Only { ca_info: Some(("/ca.pem".into(), Origin::GitConfig("http.sslCAInfo"))), ca_path: None }
    );
}

/// git dies on a backend its curl lacks ("Unsupported SSL backend"); curl has `schannel`
/// only on Windows and Secure Transport only on Apple's systems.
#[test]
fn a_backend_of_another_operating_system_is_an_error_naming_the_setting() {
    let target = url("https://bitbucket.example.com/");
    let error_of = |backend: &str| {
        decide(&target, &CredentialProxies::default(), &http(&[("sslbackend", backend)]), &env_of(&[]))
            .err()
            .map(|e| e.to_string())
    };
    let schannel = error_of("schannel");
    let secure_transport = error_of("Secure-Transport");
    if cfg!(windows) {
        assert_eq!(schannel, None);
    } else {
        let message = schannel.unwrap_or_default();
        assert!(message.contains("http.sslBackend is schannel, Windows's own TLS backend"), "{message}");
    }
    if cfg!(target_vendor = "apple") {
        assert_eq!(secure_transport, None);
    } else {
        let message = secure_transport.unwrap_or_default();
        assert!(message.contains("http.sslBackend is secure-transport, macOS's own"), "{message}");
    }
    assert_eq!(error_of("gnutls"), None);
}

/// Issue 22: git gives `http.sslVerify`, `sslCAInfo`, `sslCAPath` and their variables to curl
/// for the server only; an https proxy's certificate is checked against the system store or
/// `http.proxySSLCAInfo` / `GIT_PROXY_SSL_CAINFO`.
#[test]
fn an_https_proxy_has_its_own_trust_as_in_git() {
    let target = url("https://bitbucket.example.com/");
    let only = |path: &str, origin: Origin| ProxyTrust::Only(path.into(), origin);
    let cases: &[(&str, Pairs, Pairs, ProxyTrust)] = &[
        ("nothing set", &[("proxy", "https://p:3129")], &[], ProxyTrust::System),
        (
            "sslVerify=false is the server's",
            &[("proxy", "https://p:3129"), ("sslverify", "false")],
            &[("GIT_SSL_NO_VERIFY", "1")],
            ProxyTrust::System,
        ),
        (
            "sslCAInfo and sslCAPath are the server's",
            &[("proxy", "https://p:3129"), ("sslcainfo", "/ca.pem"), ("sslcapath", "/certs")],
            &[("GIT_SSL_CAINFO", "/ca2.pem")],
            ProxyTrust::System,
        ),
        (
            "proxySSLCAInfo, not expanded (git_config_string)",
            &[("proxy", "https://p:3129"), ("proxysslcainfo", "~/proxy-ca.pem")],
            &[("HOME", "/home/u")],
            only("~/proxy-ca.pem", Origin::GitConfig("http.proxySSLCAInfo")),
        ),
        (
            "GIT_PROXY_SSL_CAINFO wins",
            &[("proxy", "https://p:3129"), ("proxysslcainfo", "/a.pem")],
            &[("GIT_PROXY_SSL_CAINFO", "/b.pem")],
            only("/b.pem", Origin::Env("GIT_PROXY_SSL_CAINFO")),
        ),
        (
            "an empty one is unset",
            &[("proxy", "https://p:3129"), ("proxysslcainfo", "")],
            &[],
            ProxyTrust::System,
        ),
        (
            "an http proxy has no certificate",
            &[("proxy", "http://p:3128"), ("proxysslcainfo", "/a.pem"), ("proxysslcert", "/c.pem")],
            &[],
            ProxyTrust::System,
        ),
    ];
    for (case, pairs, vars, expected) in cases {
        let network = decide(&target, &CredentialProxies::default(), &http(pairs), &env_of(vars)).unwrap();
        assert_eq!(&network.proxy_trust, expected, "{case}");
    }
    // The server's trust is still decided from its own settings.
    let network = decide(
        &target,
        &CredentialProxies::default(),
        &http(&[("proxy", "https://p:3129"), ("sslverify", "false"), ("proxysslcainfo", "/a.pem")]),
        &env_of(&[]),
    )
    .unwrap();
    assert_eq!(network.trust, Trust::Off(Origin::GitConfig("http.sslVerify")));
    assert_eq!(
        network.proxy_trust,
        ProxyTrust::Only("/a.pem".into(), Origin::GitConfig("http.proxySSLCAInfo"))
    );
    let lines = network.describe(&target);
    assert!(lines.iter().any(|l| l.contains("verification is OFF for bitbucket.example.com")), "{lines:?}");
    assert!(
        lines.iter().any(|l| l
            == "tls: the proxy https://p:3129's certificate checked against /a.pem only (from git config http.proxySSLCAInfo); http.sslVerify, http.sslCAInfo and http.sslCAPath apply to the server only"),
        "{lines:?}"
    );
    // An http proxy: no line about a proxy certificate.
    let plain =
        decide(&target, &CredentialProxies::default(), &http(&[("proxy", "http://p:3128")]), &env_of(&[]))
            .unwrap();
    assert!(
        !plain.describe(&target).iter().any(|l| l.contains("the proxy")),
        "{:?}",
        plain.describe(&target)
    );
}

#[test]
fn the_verifier_compares_host_names_as_hosts() {
    use rustls::pki_types::ServerName;
    let name = |s: &str| ServerName::try_from(s.to_owned()).unwrap();
    assert!(tls::same_host(&name("Proxy.Example.com"), &name("proxy.example.com")));
    assert!(tls::same_host(&name("proxy.example.com."), &name("proxy.example.com")));
    assert!(!tls::same_host(&name("proxy.example.com"), &name("example.com")));
    assert!(tls::same_host(&name("127.0.0.1"), &name("127.0.0.1")));
    assert!(!tls::same_host(&name("127.0.0.1"), &name("localhost")));
    assert!(!tls::same_host(&name("::1"), &name("127.0.0.1")));
    // The name rustls verifies for a proxy URL is its host, IPv6 brackets dropped.
    let proxy = |u: &str| tls::url_name(&url(u)).unwrap();
    assert!(tls::same_host(&proxy("https://u:p@LOCALHOST:3129"), &name("localhost")));
    assert!(tls::same_host(&proxy("https://[::1]:3129"), &name("::1")));
}
