//! The commands a person runs: `login`, `logout`, `list`, `token`, `diagnose`.
//!
//! Each is a function over the library's public pieces, writing its own output to the
//! `out` it is given (stdout in the binary) and messages to stderr. None ever prints a secret
//! except `token`, whose whole purpose is to print one access token on stdout.

use std::io::{IsTerminal, Write};
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::auth::{Authenticator, Found, ProviderAnswer, Resolved};
use crate::bitbucket::Endpoints;
use crate::cli::{self, Command};
use crate::configure::{self as gitconfig, Scope};
use crate::host::Deployment;
use crate::host::redacted;
use crate::net::http::Http;
use crate::settings::git::run_git;
use crate::settings::{RawSettings, SETTINGS};
use crate::store::{Account, KeyKind, SecretKind, SecretStore, StoredSecret};
use crate::{Context, Credential, Error, Operation, Overrides, run_operation, store, target};

/// The URL commands use when none is given.
pub const DEFAULT_URL: &str = "https://bitbucket.org";

/// How `login` signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoginMethod {
    /// OAuth in the browser (needs a configured consumer/client).
    Oauth,
    /// A username and an API token (Cloud), or an HTTP access token (Data Center).
    Token,
}

/// Run one command line: git's operations on the process's stdin and stdout, or a person's
/// command. Messages for the person go to stderr; a command's own output to stdout.
pub fn run(command: Command, ctx: &Context) -> Result<(), Error> {
    let stdout = std::io::stdout();
    let url = |url: Option<String>| url.unwrap_or_else(|| DEFAULT_URL.to_owned());
    let operation = match command {
        Command::Get => Operation::Get,
        Command::Store => Operation::Store,
        Command::Erase => Operation::Erase,
        Command::Configure { system, urls } => {
            let helper = gitconfig::helper_value((ctx.env)("PATH").as_deref());
            return say_each("set", gitconfig::configure(scope(system), &urls, &helper)?);
        }
        Command::Unconfigure { system, urls } => {
            return say_each("removed", gitconfig::unconfigure(scope(system), &urls)?);
        }
        Command::Login { url: u, setup_oauth: true, user, default, .. } => {
            return say(set_up_oauth(&url(u), user.as_deref(), default, ctx)?);
        }
        Command::Login { url: u, method, user, bearer, default, .. } => {
            let how = LoginOptions { method, user: user.as_deref(), bearer, default };
            return say(login(&url(u), how, ctx)?);
        }
        Command::Use { user, url: u } => return say(use_account(&url(u), &user, ctx)?),
        Command::Logout { url: u, user, forget_oauth } => {
            let u = url(u);
            if forget_oauth {
                say_each("removed", forget_oauth_consumer(&u, ctx)?)?;
            }
            return say(logout(&u, user.as_deref(), ctx)?);
        }
        Command::List { json } => return reader_left(list(json, ctx, &mut stdout.lock())),
        Command::Token { url: u, user } => {
            return reader_left(token(&url(u), user.as_deref(), ctx, &mut stdout.lock()));
        }
        Command::Diagnose { url: u } => {
            let verdict = diagnose(&url(u), ctx, &mut stdout.lock());
            return reader_left(verdict.and_then(|ok| if ok { Ok(()) } else { Err(Error::ProblemsFound) }));
        }
        Command::Completions { shell } => {
            return reader_left(cli::completions(shell, &mut stdout.lock()).map_err(Error::Output));
        }
        Command::GenerateMan { dir } => {
            let written =
                cli::generate_man(&dir).map_err(|e| Error::Usage(format!("{}: {e}", dir.display())))?;
            return say_each("wrote", written.iter().map(|p| p.display().to_string()).collect());
        }
        Command::Other(args) => return unknown_operation(&args),
    };
    run_operation(operation, &mut std::io::stdin().lock(), &mut stdout.lock(), ctx)
}

/// Git may add operations and always pipes stdin: ignore them. A person at a terminal typed it.
fn unknown_operation(args: &[std::ffi::OsString]) -> Result<(), Error> {
    if !std::io::stdin().is_terminal() {
        return Ok(());
    }
    let name = args.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
    Err(Error::Usage(format!("unknown command '{name}'; see git-credential-bitbucket --help")))
}

/// A reader that closed the pipe early (`list | head -n1`, `grep -q`) is not a fault of the
/// command: it stops quietly and succeeds, as ripgrep does, so a pipeline does not fail on it.
fn reader_left(result: Result<(), Error>) -> Result<(), Error> {
    match result {
        Err(Error::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn say(line: String) -> Result<(), Error> {
    eprintln!("{line}");
    Ok(())
}

fn say_each(verb: &str, lines: Vec<String>) -> Result<(), Error> {
    for line in lines {
        eprintln!("{verb} {line}");
    }
    Ok(())
}

fn scope(system: bool) -> Scope {
    if system { Scope::System } else { Scope::Global }
}

fn credential_for(url: &str, user: Option<&str>) -> Result<Credential, Error> {
    let mut cred = Credential::from_url(url).map_err(|e| Error::Usage(format!("{url}: {e}")))?;
    let web = cred
        .protocol
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("https") || p.eq_ignore_ascii_case("http"));
    if !web || cred.host.as_deref().is_none_or(str::is_empty) {
        return Err(Error::Usage(format!("{url}: expected an http(s) URL such as {DEFAULT_URL}")));
    }
    if let Some(user) = user {
        cred.username = Some(user.to_owned());
    }
    Ok(cred)
}

/// The authenticator for a URL a person typed. Accounts are per host, as git asks for them
/// (unless `credential.useHttpPath` is set), so the path is not part of the key; for Data
/// Center it is the base URL (context path included) unless `bitbucketDataCenterUrl` says
/// otherwise.
fn open<'a>(url: &str, user: Option<&str>, ctx: &'a Context<'a>) -> Result<Authenticator<'a>, Error> {
    let mut cred = credential_for(url, user)?;
    let base = target::settings_url(&cred).unwrap_or_default();
    let path = cred.path.take();
    let host_url = target::matching_url(&cred).unwrap_or_default();
    let mut raw = crate::settings_for(&host_url, ctx.env, &Overrides::default())?;
    let cloud = cred.host.as_deref().is_some_and(crate::host::is_cloud_host);
    if path.is_some() && !cloud && raw.get(crate::settings::key::DATACENTER_URL).is_none() {
        raw.set(crate::settings::key::DATACENTER_URL, base.trim_end_matches('/'));
    }
    crate::authenticator_with(&cred, &raw, ctx, None)?
        .ok_or_else(|| Error::NotBitbucket { url: host_url.trim_end_matches('/').to_owned() })
}

/// A line of configuration (a helper command, a URL) with anything that looks like a secret
/// replaced: the password part of a URL's user info, the value of a `password=`, `token=` or
/// `secret=` word (any spelling that contains those names), and the word after a
/// `--password`, `--token` or `--secret` flag.
pub fn redact_secrets(line: &str) -> String {
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

/// Describe a stored token for people: kind and expiry.
fn describe(record: &StoredSecret, now: u64) -> String {
    match record.expires_at {
        Some(t) if t > now => {
            format!("{}, expires {} (in {} min)", record.kind.name(), utc(t), (t - now) / 60)
        }
        Some(t) => format!("{}, expired {}", record.kind.name(), utc(t)),
        None => format!("{}, no expiry", record.kind.name()),
    }
}

/// How `login` signs in.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoginOptions<'a> {
    /// Browser or token [default: OAuth when a client is configured].
    pub method: Option<LoginMethod>,
    /// The account to sign in as (asked when absent).
    pub user: Option<&'a str>,
    /// A Data Center project or repository token (Bearer only).
    pub bearer: bool,
    /// Make the account the host default without asking.
    pub default: bool,
}

/// `login`: sign in without a git command and store the result; the account becomes the
/// host default when there is none, with `--default`, or when the person says so.
pub fn login(url: &str, options: LoginOptions, ctx: &Context) -> Result<String, Error> {
    let LoginOptions { method, user, bearer, default } = options;
    let auth = open(url, user, ctx)?;
    let account = auth.account();
    let has_client = auth.has_oauth_client();
    let method = method.unwrap_or(if has_client { LoginMethod::Oauth } else { LoginMethod::Token });
    let found = match method {
        LoginMethod::Oauth if !has_client => return Err(Error::NoOAuthClient),
        LoginMethod::Oauth => auth.sign_in_with_oauth(&account)?,
        LoginMethod::Token => match auth.sign_in_with_token(&account)? {
            Some(Resolved::Stored(found)) => found,
            Some(Resolved::Typed { username, secret }) => {
                let kind = if bearer { SecretKind::Bearer } else { SecretKind::Token };
                auth.store_typed(&username, secret, kind)?
            }
            None => return Err(Error::NoTerminal),
        },
    };
    let username = &found.record.username;
    let default = settle_default(&auth, username, default, ctx)?;
    Ok(format!(
        "signed in to {} as {username} ({}); {default}",
        found.account.url(),
        describe(&found.record, (ctx.now)())
    ))
}

/// After a sign-in as `username`: make it the host default when asked to (`--default`) or
/// when the person at the terminal says yes; another account stays the default otherwise.
/// Says which account is the default.
fn settle_default(
    auth: &Authenticator,
    username: &str,
    default: bool,
    ctx: &Context,
) -> Result<String, Error> {
    let current = auth.host_default()?;
    let Some(current) = current.filter(|c| c.username != username) else {
        return Ok("the default account".to_owned());
    };
    let url = auth.account().url();
    let other = &current.username;
    let question = format!("Make {username} the default account for {url} instead of {other}? [y/N] ");
    let yes = default
        || (ctx.stderr_is_terminal
            && ctx.prompter.ask(&question, false)?.is_some_and(|a| a.trim().eq_ignore_ascii_case("y")));
    if yes {
        auth.make_default(username)?;
        return Ok("now the default account".to_owned());
    }
    Ok(format!(
        "{other} stays the default account (switch with: git-credential-bitbucket use {username} {url})"
    ))
}

/// `use`: make USER's stored account the host default.
pub fn use_account(url: &str, user: &str, ctx: &Context) -> Result<String, Error> {
    let auth = open(url, None, ctx)?;
    let found = auth.make_default(user)?;
    Ok(format!("{user} is now the default account for {} (remotes without a username)", found.account.url()))
}

/// `login --setup-oauth`: create a Cloud consumer or enter a Data Center application link
/// (guided), keep it, then sign in with it.
pub fn set_up_oauth(url: &str, user: Option<&str>, default: bool, ctx: &Context) -> Result<String, Error> {
    let setting = open(url, user, ctx)?.set_up_consumer(user)?;
    eprintln!("saved the OAuth client: its secret in the credential store, its id in {setting}");
    let auth = open(url, user, ctx)?;
    if let Some(winner) = auth.consumer_overridden() {
        eprintln!("note: {winner}");
    }
    login(url, LoginOptions { method: Some(LoginMethod::Oauth), user, bearer: false, default }, ctx)
}

/// `logout --forget-oauth`: forget the consumer `login --setup-oauth` saved.
pub fn forget_oauth_consumer(url: &str, ctx: &Context) -> Result<Vec<String>, Error> {
    open(url, None, ctx)?.forget_consumer()
}

/// `logout`: delete every secret stored for the account (access, refresh, host default copy).
pub fn logout(url: &str, user: Option<&str>, ctx: &Context) -> Result<String, Error> {
    let auth = open(url, user, ctx)?;
    let account = auth.account();
    let Some(found) = auth.find(&account)? else {
        return Ok(format!(
            "nothing stored for {}{}",
            account.url(),
            user.map(|u| format!(" ({u})")).unwrap_or_default()
        ));
    };
    let erase = Credential { username: Some(found.record.username.clone()), ..Credential::default() };
    let auth = open(url, Some(&found.record.username), ctx)?;
    auth.erase(&erase)?;
    Ok(format!("signed out {} from {}", found.record.username, found.account.url()))
}

/// `token`: print a fresh access token (refreshed when needed) for scripts and `curl`.
pub fn token(url: &str, user: Option<&str>, ctx: &Context, out: &mut dyn Write) -> Result<(), Error> {
    let auth = open(url, user, ctx)?;
    let secret = match auth.resolve(false)? {
        Some(Resolved::Stored(Found { record, .. })) => record.secret,
        Some(Resolved::Typed { username, secret }) => {
            auth.store_typed(&username, secret.clone(), SecretKind::Token)?;
            secret
        }
        None => return Err(Error::NotSignedIn { url: url.to_owned() }),
    };
    writeln!(out, "{}", secret.expose()).map_err(Error::Output)
}

/// One row of `list`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccountRow {
    /// `scheme://host/[path]`.
    pub url: String,
    /// The account.
    pub username: String,
    /// `token`, `oauth`, `clientcredentials`, `bearer`.
    pub kind: String,
    /// Expiry, Unix seconds, when known.
    pub expires_at: Option<u64>,
    /// Whether a refresh token is stored.
    pub refresh_token: bool,
    /// Whether this account is the host default (used when the remote URL has no username).
    pub host_default: bool,
}

/// The stored accounts, without any secret.
pub fn accounts(store: &dyn SecretStore, namespace: &str) -> Result<Vec<AccountRow>, Error> {
    let entries = store.list(namespace)?;
    let mut rows = Vec::new();
    for (key, record) in &entries {
        let Some((account, KeyKind::Access)) = Account::from_key(namespace, key) else { continue };
        if record.kind == SecretKind::Refresh || key.account.is_empty() {
            continue;
        }
        let default_key = account.host_default_key();
        let host_default = entries
            .iter()
            .any(|(k, r)| *k == default_key && r.secret == record.secret && r.username == record.username);
        rows.push(AccountRow {
            url: account.url(),
            username: record.username.clone(),
            kind: record.kind.name().to_owned(),
            expires_at: record.expires_at,
            refresh_token: record.has_refresh_token,
            host_default,
        });
    }
    Ok(rows)
}

/// `list`: a table (or JSON) of stored accounts per host.
pub fn list(json: bool, ctx: &Context, out: &mut dyn Write) -> Result<(), Error> {
    let raw = RawSettings::load(&format!("{DEFAULT_URL}/"), ctx.env)?;
    let settings = raw.validate(None)?;
    let store = store::open(&settings.store);
    let rows = accounts(store.as_ref(), &settings.namespace)?;
    let io = Error::Output;
    if json {
        let text = serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".to_owned());
        return writeln!(out, "{text}").map_err(io);
    }
    if rows.is_empty() {
        return writeln!(
            out,
            "no accounts stored ({} store, namespace {})",
            store.name(),
            settings.namespace
        )
        .map_err(io);
    }
    let now = (ctx.now)();
    let table: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let expiry = match r.expires_at {
                Some(t) if t > now => format!("{} ({} min)", utc(t), (t - now) / 60),
                Some(t) => format!("{} (expired)", utc(t)),
                None => "-".to_owned(),
            };
            let notes =
                [r.refresh_token.then_some("refresh token"), r.host_default.then_some("host default")]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ");
            [r.url.clone(), r.username.clone(), r.kind.clone(), expiry, notes]
        })
        .collect();
    let header = ["HOST", "ACCOUNT", "KIND", "EXPIRES (UTC)", "NOTES"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&table) {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        writeln!(out, "{}", line.join("  ").trim_end()).map_err(io)?;
    }
    Ok(())
}

/// `diagnose`: what is configured, what works, what does not. Returns whether all is well.
pub fn diagnose(url: &str, ctx: &Context, out: &mut dyn Write) -> Result<bool, Error> {
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
    let resolved = target::resolve(&cred, &raw);
    let in_force = resolved.as_ref().ok().and_then(Option::as_ref).map(|(t, _)| t.deployment);
    report.settings(&request, &raw, in_force);
    let (target, settings) = match resolved {
        Ok(Some((target, settings))) => {
            report.line(&format!("host: {request} is served as Bitbucket {}", target.deployment.name()));
            (target, settings)
        }
        Ok(None) => {
            report.problem(&format!(
                "host: {request} is not served by this helper (not bitbucket.org, no provider=bitbucket)"
            ));
            return Ok(false);
        }
        Err(e @ Error::Host(_)) => {
            report.problem(&format!("host: {e}"));
            return Ok(false);
        }
        Err(e) => {
            report.problem(&format!("settings: {e}"));
            return Ok(false);
        }
    };
    let store = store::open(&settings.store);
    match accounts(store.as_ref(), &settings.namespace) {
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
    match auth.describe_consumer() {
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
pub fn clock_skew(server: u64, now: u64) -> Result<i64, String> {
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

/// `YYYY-MM-DD HH:MM` in UTC. An HTTP date ends with the year 9999, and so does this: a
/// later time (no real expiry) reads as its last minute.
pub fn utc(unix: u64) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    const LAST_SECOND_OF_9999: u64 = 253_402_300_799;
    // `Wed, 18 Nov 2026 11:06:40 GMT`: fixed width, every field at its place.
    let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix.min(LAST_SECOND_OF_9999)));
    let field = |range: std::ops::Range<usize>| date.get(range).unwrap_or_default();
    let month = MONTHS.iter().position(|m| *m == field(8..11)).map_or(0, |i| i + 1);
    format!("{}-{month:02}-{} {}", field(12..16), field(5..7), field(17..22))
}

/// Unix seconds of an HTTP `Date` header.
fn parse_http_date(text: &str) -> Option<u64> {
    let time = httpdate::parse_http_date(text).ok()?;
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
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

    use super::*;

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

    #[test]
    fn accounts_never_carry_secrets_and_mark_the_host_default() {
        let store = crate::store::MemoryStore::new();
        let account = crate::store::Account::new("git", "https", "bitbucket.org", None, Some("alice"));
        let record = StoredSecret::new(SecretKind::Token, "alice", crate::Secret::new("s3cr3t"));
        store.save(&account.access_key(), &record).unwrap();
        store.save(&account.host_default_key(), &record).unwrap();
        let rows = accounts(&store, "git").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].url, "https://bitbucket.org/");
        assert!(rows[0].host_default);
        assert!(!serde_json::to_string(&rows).unwrap().contains("s3cr3t"));
    }
}
