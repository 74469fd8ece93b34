//! Reaching Bitbucket the way git does (issue 11): the helper's own requests (sign-in,
//! refresh, user look-up, diagnose) use git's proxy and TLS settings for the URL. Everything
//! here is real: `tinyproxy` as the proxy (its log proves what went through it), a private
//! CA made with `openssl`, `stunnel` serving the fake Bitbucket over TLS with a certificate
//! from that CA, and real `git clone` using the same settings.

use std::io::Write;
use std::process::{Output, Stdio};

use crate::common::*;
use bitbucket_test_support::{Consent, PrivateCa, RequestKind, Tinyproxy, TlsFront, client};

const PROXY_USER: &str = "proxyuser";
const PROXY_PASSWORD: &str = "proxy-pw-never-printed";

/// The Cloud fake as the helper sees it: over plain http, or over TLS through `stunnel` with
/// a certificate from a private CA that nothing trusts unless told.
struct Site {
    setup: Setup,
    tls: Option<(PrivateCa, TlsFront)>,
}

impl Site {
    fn plain() -> Site {
        Site { setup: Setup::cloud(), tls: None }
    }

    /// The fake behind `stunnel`; the helper serves `https://127.0.0.1:PORT` as Cloud, with
    /// its OAuth and API endpoints there too. No CA setting yet.
    fn tls() -> Site {
        let setup = Setup::cloud();
        let ca = PrivateCa::new();
        let front = TlsFront::start(&ca, setup.fake.port());
        let base = format!("https://127.0.0.1:{}", front.port());
        setup.env.config(&format!("credential.{base}.provider"), "bitbucket");
        setup.env.config(&format!("credential.{base}.bitbucketDeployment"), "cloud");
        setup.env.config("credential.bitbucketCloudUrl", &base);
        setup.env.config("credential.bitbucketCloudApiUrl", &base);
        Site { setup, tls: Some((ca, front)) }
    }

    fn ca_cert(&self) -> String {
        let (ca, _) = self.tls.as_ref().expect("a TLS site");
        ca.ca_cert().display().to_string()
    }

    fn protocol(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    fn host(&self) -> String {
        match &self.tls {
            Some((_, front)) => format!("127.0.0.1:{}", front.port()),
            None => self.setup.fake.host(),
        }
    }

    fn base(&self) -> String {
        format!("{}://{}", self.protocol(), self.host())
    }

    /// alice's remote, with her name in it so git asks for her account.
    fn remote(&self) -> String {
        format!("{}://alice@{}/team/repo.git", self.protocol(), self.host())
    }

    fn input(&self) -> String {
        format!("protocol={}\nhost={}\nusername=alice\n\n", self.protocol(), self.host())
    }

    fn run(&self, args: &[&str], input: &str, extra_env: &[(&str, &str)]) -> Output {
        let mut cmd = self.setup.env.command(HELPER);
        cmd.args(args).envs(extra_env.iter().copied());
        run_with_input(cmd, input)
    }

    fn get(&self, extra_env: &[(&str, &str)]) -> Output {
        self.run(&["get"], &self.input(), extra_env)
    }

    /// Store what a finished sign-in leaves, but already expired: the next `get` refreshes.
    /// Whatever alice had is signed out first (`store` never replaces a newer token with an
    /// older one).
    fn seed_expired(&self) -> (String, String) {
        let logout = self.run(&["logout", &self.base(), "--user", "alice"], "", &[]);
        assert!(logout.status.success(), "{}", stderr(&logout));
        let fake = &self.setup.fake;
        let access = fake.issue_access_token("alice", 3600);
        let refresh = fake.issue_refresh_token("alice", CLIENT_ID);
        let input = format!(
            "protocol={}\nhost={}\nusername=alice\npassword={access}\npassword_expiry_utc={}\noauth_refresh_token={refresh}\n\n",
            self.protocol(),
            self.host(),
            unix_now() - 10
        );
        let out = self.run(&["store"], &input, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        (access, refresh)
    }

    /// `get` signing in through a recording `BROWSER`: this test presses Grant on the fake's
    /// consent page (directly, as a browser would not use the helper's proxy) and follows
    /// the redirect to the helper's callback.
    fn sign_in(&self, extra_env: &[(&str, &str)]) -> Output {
        let dir = tempfile::tempdir().unwrap();
        let (browser, opened) = recording_browser(dir.path());
        let mut cmd = self.setup.env.command(HELPER);
        cmd.arg("get")
            .env_remove("GIT_TERMINAL_PROMPT")
            .env("BROWSER", &browser)
            .envs(extra_env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(self.input().as_bytes()).unwrap();
        let url = wait_for_file(&opened, &mut child);
        let url = url.replace(&self.base(), &self.setup.fake.base_url());
        let callback = self.setup.consent_callback(&url, Consent::Grant);
        assert_eq!(client::get(&callback).unwrap().status, 200);
        child.wait_with_output().unwrap()
    }

    fn clone(&self, name: &str, extra_env: &[(&str, &str)]) -> Output {
        let target = self.setup.env.path().join(name);
        self.setup
            .env
            .command("git")
            .args(["clone", &self.remote(), target.to_str().unwrap()])
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

fn count_starting(requests: &[String], prefix: &str) -> usize {
    requests.iter().filter(|r| r.starts_with(prefix)).count()
}

#[test]
fn oauth_sign_in_goes_through_the_proxy_given_only_as_http_proxy() {
    let site = Site::plain();
    let proxy = Tinyproxy::start(&[], None);
    site.setup.env.config("http.proxy", &proxy.url());

    let out = site.sign_in(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(field(&out, "username"), Some("alice"));
    let requests = proxy.requests();
    let base = site.setup.fake.base_url();
    assert_eq!(
        count_starting(&requests, &format!("POST {base}/site/oauth2/access_token ")),
        1,
        "{requests:?}"
    );
    assert_eq!(count_starting(&requests, &format!("GET {base}/2.0/user ")), 1, "{requests:?}");
    assert_eq!(site.setup.fake.count(RequestKind::Token), 1);
}

#[test]
fn refresh_and_git_clone_go_through_the_proxy_given_only_as_http_proxy() {
    let site = Site::plain();
    let proxy = Tinyproxy::start(&[], None);
    site.setup.env.config("http.proxy", &proxy.url());
    let (expired, _) = site.seed_expired();

    let out = site.clone("through-proxy", &[]);
    assert!(out.status.success(), "clone failed: {}", stderr(&out));
    assert_eq!(site.setup.fake.count(RequestKind::Token), 1, "one refresh");
    assert_ne!(site.setup.fake.last_access_token("alice").as_deref(), Some(expired.as_str()));
    let requests = proxy.requests();
    let base = site.setup.fake.base_url();
    assert_eq!(
        count_starting(&requests, &format!("POST {base}/site/oauth2/access_token ")),
        1,
        "{requests:?}"
    );
    assert!(
        count_starting(&requests, &format!("GET {base}/team/repo.git/info/refs")) >= 1,
        "git itself used the same proxy: {requests:?}"
    );
}

#[test]
fn https_proxy_variable_carries_sign_in_refresh_and_git_clone_over_tls() {
    let site = Site::tls();
    site.setup.env.config("http.sslCAInfo", &site.ca_cert());
    let port = site.tls.as_ref().unwrap().1.port();
    let proxy = Tinyproxy::start(&[port], None);
    let via = [("HTTPS_PROXY", proxy.url())];
    let via: Vec<(&str, &str)> = via.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let tunnel = format!("CONNECT 127.0.0.1:{port} ");

    let out = site.sign_in(&via);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(field(&out, "username"), Some("alice"));
    let after_sign_in = count_starting(&proxy.requests(), &tunnel);
    assert!(after_sign_in >= 1, "the token request went through the proxy: {:?}", proxy.requests());
    assert_eq!(proxy.requests().len(), after_sign_in, "and nothing else: {:?}", proxy.requests());

    site.seed_expired();
    let out = site.clone("over-tls", &via);
    assert!(out.status.success(), "clone failed: {}", stderr(&out));
    assert_eq!(site.setup.fake.count(RequestKind::Token), 2, "sign-in, then one refresh");
    assert!(count_starting(&proxy.requests(), &tunnel) > after_sign_in + 1, "{:?}", proxy.requests());
}

#[test]
fn no_proxy_bypasses_the_https_proxy() {
    let site = Site::tls();
    site.setup.env.config("http.sslCAInfo", &site.ca_cert());
    let proxy = Tinyproxy::start(&[site.tls.as_ref().unwrap().1.port()], None);
    let url = proxy.url();
    let env = [("HTTPS_PROXY", url.as_str()), ("NO_PROXY", "localhost,127.0.0.1")];

    let out = site.sign_in(&env);
    assert!(out.status.success(), "{}", stderr(&out));
    site.seed_expired();
    let out = site.get(&env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(site.setup.fake.count(RequestKind::Token), 2, "sign-in and refresh reached the server");
    assert_eq!(proxy.requests(), Vec::<String>::new(), "nothing went through the proxy");

    // The same run without NO_PROXY does use it: the proxy was there to be used.
    site.seed_expired();
    let out = site.get(&env[..1]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(proxy.requests().len(), 1, "{:?}", proxy.requests());
}

fn proxy_with_password(proxy: &Tinyproxy, password: &str) -> String {
    format!("http://{PROXY_USER}:{password}@127.0.0.1:{}", proxy.port())
}

#[test]
fn proxy_credentials_in_the_url_work_and_never_show() {
    let site = Site::plain();
    let proxy = Tinyproxy::start(&[], Some((PROXY_USER, PROXY_PASSWORD)));
    site.setup.env.config("http.proxy", &proxy_with_password(&proxy, PROXY_PASSWORD));
    let trace = site.setup.env.path().join("trace");
    let trace_env = [("GIT_BITBUCKET_TRACE", trace.to_str().unwrap())];
    site.seed_expired();

    let out = site.get(&trace_env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(site.setup.fake.count(RequestKind::Token), 1);
    let base = site.setup.fake.base_url();
    let through = count_starting(&proxy.requests(), &format!("POST {base}/site/oauth2/access_token "));
    assert_eq!(through, 1, "{}", proxy.log());

    let diagnose = site.run(&["diagnose", &site.base()], "", &trace_env);
    let report = String::from_utf8_lossy(&diagnose.stdout).into_owned();
    assert!(
        report.contains(&format!(
            "proxy: http://127.0.0.1:{} for 127.0.0.1 (from git config http.proxy)",
            proxy.port()
        )),
        "{report}"
    );
    assert!(report.contains("tls: certificates checked against the system trust store"), "{report}");
    assert!(report.contains("answered HTTP 401 without credentials"), "diagnose went through it: {report}");

    let trace_text = std::fs::read_to_string(&trace).unwrap();
    let traced = format!("proxy http://127.0.0.1:{} (from git config http.proxy)", proxy.port());
    assert!(trace_text.contains(&traced), "the trace names the proxy: {trace_text}");
    for (what, text) in [("stderr", stderr(&out)), ("trace", trace_text), ("diagnose", report)] {
        assert!(!text.contains(PROXY_PASSWORD), "the proxy password reached the {what}");
        assert!(!text.contains(PROXY_USER), "the proxy user reached the {what}");
    }
}

#[test]
fn a_proxy_wanting_or_refusing_credentials_is_named_with_its_setting() {
    let site = Site::tls();
    site.setup.env.config("http.sslCAInfo", &site.ca_cert());
    let port = site.tls.as_ref().unwrap().1.port();
    let proxy = Tinyproxy::start(&[port], Some((PROXY_USER, PROXY_PASSWORD)));
    let named = format!("through the proxy http://127.0.0.1:{} (from git config http.proxy)", proxy.port());

    // The right credentials open the tunnel.
    site.setup.env.config("http.proxy", &proxy_with_password(&proxy, PROXY_PASSWORD));
    site.seed_expired();
    let out = site.get(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count_starting(&proxy.requests(), &format!("CONNECT 127.0.0.1:{port} ")), 1);

    // None: the proxy answers 407.
    site.setup.env.config("http.proxy", &proxy.url());
    site.seed_expired();
    let before = site.setup.stored();
    let wants = site.get(&[]);
    let message = stderr(&wants);
    eprintln!("no proxy credentials: {message}");
    assert_eq!(wants.status.code(), Some(1), "{message}");
    assert!(message.starts_with("git-credential-bitbucket: ") && message.contains(&named), "{message}");
    assert!(message.contains("HTTP 407") && message.contains("USER:PASSWORD@"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert_eq!(site.setup.stored(), before, "stored secrets unchanged");

    // Wrong ones: refused, and the wrong password is not repeated.
    let wrong = format!("not-{PROXY_PASSWORD}");
    site.setup.env.config("http.proxy", &proxy_with_password(&proxy, &wrong));
    let refused = site.get(&[]);
    let message = stderr(&refused);
    eprintln!("wrong proxy credentials: {message}");
    assert_eq!(refused.status.code(), Some(1), "{message}");
    assert!(message.contains(&named) && message.contains("refused"), "{message}");
    assert!(!message.contains(PROXY_PASSWORD) && !message.contains(PROXY_USER), "{message}");
    assert_eq!(site.setup.stored(), before, "stored secrets unchanged");
    assert_eq!(site.setup.fake.count(RequestKind::Token), 1, "only the first refresh reached the server");
}

#[test]
fn private_ca_given_only_as_ssl_ca_info_serves_sign_in_refresh_and_git() {
    let site = Site::tls();
    site.setup.env.config("http.sslCAInfo", &site.ca_cert());

    let out = site.sign_in(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(field(&out, "username"), Some("alice"));
    site.seed_expired();
    let out = site.clone("over-tls", &[]);
    assert!(out.status.success(), "clone failed: {}", stderr(&out));
    assert_eq!(site.setup.fake.count(RequestKind::Token), 2, "sign-in, then one refresh during the clone");

    let report = site.run(&["diagnose", &site.base()], "", &[]);
    let report = String::from_utf8_lossy(&report.stdout).into_owned();
    assert!(
        report.contains(&format!(
            "tls: certificates checked against {} only (from git config http.sslCAInfo)",
            site.ca_cert()
        )),
        "{report}"
    );
    assert!(report.contains("answered HTTP 401 without credentials"), "diagnose reached it: {report}");
}

#[test]
fn without_the_ca_setting_refresh_fails_naming_the_host_and_http_ssl_ca_info() {
    let site = Site::tls();
    let (expired, refresh) = site.seed_expired();
    let before = site.setup.stored();

    let out = site.get(&[]);
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    eprintln!("no CA setting: {message}");
    assert!(message.starts_with("git-credential-bitbucket: "), "{message}");
    assert!(message.contains("certificate of 127.0.0.1 is not trusted"), "{message}");
    assert!(message.contains("http.sslCAInfo"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(out.stdout.is_empty());
    assert_eq!(site.setup.fake.count(RequestKind::Token), 0, "nothing reached the server");
    assert_eq!(site.setup.stored(), before, "stored secrets unchanged");
    assert!(before.contains(&expired) && before.contains(&refresh));

    // A CA file that did not issue it: the message names the file and its setting.
    let other = PrivateCa::new();
    site.setup.env.config("http.sslCAInfo", other.ca_cert().to_str().unwrap());
    let out = site.get(&[]);
    let message = stderr(&out);
    eprintln!("another CA: {message}");
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(
        message.contains(&format!("{} (git config http.sslCAInfo)", other.ca_cert().display())),
        "{message}"
    );
}

#[test]
fn ssl_verify_false_works_and_warns_on_every_run() {
    let site = Site::tls();
    site.setup.env.config(&format!("http.{}.sslVerify", site.base()), "false");
    for run in 0..2 {
        site.seed_expired();
        let out = site.get(&[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(field(&out, "password").is_some());
        let message = stderr(&out);
        assert!(
            message.contains("warning: TLS certificate verification is off for")
                && message.contains("git config http.sslVerify"),
            "run {run}: {message}"
        );
    }
    assert_eq!(site.setup.fake.count(RequestKind::Token), 2);

    // GIT_SSL_NO_VERIFY, as git reads it: set at all means off.
    let site = Site::tls();
    site.seed_expired();
    let out = site.get(&[("GIT_SSL_NO_VERIFY", "1")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("environment variable GIT_SSL_NO_VERIFY"), "{}", stderr(&out));
}

#[test]
fn unsupported_client_certificate_is_an_error_naming_the_setting() {
    let site = Site::tls();
    site.setup.env.config("http.sslCAInfo", &site.ca_cert());
    site.setup.env.config("http.sslCert", "/etc/ssl/client.pem");
    let (_, _) = site.seed_expired();
    let before = site.setup.stored();
    let out = site.get(&[]);
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    eprintln!("client certificate: {message}");
    assert!(message.contains("http.sslCert") && message.contains("not supported"), "{message}");
    assert_eq!(site.setup.fake.count(RequestKind::Token), 0);
    assert_eq!(site.setup.stored(), before);
}

#[test]
fn a_fresh_stored_token_is_answered_without_reading_the_network_settings() {
    let site = Site::tls();
    // Both would stop a run that sends a request: neither is even read here.
    site.setup.env.config("http.sslCert", "/etc/ssl/client.pem");
    site.setup.env.config("http.proxy", "socks5://127.0.0.1:1");
    let access = site.setup.fake.issue_access_token("alice", 3600);
    let input = format!(
        "protocol=https\nhost={}\nusername=alice\npassword={access}\npassword_expiry_utc={}\n\n",
        site.host(),
        unix_now() + 3600
    );
    assert!(site.run(&["store"], &input, &[]).status.success());
    let out = site.get(&[("GIT_SSL_NO_VERIFY", "1")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(field(&out, "password"), Some(access.as_str()));
    assert_eq!(stderr(&out), "", "no warning and no error: no request was about to be made");
    assert_eq!(site.setup.fake.requests().len(), 0);
}

#[test]
fn gcm_credential_https_proxy_wins_over_http_proxy() {
    let site = Site::tls();
    site.setup.env.config("http.sslCAInfo", &site.ca_cert());
    let port = site.tls.as_ref().unwrap().1.port();
    let gcm = Tinyproxy::start(&[port], None);
    let git = Tinyproxy::start(&[port], None);
    site.setup.env.config(&format!("credential.{}.httpsProxy", site.base()), &gcm.url());
    site.setup.env.config("http.proxy", &git.url());
    site.seed_expired();

    let out = site.get(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count_starting(&gcm.requests(), &format!("CONNECT 127.0.0.1:{port} ")), 1, "{}", gcm.log());
    assert_eq!(git.requests(), Vec::<String>::new(), "http.proxy was not used");
}

#[test]
fn a_ca_directory_in_git_ssl_capath_is_trusted_too() {
    let site = Site::tls();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(site.ca_cert(), dir.path().join("company-ca.pem")).unwrap();
    std::fs::write(dir.path().join("README"), "not a certificate\n").unwrap();
    site.seed_expired();

    let out = site.get(&[("GIT_SSL_CAPATH", dir.path().to_str().unwrap())]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(site.setup.fake.count(RequestKind::Token), 1);

    let empty = tempfile::tempdir().unwrap();
    site.seed_expired();
    let out = site.get(&[("GIT_SSL_CAPATH", empty.path().to_str().unwrap())]);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(
        message.contains(&format!(
            "cannot use {} (environment variable GIT_SSL_CAPATH)",
            empty.path().display()
        )) && message.contains("no PEM certificate in it"),
        "{message}"
    );
}

/// curl compares a `NO_PROXY` entry with the host name as a whole, so `127.0.0.1:PORT`
/// never excludes `127.0.0.1`: git's requests go through the proxy, and the helper's must too.
#[test]
fn a_no_proxy_entry_with_a_port_is_ignored_as_curl_ignores_it() {
    let site = Site::tls();
    site.setup.env.config("http.sslCAInfo", &site.ca_cert());
    let port = site.tls.as_ref().unwrap().1.port();
    let proxy = Tinyproxy::start(&[port], None);
    let url = proxy.url();
    let entry = format!("127.0.0.1:{port}");
    let env = [("HTTPS_PROXY", url.as_str()), ("NO_PROXY", entry.as_str())];

    let curl = site
        .setup
        .env
        .command("curl")
        .args(["-s", "-o", "/dev/null", "--cacert", &site.ca_cert()])
        .arg(format!("{}/", site.base()))
        .envs(env)
        .output()
        .unwrap();
    assert!(curl.status.success(), "curl: {}", stderr(&curl));
    let tunnel = format!("CONNECT 127.0.0.1:{port}");
    assert_eq!(count_starting(&proxy.requests(), &tunnel), 1, "curl used the proxy: {}", proxy.log());

    site.seed_expired();
    let out = site.get(&env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count_starting(&proxy.requests(), &tunnel), 2, "the refresh used the proxy: {}", proxy.log());
}

/// git dies with "Unsupported SSL backend" on a backend its curl cannot have here; the
/// helper stops too, before any request, naming the setting.
#[cfg(not(windows))]
#[test]
fn a_tls_backend_of_another_system_is_refused_as_git_refuses_it() {
    let site = Site::tls();
    site.setup.env.config("http.sslCAInfo", &site.ca_cert());
    site.seed_expired();
    site.setup.env.config("http.sslBackend", "schannel");
    let before = site.setup.stored();

    let out = site.get(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("http.sslBackend is schannel, Windows's own TLS backend"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert_eq!(site.setup.fake.count(RequestKind::Token), 0);
    assert_eq!(site.setup.stored(), before);

    let clone = site.clone("schannel", &[]);
    assert!(!clone.status.success());
    assert!(stderr(&clone).contains("Unsupported SSL backend 'schannel'"), "{}", stderr(&clone));
}

/// `tinyproxy` (wanting the proxy user and password) behind `stunnel` with a certificate
/// from `ca`, which the system does not trust: an `https://` proxy at `host`.
fn https_proxy(site: &Site, ca: &PrivateCa, host: &str) -> (Tinyproxy, TlsFront, String) {
    let proxy = Tinyproxy::start(&[site.tls.as_ref().unwrap().1.port()], Some((PROXY_USER, PROXY_PASSWORD)));
    let front = TlsFront::start(ca, proxy.port());
    let url = format!("https://{PROXY_USER}:{PROXY_PASSWORD}@{host}:{}", front.port());
    (proxy, front, url)
}

/// Real git, same settings: `git ls-remote` against the site.
fn git_ls_remote(site: &Site) -> Output {
    site.setup.env.command("git").args(["ls-remote", &site.remote()]).stdin(Stdio::null()).output().unwrap()
}

/// Issue 22: `http.sslVerify=false` (and `GIT_SSL_NO_VERIFY`) is for the server; git still
/// checks an https proxy's certificate against the system store, and so does the helper:
/// the proxy's credentials never go to a proxy whose certificate nothing vouches for.
#[test]
fn ssl_verify_false_never_trusts_an_https_proxy_as_git_never_does() {
    let site = Site::tls();
    site.setup.env.config("http.sslVerify", "false");
    let proxy_ca = PrivateCa::new();
    let (proxy, front, url) = https_proxy(&site, &proxy_ca, "localhost");
    site.setup.env.config("http.proxy", &url);
    site.seed_expired();
    let before = site.setup.stored();
    let requests_before = site.setup.fake.requests().len();

    for extra in [&[][..], &[("GIT_SSL_NO_VERIFY", "1")][..]] {
        let out = site.get(extra);
        let message = stderr(&out);
        eprintln!("untrusted https proxy ({extra:?}): {message}");
        assert_eq!(out.status.code(), Some(1), "{message}");
        assert!(out.stdout.is_empty());
        let named =
            format!("through the proxy https://localhost:{} (from git config http.proxy)", front.port());
        assert!(message.starts_with("git-credential-bitbucket: ") && message.contains(&named), "{message}");
        assert!(message.contains("the proxy's TLS certificate is not trusted"), "{message}");
        assert!(message.contains("http.proxySSLCAInfo"), "{message}");
        let errors = message.lines().filter(|l| !l.contains("warning: TLS certificate verification is off"));
        assert_eq!(errors.count(), 1, "one line besides the sslVerify warning: {message}");
        assert!(!message.contains(PROXY_PASSWORD) && !message.contains(PROXY_USER), "{message}");
    }
    assert_eq!(site.setup.fake.requests().len(), requests_before, "no request reached the server");
    assert_eq!(site.setup.fake.count(RequestKind::Token), 0);
    assert_eq!(proxy.requests(), Vec::<String>::new(), "the proxy saw nothing: {}", proxy.log());
    assert_eq!(site.setup.stored(), before, "stored secrets unchanged");

    // git, with the same settings, refuses the proxy too.
    let git = git_ls_remote(&site);
    eprintln!("git ls-remote: {}", stderr(&git));
    assert!(!git.status.success(), "git trusted the proxy: {}", stderr(&git));
    let clone = site.clone("untrusted-proxy", &[]);
    assert!(!clone.status.success(), "git clone trusted the proxy: {}", stderr(&clone));
    assert_eq!(proxy.requests(), Vec::<String>::new(), "git sent nothing through it either: {}", proxy.log());
    assert_eq!(site.setup.fake.count(RequestKind::Token), 0);
}

/// `http.proxySSLCAInfo` (git's setting for the proxy's CA) makes the proxy trusted: sign-in
/// and refresh go through it, while the server keeps its `http.sslCAInfo`. (git's own clone
/// through this stunnel proxy sometimes stalls for minutes here, so it is not run.)
#[test]
fn proxy_ssl_ca_info_trusts_the_https_proxy_for_sign_in_and_refresh() {
    let site = Site::tls();
    site.setup.env.config("http.sslCAInfo", &site.ca_cert());
    let proxy_ca = PrivateCa::new();
    let (proxy, front, url) = https_proxy(&site, &proxy_ca, "localhost");
    site.setup.env.config("http.proxy", &url);
    site.setup.env.config("http.proxySSLCAInfo", proxy_ca.ca_cert().to_str().unwrap());
    let tunnel = format!("CONNECT 127.0.0.1:{} ", site.tls.as_ref().unwrap().1.port());

    let out = site.sign_in(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(field(&out, "username"), Some("alice"));
    let after_sign_in = count_starting(&proxy.requests(), &tunnel);
    assert!(after_sign_in >= 1, "sign-in went through the proxy: {}", proxy.log());

    site.seed_expired();
    let out = site.get(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(site.setup.fake.count(RequestKind::Token), 2, "sign-in, then one refresh");
    let after_refresh = count_starting(&proxy.requests(), &tunnel);
    assert_eq!(after_refresh, after_sign_in + 1, "the refresh went through the proxy: {}", proxy.log());

    let report = site.run(&["diagnose", &site.base()], "", &[]);
    let report = String::from_utf8_lossy(&report.stdout).into_owned();
    assert!(
        report.contains(&format!(
            "tls: the proxy https://localhost:{}'s certificate checked against {} only (from git config http.proxySSLCAInfo)",
            front.port(),
            proxy_ca.ca_cert().display()
        )),
        "{report}"
    );

    // GIT_PROXY_SSL_CAINFO wins over the setting, as in git.
    site.seed_expired();
    let other = PrivateCa::new();
    let out = site.get(&[("GIT_PROXY_SSL_CAINFO", other.ca_cert().to_str().unwrap())]);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(
        message.contains(&format!(
            "{} only (environment variable GIT_PROXY_SSL_CAINFO)",
            other.ca_cert().display()
        )),
        "{message}"
    );
    assert_eq!(site.setup.fake.count(RequestKind::Token), 2);

    // The same host name for the proxy and the server (127.0.0.1 both): the server's
    // certificate must pass the proxy's check too, and the proxy's the server's; the two
    // private CAs differ, so nothing is trusted (the stricter of the two, docs/decisions.md).
    let same_host = url.replace("@localhost:", "@127.0.0.1:");
    site.setup.env.config("http.proxy", &same_host);
    let out = site.get(&[]);
    let message = stderr(&out);
    eprintln!("same host: {message}");
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(message.contains("not trusted"), "{message}");
    assert_eq!(site.setup.fake.count(RequestKind::Token), 2);
}

/// `http.sslCAInfo` is the server's: naming the proxy's CA there does not make the proxy
/// trusted, for git or the helper.
#[test]
fn ssl_ca_info_naming_the_proxys_ca_does_not_trust_the_proxy() {
    let site = Site::tls();
    site.setup.env.config("http.sslCAInfo", &site.ca_cert());
    // The proxy's certificate comes from the very CA http.sslCAInfo names.
    let (proxy, front, url) = https_proxy(&site, &site.tls.as_ref().unwrap().0, "localhost");
    site.setup.env.config("http.proxy", &url);
    site.seed_expired();
    let before = site.setup.stored();

    let out = site.get(&[]);
    let message = stderr(&out);
    eprintln!("sslCAInfo names the proxy's CA: {message}");
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(
        message.contains(&format!("through the proxy https://localhost:{}", front.port()))
            && message.contains("checked against the system trust store")
            && message.contains("http.proxySSLCAInfo"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
    assert_eq!(site.setup.fake.count(RequestKind::Token), 0);
    assert_eq!(proxy.requests(), Vec::<String>::new(), "{}", proxy.log());
    assert_eq!(site.setup.stored(), before);

    let git = git_ls_remote(&site);
    eprintln!("git ls-remote: {}", stderr(&git));
    assert!(!git.status.success(), "git trusted the proxy: {}", stderr(&git));
    assert_eq!(proxy.requests(), Vec::<String>::new(), "{}", proxy.log());

    // And a client certificate for the proxy is refused naming git's setting.
    site.setup.env.config("http.proxySSLCert", "/etc/ssl/proxy-client.pem");
    let out = site.get(&[]);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(message.contains("http.proxySSLCert is set") && message.contains("not supported"), "{message}");
}
