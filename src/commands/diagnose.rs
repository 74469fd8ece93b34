//! `diagnose`: what is configured, what works, what does not — git, the helpers in git
//! config, every setting and where it came from, the store, the OAuth client, the network and
//! the clock — as a report on stdout with each problem marked, and never a secret in it.

use std::io::Write;
use std::time::UNIX_EPOCH;

use super::{Context, credential_for, list, oauth_client, utc};
use crate::auth::{Authenticator, ProviderAnswer};
use crate::bitbucket::Endpoints;
use crate::error::Failure;
use crate::host::Deployment;
use crate::host::redacted;
use crate::net::http::Http;
use crate::settings::git::run_git;
use crate::settings::{RawSettings, SETTINGS};
use crate::{store, target};

/// `diagnose`: what is configured, what works, what does not. Returns whether all is well.
pub(super) fn diagnose(url: &str, ctx: &Context, out: &mut dyn Write) -> Result<bool, Failure> {
    let mut report = Report { out, problems: 0 };
    report.line(&format!(
        "git-credential-bitbucket {} ({} {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    ));
    let cred = credential_for(url, None)?;
    report.git_version();
    report.helpers();
    let request = target::matching_url(&cred).unwrap_or_default();
    let raw = RawSettings::load(&request, ctx.env)?;
    // The store is opened with the settings, so that a store the settings cannot name or
    // place is reported as the settings' problem, as every other command reports it.
    let resolved = target::resolve(&cred, &raw).and_then(|found| match found {
        Some((target, settings)) => {
            let store = store::open(&settings.store)?;
            Ok(Some((target, settings, store)))
        }
        None => Ok(None),
    });
    let in_force = resolved.as_ref().ok().and_then(Option::as_ref).map(|(t, _, _)| t.deployment);
    report.settings(&request, &raw, in_force);
    let (target, settings, store) = match resolved {
        Ok(Some((target, settings, store))) => {
            report.line(&format!("host: {request} is served as Bitbucket {}", target.deployment.name()));
            (target, settings, store)
        }
        Ok(None) => {
            report.problem(&format!(
                "host: {request} is not served by this helper (not bitbucket.org, no provider=bitbucket)"
            ));
            return Ok(false);
        }
        Err(e @ Failure::Host(_)) => {
            report.problem(&format!("host: {e}"));
            return Ok(false);
        }
        Err(e) => {
            report.problem(&format!("settings: {e}"));
            return Ok(false);
        }
    };
    match list::accounts(store.as_ref(), &settings.namespace) {
        Ok(rows) => report.line(&format!(
            "store: {} is reachable; {} account(s) stored in namespace {}",
            store.name(),
            rows.len(),
            settings.namespace
        )),
        Err(e) => report.problem(&format!("store: {e}")),
    }
    report.line("stores on this machine (choose with: git config --global credential.credentialStore NAME):");
    for (name, usable) in store::usable_stores(&settings.store) {
        match usable {
            Ok(why) => report.line(&format!("  {name:<10} usable: {why}")),
            Err(why) => report.line(&format!("  {name:<10} not usable: {why}")),
        }
    }
    report.line(&format!("built-in OAuth consumer: {}", crate::settings::builtin_consumer_word()));
    let auth = Authenticator::new(target.clone(), settings.clone(), store, ctx);
    match oauth_client::describe(&auth) {
        Ok((line, true)) => report.line(&line),
        Ok((line, false)) => report.problem(&line),
        Err(e) => report.problem(&format!("{}: {e}", target.deployment.profile().setup.name)),
    }
    if target.deployment == Deployment::DataCenter {
        report.oauth_provider(&auth);
    }
    match target.endpoints(&settings) {
        Ok(endpoints) => {
            let network = crate::net::load(&settings.network, ctx.env);
            report.reachability(&endpoints, network, settings.http_timeout, (ctx.now)())
        }
        Err(e) if target.deployment == Deployment::DataCenter => report.line(&format!("endpoints: {e}")),
        Err(e) => report.problem(&format!("endpoints: {e}")),
    }
    let ok = report.problems == 0;
    report.line(if ok { "all checks passed" } else { "some checks failed (marked PROBLEM above)" });
    Ok(ok)
}

struct Report<'o> {
    out: &'o mut dyn Write,
    problems: usize,
}

impl Report<'_> {
    fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }

    fn problem(&mut self, text: &str) {
        self.problems += 1;
        self.line(&format!("PROBLEM {text}"));
    }

    /// Whether the Data Center server has an OAuth 2.0 provider, and where the answer came from.
    fn oauth_provider(&mut self, auth: &Authenticator) {
        const WHAT: &str = "Data Center OAuth 2.0 provider";
        let word = |present: bool| if present { "present" } else { "absent (no browser sign-in)" };
        match auth.oauth_provider() {
            Ok(ProviderAnswer::NotAsked(Some(source))) => self.line(&format!(
                "{WHAT}: not asked (bitbucketAuthModes is set in {}: its methods are used as they are)",
                source.describe()
            )),
            Ok(ProviderAnswer::NotAsked(None)) => {}
            Ok(ProviderAnswer::Remembered { present, at }) => self.line(&format!(
                "{WHAT}: {} (the server's answer of {}, remembered until {})",
                word(present),
                utc(at),
                utc(at.saturating_add(crate::recognized::OAUTH_ANSWER_SECS))
            )),
            Ok(ProviderAnswer::Asked { present }) => {
                self.line(&format!("{WHAT}: {} (asked the server just now; remembered for a day)", word(present)))
            }
            Ok(ProviderAnswer::Failed { reason }) => self.line(&format!(
                "{WHAT}: unknown ({reason}); browser sign-in is offered anyway, as Git Credential Manager does"
            )),
            Err(e) => self.line(&format!("{WHAT}: not asked ({e})")),
        }
    }

    fn git_version(&mut self) {
        let version = run_git(&["--version"]);
        let Ok(version) = version else {
            return self.problem("git: not found on PATH");
        };
        let text = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        let number = text.split_whitespace().nth(2).unwrap_or_default();
        let parts: Vec<u32> = number.split('.').take(2).filter_map(|p| p.parse().ok()).collect();
        if parts.len() == 2 && (parts[0], parts[1]) < (2, 46) {
            self.line(&format!("git: {text} (older than 2.46: no Bearer tokens for Data Center project tokens; 2.41+ needed for token expiry)"));
        } else {
            self.line(&format!("git: {text}"));
        }
    }

    fn helpers(&mut self) {
        let out = run_git(&["config", "--show-origin", "--get-regexp", r"^credential\..*helper$"]);
        let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        if !text.contains("bitbucket") {
            self.problem("git config: no credential helper mentions bitbucket; run: git-credential-bitbucket configure");
        }
        for line in text.lines() {
            self.line(&format!("git config: {}", redact_secrets(line)));
        }
        if text.lines().any(|line| line.ends_with(".helper bitbucket")) {
            self.line(
                "note: with the short name `bitbucket` git starts a second git for every call to find the helper; \
                 `git-credential-bitbucket configure` writes its path instead",
            );
        }
    }

    /// Every setting with its value and source; the deployment as it is in force for the
    /// host (Cloud's host is Cloud whatever `bitbucketDeployment` says).
    fn settings(&mut self, url: &str, raw: &RawSettings, deployment: Option<Deployment>) {
        self.line(&format!("settings for {url}:"));
        for def in SETTINGS {
            if let (Some(d), crate::settings::key::DEPLOYMENT) = (deployment, def.git) {
                self.line(&format!("  {:<40} {}   [in force for this host]", def.git, d.name()));
                continue;
            }
            let Some((value, source)) = raw.get(def.git) else {
                self.line(&format!("  {:<40} (unset)", def.git));
                continue;
            };
            let shown = if def.secret && !value.is_empty() {
                "(set, REDACTED)".to_owned()
            } else {
                redact_secrets(value)
            };
            let from = source.describe();
            self.line(&format!("  {:<40} {shown}   [{from}]", def.git));
        }
        for ignored in raw.ignored() {
            self.line(&format!(
                "  ignored: {} (it decides where tokens go: read only from global or system git config, git -c, or the environment)",
                ignored.describe()
            ));
        }
    }

    fn reachability(
        &mut self,
        endpoints: &Endpoints,
        network: Result<crate::net::Network, crate::net::NetError>,
        timeout: std::time::Duration,
        now: u64,
    ) {
        let url = &endpoints.validate;
        let network = match network {
            Ok(network) => network,
            Err(e) => return self.problem(&format!("network: {e}")),
        };
        for line in network.describe(url) {
            self.line(&line);
        }
        let http = match Http::with_network(timeout, network) {
            Ok(h) => h,
            Err(e) => return self.problem(&format!("network: {e}")),
        };
        match http.send(url, http.client().get(url.clone())) {
            Ok(response) => {
                let status = response.status().as_u16();
                self.line(&format!("network: {} answered HTTP {status} without credentials", redacted(url)));
                let date =
                    response.headers().get("date").and_then(|d| d.to_str().ok()).and_then(parse_http_date);
                match date.map(|server| clock_skew(server, now)) {
                    Some(Ok(skew)) => self.line(&format!("clock: within {} s of the server", skew.abs())),
                    Some(Err(problem)) => self.problem(&problem),
                    None => self.line("clock: the server sent no Date header; skew not checked"),
                }
            }
            Err(e) => self.problem(&format!("network: {e}")),
        }
    }
}

/// The clock difference to the server, or the problem when it is larger than the expiry
/// margin (a token would be used after it expired, or refreshed long before).
fn clock_skew(server: u64, now: u64) -> Result<i64, String> {
    let skew = server as i64 - now as i64;
    if skew.unsigned_abs() > crate::decide::EXPIRY_MARGIN_SECS {
        Err(format!(
            "clock: this machine's clock is {:+} s off the server's; token expiry decisions need it within {} s (fix the system time, e.g. enable NTP)",
            -skew,
            crate::decide::EXPIRY_MARGIN_SECS
        ))
    } else {
        Ok(skew)
    }
}

/// Unix seconds of an HTTP `Date` header.
fn parse_http_date(text: &str) -> Option<u64> {
    let time = httpdate::parse_http_date(text).ok()?;
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// A line of configuration (a helper command, a URL) with anything that looks like a secret
/// replaced: the password part of a URL's user info, the value of a `password=`, `token=` or
/// `secret=` word (any spelling that contains those names), and the word after a
/// `--password`, `--token` or `--secret` flag.
fn redact_secrets(line: &str) -> String {
    const NAMES: [&str; 3] = ["pass", "token", "secret"];
    let mut out = Vec::new();
    let mut redact_next = false;
    for word in line.split(' ') {
        let lower = word.to_ascii_lowercase();
        let shown = if redact_next && !word.is_empty() {
            "REDACTED".to_owned()
        } else if let Some((scheme, rest)) = word.split_once("://")
            && let Some((userinfo, host)) = rest.split_once('@')
            && !userinfo.contains('/')
        {
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{scheme}://{user}:REDACTED@{host}")
            } else {
                word.to_owned()
            }
        } else if let Some((key, _)) = word.split_once(['=', ':'])
            && NAMES.iter().any(|n| key.to_ascii_lowercase().contains(n))
        {
            format!("{key}{}REDACTED", &word[key.len()..key.len() + 1])
        } else {
            word.to_owned()
        };
        redact_next =
            lower.starts_with("--") && NAMES.iter().any(|n| lower.contains(n)) && !lower.contains('=');
        out.push(shown);
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_helper_commands_and_urls_are_redacted() {
        for (line, secret) in [
            ("credential.helper !f() { echo password=hunter2; }; f", "hunter2"),
            ("credential.helper !f() { echo \"password=hunter2\"; }; f", "hunter2"),
            ("credential.helper store --token s3cr3t --file x", "s3cr3t"),
            ("credential.https://alice:tok3n@bitbucket.org.helper bitbucket", "tok3n"),
            ("credential.helper !helper --client-secret=abc123", "abc123"),
            ("credential.helper oauth -token:xyz789", "xyz789"),
        ] {
            let shown = super::redact_secrets(line);
            assert!(!shown.contains(secret), "{line} -> {shown}");
            assert!(shown.contains("REDACTED"), "{shown}");
        }
        let plain = "file:/h/.gitconfig credential.https://bitbucket.org.helper bitbucket";
        assert_eq!(super::redact_secrets(plain), plain);
        assert_eq!(
            super::redact_secrets("url https://alice@bitbucket.org/"),
            "url https://alice@bitbucket.org/"
        );
    }

    #[test]
    fn clock_skew_beyond_the_expiry_margin_is_a_problem() {
        assert_eq!(clock_skew(1_000, 1_030), Ok(-30));
        let problem = clock_skew(1_000, 1_500).unwrap_err();
        assert!(problem.contains("+500 s off"), "{problem}");
        assert!(clock_skew(2_000, 1_000).unwrap_err().contains("-1000 s off"));
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(1_795_000_000), "2026-11-18 11:06");
        assert_eq!(parse_http_date("Wed, 18 Nov 2026 11:06:40 GMT"), Some(1_795_000_000));
        assert_eq!(parse_http_date("garbage"), None);
        assert_eq!(utc(951_868_800 - 60), "2000-02-29 23:59");
        assert_eq!(utc(253_402_300_799), "9999-12-31 23:59");
        assert_eq!(utc(u64::MAX), "9999-12-31 23:59");
    }
}
