//! `chromium-consent`: a `BROWSER` for tests that signs in with a real, headless Chromium.
//!
//! `git-credential-bitbucket` opens the OAuth sign-in page by running `$BROWSER URL`. With
//! `BROWSER` set to this program, the page is loaded in Debian's `/usr/bin/chromium`, driven
//! through `/usr/bin/chromedriver` (W3C WebDriver, spoken over a small blocking HTTP/1.1 client
//! on `std::net`). It waits for the consent page, clicks the button `#grant` (or `#deny`), waits
//! until the browser has been redirected to a loopback callback page (`http://localhost:PORT/…`
//! or `http://127.0.0.1:PORT/…`, on another origin than the consent page) and that page has
//! loaded, then exits 0. It exists only for tests: it never talks to anything but loopback
//! servers the test started.
//!
//! Interface:
//!
//! * arguments: `chromium-consent [IGNORED…] URL`: the last argument is the page to open.
//! * `CONSENT_CLICK`: `grant` (default) or `deny`: the id of the button to click.
//! * `CONSENT_TIMEOUT_SECS`: whole seconds, default 60. The run, cleanup included, ends within
//!   this bound (the last `min(3 s, timeout / 4)` are kept for cleanup); a watchdog kills
//!   everything 2 s after it in case something still hangs.
//! * `CONSENT_LOG`: optional file to which one line per step is appended (`started`,
//!   `navigated to`, `clicked`, `redirected to`, `failed: …`, each with the elapsed time). URLs
//!   are logged without their query string: the callback carries the OAuth code.
//!
//! Exit status: 0 once the callback page has loaded; 1 on any failure; 2 on bad usage; 128 + N
//! when interrupted by signal N (SIGHUP, SIGINT, SIGTERM). Failures print one line on stderr
//! (the helper discards a browser's output, so tests should read `CONSENT_LOG`). chromedriver and
//! every Chromium process (in their own process group, with a fresh profile and fresh XDG
//! directories under one scratch directory) are killed before the program exits, on success,
//! failure and those signals alike, and the scratch directory is removed. Only SIGKILL of this
//! program itself leaves them running.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The W3C key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Interval between two polls of chromedriver or of the page.
const POLL: Duration = Duration::from_millis(50);
/// A non-callback page reached after the click counts as the end of the flow once it has stayed
/// loaded this long (a 302 chain never shows a loaded intermediate page).
const SETTLE: Duration = Duration::from_secs(1);
/// At most this long, and at most a quarter of the timeout, is kept for cleanup.
const CLEANUP_RESERVE: Duration = Duration::from_secs(3);
/// How long the watchdog lets the program overrun its timeout before killing everything.
const WATCHDOG_GRACE: Duration = Duration::from_secs(2);
/// Marks the consent document before the click: a document without the mark (read by [`PROBE`])
/// is a new one.
const MARK: &str = "window.__chromiumConsentClicked = true; return true;";

/// The process group of chromedriver (and so of Chromium), for the watchdog; 0 before it starts.
static PROCESS_GROUP: AtomicI32 = AtomicI32::new(0);
/// The scratch directory (profile, XDG dirs, chromedriver log), for the watchdog.
static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

fn main() -> ExitCode {
    let started = Instant::now();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("chromium-consent: {}", one_line(&message));
            return ExitCode::from(2);
        }
    };
    let log = match StepLog::open(config.log.as_deref(), started) {
        Ok(log) => log,
        Err(message) => {
            eprintln!("chromium-consent: {}", one_line(&message));
            return ExitCode::from(2);
        }
    };
    let hard_end = started + config.timeout;
    sys::install_signal_handlers();
    spawn_watchdog(started, hard_end + WATCHDOG_GRACE, &log);
    // The reserve is split: diagnostics and a clean WebDriver shutdown, then killing and removal.
    let reserve = CLEANUP_RESERVE.min(config.timeout / 4);
    let budget = Budget {
        work: Deadline(hard_end - reserve),
        grace: Deadline(hard_end - reserve / 2),
        end: Deadline(hard_end),
    };
    log.step(&format!(
        "started: click #{} on {} (timeout {}s)",
        config.click,
        redact(config.url.as_str()),
        config.timeout.as_secs()
    ));
    match run(&config, &log, budget) {
        Ok(()) => {
            log.step("done");
            ExitCode::SUCCESS
        }
        Err(message) => {
            let (message, code) = match sys::interrupted() {
                Some(signal) => (
                    format!("interrupted by signal {signal}; chromedriver and Chromium were killed"),
                    ExitCode::from(u8::try_from(128 + signal).unwrap_or(1)),
                ),
                None => (one_line(&message), ExitCode::FAILURE),
            };
            log.step(&format!("failed: {message}"));
            eprintln!("chromium-consent: {message}");
            code
        }
    }
}

/// What the environment and the arguments ask for.
struct Config {
    url: url::Url,
    click: &'static str,
    timeout: Duration,
    log: Option<PathBuf>,
}

impl Config {
    fn from_env() -> Result<Self, String> {
        let usage = "usage: chromium-consent [ARGS...] URL (env: CONSENT_CLICK=grant|deny, \
                     CONSENT_TIMEOUT_SECS=60, CONSENT_LOG=FILE)";
        let last = std::env::args_os().skip(1).last().ok_or_else(|| usage.to_string())?;
        let text = last.into_string().map_err(|_| format!("the URL is not UTF-8; {usage}"))?;
        let url = url::Url::parse(&text).map_err(|e| format!("{e}: not a URL; {usage}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{}: not an http(s) URL; {usage}", redact(url.as_str())));
        }
        let click = match env_string("CONSENT_CLICK")?.as_deref() {
            None | Some("" | "grant") => "grant",
            Some("deny") => "deny",
            Some(other) => return Err(format!("CONSENT_CLICK={other}: expected grant or deny")),
        };
        let timeout = match env_string("CONSENT_TIMEOUT_SECS")?.as_deref() {
            None | Some("") => Duration::from_secs(60),
            Some(text) => match text.trim().parse::<u64>() {
                Ok(secs) if secs > 0 => Duration::from_secs(secs),
                _ => {
                    return Err(format!(
                        "CONSENT_TIMEOUT_SECS={text}: expected a whole number of seconds > 0"
                    ));
                }
            },
        };
        let log = std::env::var_os("CONSENT_LOG").filter(|v| !v.is_empty()).map(PathBuf::from);
        Ok(Config { url, click, timeout, log })
    }
}

fn env_string(name: &str) -> Result<Option<String>, String> {
    std::env::var_os(name)
        .map(|v: OsString| v.into_string().map_err(|_| format!("{name} is not UTF-8")))
        .transpose()
}

/// The optional `CONSENT_LOG`: one appended line per step.
struct StepLog {
    file: Option<Mutex<File>>,
    started: Instant,
}

impl StepLog {
    fn open(path: Option<&Path>, started: Instant) -> Result<Self, String> {
        let file = match path {
            None => None,
            Some(path) => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("CONSENT_LOG={}: {e}", path.display()))?,
            )),
        };
        Ok(StepLog { file, started })
    }

    fn step(&self, what: &str) {
        let Some(file) = &self.file else { return };
        let line = format!("{} (+{:.3}s)\n", one_line(what), self.started.elapsed().as_secs_f64());
        if let Ok(mut file) = file.lock() {
            // One write per line on an O_APPEND file; a failed log write must not fail the run.
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// When the phases of a run must end.
#[derive(Clone, Copy)]
struct Budget {
    /// Loading, clicking and waiting for the callback.
    work: Deadline,
    /// Diagnostics after a timeout and `DELETE /session`.
    grace: Deadline,
    /// Killing chromedriver and Chromium, removing the scratch directory: the timeout itself.
    end: Deadline,
}

/// An instant after which waiting stops.
#[derive(Clone, Copy)]
struct Deadline(Instant);

impl Deadline {
    fn remaining(self) -> Option<Duration> {
        self.0.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
    }

    fn expired(self) -> bool {
        self.remaining().is_none()
    }

    /// The earlier of this deadline and `d` from now.
    fn within(self, d: Duration) -> Deadline {
        Deadline(self.0.min(Instant::now() + d))
    }
}

/// The whole flow; chromedriver and Chromium are gone when it returns.
fn run(config: &Config, log: &StepLog, budget: Budget) -> Result<(), String> {
    let work = budget.work;
    let scratch = tempfile::Builder::new()
        .prefix("chromium-consent-")
        .tempdir()
        .map_err(|e| format!("cannot create a scratch directory: {e}"))?;
    let _ = SCRATCH.set(scratch.path().to_path_buf());
    let result = {
        let mut driver = Driver::start(scratch.path(), work)?;
        log.step(&format!("chromedriver ready on 127.0.0.1:{}", driver.port));
        let result = driver.new_session(scratch.path(), work).and_then(|session| {
            log.step("browser started");
            let result = consent(&driver, &session, config, log, budget);
            // Let Chromium shut down cleanly if there is time; it is killed below regardless.
            let _ = driver.command("DELETE", &format!("/session/{session}"), None, budget.grace);
            result
        });
        driver.stop(budget.end);
        result
    };
    let _ = scratch.close();
    result
}

/// What [`PROBE`] reports about the current document.
struct Page {
    href: String,
    complete: bool,
    marked: bool,
    title: String,
    net_error: String,
}

/// Reads the document's own URL (an error page's is `chrome-error://…`), its load state, the
/// marker, its title and the `ERR_…` code an error page shows.
const PROBE: &str = "return [String(location.href), String(document.readyState), \
     window.__chromiumConsentClicked === true, String(document.title), \
     (((document.body && document.body.innerText) || '').match(/ERR_[A-Z0-9_]+/) || [''])[0]];";

impl Page {
    fn describe(&self) -> String {
        format!("{} (title {:?})", redact(&self.href), self.title)
    }

    /// The network error of a loaded Chromium error page.
    fn load_error(&self) -> Option<&str> {
        (self.complete && self.href.starts_with("chrome-error:")).then_some(if self.net_error.is_empty() {
            "a network error"
        } else {
            self.net_error.as_str()
        })
    }
}

fn probe(driver: &Driver, base: &str, deadline: Deadline) -> Result<Page, WdError> {
    let value = execute(driver, base, PROBE, deadline)?;
    let text = |i: usize| value.get(i).and_then(Value::as_str).unwrap_or_default().to_owned();
    Ok(Page {
        href: text(0),
        complete: text(1) == "complete",
        marked: value.get(2).and_then(Value::as_bool) == Some(true),
        title: text(3),
        net_error: text(4),
    })
}

/// Navigate, click the button, wait for the loopback callback page.
fn consent(
    driver: &Driver,
    session: &str,
    config: &Config,
    log: &StepLog,
    budget: Budget,
) -> Result<(), String> {
    let work = budget.work;
    let base = format!("/session/{session}");
    // Once `work` has passed, diagnostics may still use part of the cleanup reserve.
    let timed_out = |doing: &str| {
        let at = probe(driver, &base, budget.grace.within(Duration::from_millis(500)))
            .map_or_else(|_| "a page that did not answer".to_owned(), |page| page.describe());
        format!("timed out {doing} (CONSENT_TIMEOUT_SECS={}; browser at {at})", config.timeout.as_secs())
    };

    let target = redact(config.url.as_str());
    match driver.command("POST", &format!("{base}/url"), Some(&json!({ "url": config.url.as_str() })), work) {
        Ok(_) => {}
        Err(_) if work.expired() => return Err(timed_out(&format!("loading {target}"))),
        Err(e) => return Err(format!("loading {target}: {e}")),
    }
    let consent_url = current_url(driver, &base, work).map_err(|e| format!("loading {target}: {e}"))?;
    log.step(&format!("navigated to {}", redact(&consent_url)));

    let selector = format!("#{}", config.click);
    let element = loop {
        let found = driver.command(
            "POST",
            &format!("{base}/element"),
            Some(&json!({ "using": "css selector", "value": selector })),
            work,
        );
        match found {
            Ok(value) => {
                break value
                    .get(ELEMENT_KEY)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("chromedriver returned no element reference: {value}"))?;
            }
            Err(e) if e.is("no such element") => {}
            Err(_) if work.expired() => return Err(timed_out(&format!("waiting for {selector}"))),
            Err(e) => return Err(format!("looking for {selector}: {e}")),
        }
        // A page that failed to load never gets the button: say so now rather than at the timeout.
        if let Ok(page) = probe(driver, &base, work)
            && let Some(error) = page.load_error()
        {
            return Err(format!("the browser could not load {}: {error}", redact(&consent_url)));
        }
        if work.expired() {
            return Err(timed_out(&format!("waiting for {selector}")));
        }
        thread::sleep(POLL);
    };
    log.step(&format!("found {selector}"));

    // Mark the consent document, so that the page reached after the click is known to be new.
    let clicked_on =
        current_url(driver, &base, work).map_err(|e| format!("before clicking {selector}: {e}"))?;
    let clicked = execute(driver, &base, MARK, work).and_then(|_| {
        driver.command("POST", &format!("{base}/element/{element}/click"), Some(&json!({})), work)
    });
    match clicked {
        Ok(_) => {}
        Err(_) if work.expired() => return Err(timed_out(&format!("clicking {selector}"))),
        Err(e) => return Err(format!("clicking {selector}: {e}")),
    }
    log.step(&format!("clicked {selector}"));

    let consent_origin = host_port(&clicked_on);
    let is_callback = |url: &str| is_loopback_callback(url, consent_origin.as_ref());
    let waiting = format!("waiting for the redirect to a loopback callback after clicking {selector}");
    let mut settled: Option<(String, Instant)> = None;
    let mut last_error: Option<String> = None;
    loop {
        let step = current_url(driver, &base, work)
            .and_then(|url| probe(driver, &base, work).map(|page| (url, page)));
        match step {
            Ok((url, page)) if page.complete && !page.marked => {
                if is_callback(&url) && is_callback(&page.href) {
                    log.step(&format!("redirected to {}", origin_only(&page.href)));
                    return Ok(());
                }
                if let Some(error) = page.load_error() {
                    let url = if is_callback(&url) { origin_only(&url) } else { redact(&url) };
                    return Err(format!("the browser could not load {url}: {error}"));
                }
                match &settled {
                    Some((seen, since)) if *seen == page.href => {
                        if since.elapsed() >= SETTLE {
                            return Err(format!(
                                "clicking {selector} led to {}, not to a loopback callback",
                                page.describe()
                            ));
                        }
                    }
                    _ => settled = Some((page.href, Instant::now())),
                }
            }
            Ok(_) => settled = None,
            Err(_) if work.expired() => {}
            // Errors while a navigation replaces the document are expected: poll again.
            Err(e) if e.is_transient() => last_error = Some(e.to_string()),
            Err(e) => return Err(format!("{waiting}: {e}")),
        }
        if work.expired() {
            let last = last_error.map(|e| format!("; last error: {e}")).unwrap_or_default();
            return Err(format!("{}{last}", timed_out(&waiting)));
        }
        thread::sleep(POLL);
    }
}

fn current_url(driver: &Driver, base: &str, deadline: Deadline) -> Result<String, WdError> {
    let value = driver.command("GET", &format!("{base}/url"), None, deadline)?;
    value.as_str().map(str::to_owned).ok_or_else(|| WdError::Io(format!("GET {base}/url returned {value}")))
}

fn execute(driver: &Driver, base: &str, script: &str, deadline: Deadline) -> Result<Value, WdError> {
    driver.command(
        "POST",
        &format!("{base}/execute/sync"),
        Some(&json!({ "script": script, "args": [] })),
        deadline,
    )
}

/// `(host, port)` of an http(s) URL.
fn host_port(url: &str) -> Option<(String, u16)> {
    let url = url::Url::parse(url).ok()?;
    Some((url.host_str()?.to_owned(), url.port_or_known_default()?))
}

/// `http://localhost:PORT/…` or `http://127.0.0.1:PORT/…`, on another origin than the consent page.
fn is_loopback_callback(url: &str, consent_origin: Option<&(String, u16)>) -> bool {
    let Ok(parsed) = url::Url::parse(url) else { return false };
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port()) else { return false };
    parsed.scheme() == "http"
        && matches!(host, "localhost" | "127.0.0.1")
        && consent_origin.is_none_or(|(h, p)| (h.as_str(), *p) != (host, port))
}

/// `scheme://host:port/` of a URL: all that is logged of the callback.
fn origin_only(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.host_str().is_some() => format!("{}/", u.origin().ascii_serialization()),
        _ => "<unparseable URL>".into(),
    }
}

/// A URL without its query string and fragment.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.host_str().is_some() => format!("{}{}", u.origin().ascii_serialization(), u.path()),
        Ok(u) => format!("{}:", u.scheme()),
        Err(_) => "<unparseable URL>".into(),
    }
}

/// The first line of `text`, trimmed (chromedriver messages carry a stack trace below).
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("unknown error").to_owned()
}

/// A failed WebDriver command.
#[derive(Debug)]
enum WdError {
    /// chromedriver could not be reached or answered nonsense.
    Io(String),
    /// chromedriver answered with a W3C error.
    Driver { status: u16, error: String, message: String },
}

impl WdError {
    fn is(&self, code: &str) -> bool {
        matches!(self, WdError::Driver { error, .. } if error == code)
    }

    /// Errors that polling may see while a navigation replaces the document.
    fn is_transient(&self) -> bool {
        match self {
            WdError::Driver { error, .. } => {
                !matches!(error.as_str(), "invalid session id" | "no such window")
            }
            WdError::Io(_) => false,
        }
    }
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WdError::Io(message) => write!(f, "chromedriver: {message}"),
            WdError::Driver { status, error, message } => {
                write!(f, "{error} (HTTP {status}): {}", one_line(message))
            }
        }
    }
}

/// A running chromedriver, alone in its process group with the Chromium it starts.
struct Driver {
    child: Child,
    port: u16,
    scratch: PathBuf,
    stopped: bool,
}

impl Driver {
    /// Start chromedriver on a free port and wait until `GET /status` says it is ready. A port
    /// taken between choosing it and chromedriver binding it is retried with another one.
    fn start(scratch: &Path, deadline: Deadline) -> Result<Driver, String> {
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let mut driver = Driver::spawn(scratch, port)?;
            match driver.wait_ready(deadline) {
                Ok(()) => return Ok(driver),
                Err((message, retry)) => {
                    driver.stop(deadline.within(Duration::from_secs(1)));
                    if !retry || deadline.expired() {
                        return Err(message);
                    }
                    last = message;
                }
            }
        }
        Err(last)
    }

    fn spawn(scratch: &Path, port: u16) -> Result<Driver, String> {
        let output = File::create(scratch.join("chromedriver.log"))
            .map_err(|e| format!("cannot create the chromedriver log: {e}"))?;
        let errors = output.try_clone().map_err(|e| format!("cannot create the chromedriver log: {e}"))?;
        let (config_home, cache_home) = (scratch.join("xdg-config"), scratch.join("xdg-cache"));
        for dir in [&config_home, &cache_home] {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let mut command = Command::new(CHROMEDRIVER);
        command
            .arg(format!("--port={port}"))
            // Chromium keeps its crash reports and caches here rather than in $HOME.
            .env("XDG_CONFIG_HOME", &config_home)
            .env("XDG_CACHE_HOME", &cache_home)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors);
        // Its own process group: Chromium joins it, and one signal kills them all. It also keeps
        // a terminal's Ctrl-C away from them; the signal handler passes it on.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().map_err(|e| format!("cannot start {CHROMEDRIVER}: {e}"))?;
        if let Ok(pgid) = i32::try_from(child.id()) {
            PROCESS_GROUP.store(pgid, Ordering::SeqCst);
        }
        Ok(Driver { child, port, scratch: scratch.to_path_buf(), stopped: false })
    }

    /// Poll `GET /status`; on failure, whether another port is worth a try.
    fn wait_ready(&mut self, deadline: Deadline) -> Result<(), (String, bool)> {
        loop {
            if let Some(signal) = sys::interrupted() {
                return Err((format!("interrupted by signal {signal}"), false));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let tail = self.log_tail();
                return Err((format!("chromedriver exited ({status}) before it was ready: {tail}"), true));
            }
            let answer = self.command("GET", "/status", None, deadline.within(Duration::from_secs(1)));
            if let Ok(value) = answer
                && value.get("ready").and_then(Value::as_bool) == Some(true)
            {
                return Ok(());
            }
            if deadline.expired() {
                return Err(("chromedriver did not become ready within the timeout".into(), false));
            }
            thread::sleep(POLL);
        }
    }

    /// The last non-empty line chromedriver printed.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.scratch.join("chromedriver.log")).unwrap_or_default();
        text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("(no output)").trim().to_owned()
    }

    /// `POST /session` with a fresh profile; returns the session id.
    fn new_session(&self, scratch: &Path, deadline: Deadline) -> Result<String, String> {
        let profile = scratch.join("profile");
        std::fs::create_dir_all(&profile).map_err(|e| format!("cannot create {}: {e}", profile.display()))?;
        let page_load_ms = deadline.remaining().map_or(1, |d| d.as_millis().max(1));
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "timeouts": { "pageLoad": page_load_ms, "script": 10_000, "implicit": 0 },
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        } } });
        let value = self
            .command("POST", "/session", Some(&capabilities), deadline)
            .map_err(|e| format!("starting Chromium: {e}"))?;
        value
            .get("sessionId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("chromedriver returned no session id: {value}"))
    }

    /// One WebDriver command; the W3C `value` on success.
    fn command(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        deadline: Deadline,
    ) -> Result<Value, WdError> {
        let (status, bytes) = http(self.port, method, path, body, deadline).map_err(WdError::Io)?;
        let parsed: Value = serde_json::from_slice(&bytes).map_err(|e| {
            WdError::Io(format!("{method} {path}: HTTP {status} with a body that is not JSON ({e})"))
        })?;
        let value = parsed.get("value").cloned().unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        Err(WdError::Driver { status, error: text("error"), message: text("message") })
    }

    /// Kill chromedriver and its whole process group, then anything still running from the
    /// scratch directory (crash handlers leave the group); bounded by `deadline` (and 1 s).
    fn stop(&mut self, deadline: Deadline) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let _ = self.child.kill();
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            sys::kill_group(pgid);
        }
        let _ = self.child.wait();
        PROCESS_GROUP.store(0, Ordering::SeqCst);
        let until = deadline.within(Duration::from_secs(1));
        while kill_strays(&self.scratch) > 0 && !until.expired() {
            thread::sleep(POLL);
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop(Deadline(Instant::now() + Duration::from_secs(1)));
    }
}

/// Kill (SIGKILL) every live process whose command line mentions `dir`; returns how many.
fn kill_strays(dir: &Path) -> usize {
    let needle = dir.as_os_str().as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let own = std::process::id();
    let mut killed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if u32::try_from(pid) == Ok(own) {
            continue;
        }
        // Zombies have an empty command line and are skipped.
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if !needle.is_empty() && cmdline.windows(needle.len()).any(|w| w == needle) {
            sys::kill_pid(pid);
            killed += 1;
        }
    }
    killed
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("cannot find a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("cannot find a free port: {e}"))
}

/// A minimal blocking HTTP/1.1 exchange with `127.0.0.1:port`: one request, one response read
/// by its `Content-Length` (or to the end of the stream without one), all within `deadline`.
fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
    deadline: Deadline,
) -> Result<(u16, Vec<u8>), String> {
    let timed_out = || format!("{method} {path}: timed out");
    if let Some(signal) = sys::interrupted() {
        return Err(format!("{method} {path}: interrupted by signal {signal}"));
    }
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, deadline.remaining().ok_or_else(timed_out)?)
        .map_err(|e| format!("{method} {path}: cannot connect to 127.0.0.1:{port}: {e}"))?;
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if body.is_some() {
        request.push_str("Content-Type: application/json; charset=utf-8\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{payload}", payload.len()));
    stream.set_write_timeout(Some(deadline.remaining().ok_or_else(timed_out)?)).map_err(|e| e.to_string())?;
    stream.write_all(request.as_bytes()).map_err(|e| format!("{method} {path}: sending: {e}"))?;

    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut head: Option<(usize, u16, Option<usize>)> = None;
    loop {
        if let Some((start, status, Some(length))) = head
            && buffer.len() >= start + length
        {
            return Ok((status, buffer[start..start + length].to_vec()));
        }
        let remaining = deadline.remaining().ok_or_else(timed_out)?;
        stream.set_read_timeout(Some(remaining)).map_err(|e| e.to_string())?;
        let read = match stream.read(&mut chunk) {
            Ok(read) => read,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(timed_out());
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("{method} {path}: reading: {e}")),
        };
        if read == 0 {
            return match head {
                Some((start, status, None)) => Ok((status, buffer[start..].to_vec())),
                _ => Err(format!("{method} {path}: connection closed before a complete response")),
            };
        }
        buffer.extend_from_slice(&chunk[..read]);
        if head.is_none()
            && let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n")
        {
            head = Some(parse_head(&buffer[..end]).map(|(status, length)| (end + 4, status, length))?);
        }
    }
}

/// Status code and `Content-Length` of a response head.
fn parse_head(head: &[u8]) -> Result<(u16, Option<usize>), String> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad HTTP status line {status_line:?}"))?;
    let mut length = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("transfer-encoding") {
                return Err("chunked responses are not supported".into());
            }
            if name.trim().eq_ignore_ascii_case("content-length") {
                length =
                    Some(value.trim().parse::<usize>().map_err(|_| format!("bad Content-Length {value:?}"))?);
            }
        }
    }
    Ok((status, length))
}

/// Kill everything once the program has overrun its timeout: a last resort if something hangs.
fn spawn_watchdog(started: Instant, at: Instant, log: &StepLog) {
    let log = log.file.as_ref().and_then(|f| f.lock().ok().and_then(|f| f.try_clone().ok()));
    let _ = thread::Builder::new().name("watchdog".into()).spawn(move || {
        while let Some(left) = at.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
            thread::sleep(left);
        }
        let pgid = PROCESS_GROUP.load(Ordering::SeqCst);
        if pgid > 0 {
            sys::kill_group(pgid);
        }
        if let Some(dir) = SCRATCH.get() {
            kill_strays(dir);
            let _ = std::fs::remove_dir_all(dir);
        }
        let message =
            format!("still running {}s after the timeout; killed everything", WATCHDOG_GRACE.as_secs());
        if let Some(mut file) = log {
            let elapsed = started.elapsed().as_secs_f64();
            let _ = file.write_all(format!("failed: {message} (+{elapsed:.3}s)\n").as_bytes());
        }
        eprintln!("chromium-consent: {message}");
        std::process::exit(1);
    });
}

/// Signals, through the C library `std` already links.
#[cfg(unix)]
mod sys {
    use std::ffi::c_int;
    use std::sync::atomic::{AtomicI32, Ordering};

    use super::PROCESS_GROUP;

    unsafe extern "C" {
        fn kill(pid: c_int, signal: c_int) -> c_int;
        fn signal(signum: c_int, handler: usize) -> usize;
    }

    const SIGHUP: c_int = 1;
    const SIGINT: c_int = 2;
    const SIGKILL: c_int = 9;
    const SIGTERM: c_int = 15;
    /// `SIG_IGN` as a `sighandler_t`.
    const IGNORED: usize = 1;

    /// The signal that interrupted the run, or 0.
    static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

    /// SIGKILL every process in group `pgid` (a group this program created).
    pub fn kill_group(pgid: i32) {
        if pgid > 1 {
            // SAFETY: kill(2) takes plain integers and touches no memory of this process.
            unsafe { kill(-pgid, SIGKILL) };
        }
    }

    /// SIGKILL one process.
    pub fn kill_pid(pid: i32) {
        if pid > 1 {
            // SAFETY: as above.
            unsafe { kill(pid, SIGKILL) };
        }
    }

    /// Kills chromedriver's group at once; the main flow then fails on its next WebDriver call,
    /// cleans up and exits.
    extern "C" fn on_signal(signum: c_int) {
        // Only atomics and kill(2): async-signal-safe.
        INTERRUPTED.store(signum, Ordering::SeqCst);
        kill_group(PROCESS_GROUP.load(Ordering::SeqCst));
    }

    /// SIGHUP, SIGINT and SIGTERM kill chromedriver and Chromium before this program ends
    /// (a signal ignored when the program started, as under `nohup` or `cmd &`, stays ignored).
    pub fn install_signal_handlers() {
        let handler = on_signal as extern "C" fn(c_int) as usize;
        for signum in [SIGHUP, SIGINT, SIGTERM] {
            // SAFETY: `on_signal` only uses atomics and kill(2), which are async-signal-safe;
            // `signal` is given a valid signal number and either a function with the C ABI or
            // SIG_IGN, the value it returned itself.
            unsafe {
                if signal(signum, handler) == IGNORED {
                    signal(signum, IGNORED);
                }
            }
        }
    }

    /// The signal that interrupted the run, if any.
    pub fn interrupted() -> Option<i32> {
        Some(INTERRUPTED.load(Ordering::SeqCst)).filter(|&s| s != 0)
    }
}

/// Elsewhere chromedriver is not put in its own group and signals are left alone.
#[cfg(not(unix))]
mod sys {
    pub fn kill_group(_pgid: i32) {}

    pub fn kill_pid(_pid: i32) {}

    pub fn install_signal_handlers() {}

    pub fn interrupted() -> Option<i32> {
        None
    }
}
