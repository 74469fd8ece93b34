//! A real Secret Service for tests: gnome-keyring in a private D-Bus session with a fresh,
//! unlocked login keyring, living as long as the test process (or the [`KeyringSession`]
//! value), plus `secret-tool` helpers to look at what a test really stored. It never touches
//! the developer's own session bus or keyrings: everything lives under a temporary directory.
//!
//! Needs `dbus-run-session`, `gnome-keyring-daemon`, `dbus-send` and `secret-tool`
//! (`apt-get install -y --no-install-recommends gnome-keyring dbus-x11 libsecret-tools`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The password of the test login keyring (it only guards throw-away test secrets).
const KEYRING_PASSWORD: &str = "bitbucket-test-support";

/// How long start-up may take (usually about 100 ms).
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long dropping a session waits for the daemons to go.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the session script under `dbus-run-session`, then removes the session directory (so
/// the shared session cleans up after the test process, which never drops it).
const OUTER_SCRIPT: &str =
    r#"dbus-run-session -- sh -c "$1"; status=$?; rm -rf -- "$KEYRING_BASE"; exit "$status""#;

/// Inside the private bus: unlock a fresh keyring, wait until the daemon owns the Secret
/// Service name (`--unlock` returns before it does), announce the bus, then live until stdin
/// closes (when the test process ends).
const SESSION_SCRIPT: &str = r#"
printf '%s' "$KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null \
    || { echo 'error=gnome-keyring-daemon --unlock failed'; exit 1; }
unset KEYRING_PASSWORD
polls=0
until dbus-send --session --dest=org.freedesktop.DBus --print-reply /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
        | grep -q 'boolean true'; do
    polls=$((polls + 1))
    if [ "$polls" -ge 200 ]; then
        echo 'error=nobody owned org.freedesktop.secrets after 200 polls of 50 ms'
        exit 1
    fi
    sleep 0.05
done
echo "DBUS_SESSION_BUS_ADDRESS=$DBUS_SESSION_BUS_ADDRESS"
cat >/dev/null
"#;

/// An item found by [`KeyringSession::search_all`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretItem {
    /// The item's label.
    pub label: String,
    /// The secret, as `secret-tool` prints it.
    pub secret: String,
    /// The item's attributes (keyring-rs writes `service` and `username`).
    pub attributes: BTreeMap<String, String>,
}

/// A private D-Bus session with an unlocked gnome-keyring.
///
/// ```no_run
/// use bitbucket_test_support::KeyringSession;
///
/// let keyring = KeyringSession::shared();
/// keyring.secret_tool_store("label", &[("service", "s"), ("username", "u")], "secret");
/// assert_eq!(
///     keyring.secret_tool_lookup(&[("service", "s"), ("username", "u")]).as_deref(),
///     Some("secret")
/// );
/// ```
pub struct KeyringSession {
    dir: TempDir,
    bus_address: String,
    child: Child,
    /// Closing this ends the session script; dropped with the session (or at process exit).
    stdin: Option<ChildStdin>,
}

impl KeyringSession {
    /// Starts a new session and checks that its keyring accepts writes. Panics with the
    /// session's log when anything fails.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("keyring-session-")
            .tempdir()
            .unwrap_or_else(|e| panic!("keyring session: cannot create a temporary directory: {e}"));
        let layout = Layout::new(dir.path());
        layout.create();
        let log = File::create(layout.log())
            .unwrap_or_else(|e| panic!("keyring session: cannot create its log: {e}"));
        let mut child = Command::new("sh")
            .args(["-c", OUTER_SCRIPT, "keyring-session", SESSION_SCRIPT])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LANG", "C")
            .envs(layout.vars())
            .env("KEYRING_BASE", dir.path())
            .env("KEYRING_PASSWORD", KEYRING_PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "keyring session: cannot run sh/dbus-run-session ({e}); install them with \
                     `apt-get install -y --no-install-recommends gnome-keyring dbus-x11 libsecret-tools`"
                )
            });
        let stdin = child.stdin.take();
        let bus_address = match read_bus_address(&mut child) {
            Ok(address) => address,
            Err(reason) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("keyring session: {reason}\n--- session log ---\n{}", read_log(&layout.log()));
            }
        };
        let session = Self { dir, bus_address, child, stdin };
        session.check_writable();
        session
    }

    /// One session for the whole test binary, started on first use.
    pub fn shared() -> &'static KeyringSession {
        static SESSION: OnceLock<KeyringSession> = OnceLock::new();
        SESSION.get_or_init(KeyringSession::start)
    }

    /// The private bus, as `DBUS_SESSION_BUS_ADDRESS` wants it.
    pub fn bus_address(&self) -> &str {
        &self.bus_address
    }

    /// Everything a process needs to use this keyring as if it were its desktop session's:
    /// `DBUS_SESSION_BUS_ADDRESS`, `XDG_RUNTIME_DIR`, and the session's own `HOME`,
    /// `XDG_DATA_HOME`, `XDG_CONFIG_HOME`, `XDG_CACHE_HOME`.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut vars = vec![("DBUS_SESSION_BUS_ADDRESS".to_owned(), self.bus_address.clone())];
        vars.extend(Layout::new(self.dir.path()).vars());
        vars
    }

    /// Only what reaching the keyring needs (`DBUS_SESSION_BUS_ADDRESS`, `XDG_RUNTIME_DIR`):
    /// for commands that keep the `HOME` of a [`crate::GitEnv`].
    pub fn bus_env(&self) -> Vec<(String, String)> {
        let runtime = Layout::new(self.dir.path()).runtime();
        vec![
            ("DBUS_SESSION_BUS_ADDRESS".to_owned(), self.bus_address.clone()),
            ("XDG_RUNTIME_DIR".to_owned(), path_string(&runtime)),
        ]
    }

    /// Stores `secret` under `attributes` with `secret-tool store`; panics on failure.
    pub fn secret_tool_store(&self, label: &str, attributes: &[(&str, &str)], secret: &str) {
        let mut child = self
            .secret_tool()
            .arg("store")
            .arg(format!("--label={label}"))
            .args(flatten(attributes))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("keyring session: cannot run secret-tool: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(secret.as_bytes())
                .unwrap_or_else(|e| panic!("keyring session: cannot feed secret-tool: {e}"));
        }
        let output =
            child.wait_with_output().unwrap_or_else(|e| panic!("keyring session: secret-tool store: {e}"));
        assert_success("store", attributes, &output);
    }

    /// The secret stored under exactly these attributes (`secret-tool lookup`), if any.
    pub fn secret_tool_lookup(&self, attributes: &[(&str, &str)]) -> Option<String> {
        let output = self.run_secret_tool("lookup", attributes);
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Deletes every item matching `attributes` (`secret-tool clear`).
    pub fn secret_tool_clear(&self, attributes: &[(&str, &str)]) {
        let output = self.run_secret_tool("clear", attributes);
        assert_success("clear", attributes, &output);
    }

    /// Every item matching `attributes` (`secret-tool search --all`), with its secret.
    pub fn search_all(&self, attributes: &[(&str, &str)]) -> Vec<SecretItem> {
        // secret-tool prints attributes on stderr and the rest on stdout: merge the two into
        // one pipe, with stdout unbuffered, so each item's lines stay together and in order.
        let output = self
            .command("sh")
            .args(["-c", "exec stdbuf -o0 secret-tool search --all \"$@\" 2>&1", "sh"])
            .args(flatten(attributes))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("keyring session: cannot run secret-tool search: {e}"));
        parse_search(&String::from_utf8_lossy(&output.stdout))
    }

    fn check_writable(&self) {
        let probe = [("service", "bitbucket-test-support-probe"), ("username", "probe")];
        self.secret_tool_store("probe", &probe, "probe-secret");
        let found = self.secret_tool_lookup(&probe);
        assert_eq!(
            found.as_deref(),
            Some("probe-secret"),
            "keyring session: the unlocked keyring did not keep a probe secret\n\
             --- session log ---\n{}",
            read_log(&Layout::new(self.dir.path()).log())
        );
        self.secret_tool_clear(&probe);
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LANG", "C")
            .envs(self.env());
        command
    }

    fn secret_tool(&self) -> Command {
        self.command("secret-tool")
    }

    fn run_secret_tool(&self, action: &str, attributes: &[(&str, &str)]) -> Output {
        self.secret_tool()
            .arg(action)
            .args(flatten(attributes))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("keyring session: cannot run secret-tool {action}: {e}"))
    }
}

impl Drop for KeyringSession {
    fn drop(&mut self) {
        // End of input ends the script; dbus-run-session then takes the daemons down.
        drop(self.stdin.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Ok(Some(_)) | Err(_) => return,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for KeyringSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringSession")
            .field("dir", &self.dir.path())
            .field("bus_address", &self.bus_address)
            .finish_non_exhaustive()
    }
}

/// Where the session's private home and XDG directories are.
struct Layout(PathBuf);

impl Layout {
    fn new(base: &Path) -> Self {
        Self(base.to_owned())
    }

    fn runtime(&self) -> PathBuf {
        self.0.join("run")
    }

    fn log(&self) -> PathBuf {
        self.0.join("session.log")
    }

    fn dirs(&self) -> [(&'static str, PathBuf); 5] {
        [
            ("HOME", self.0.join("home")),
            ("XDG_DATA_HOME", self.0.join("data")),
            ("XDG_CONFIG_HOME", self.0.join("config")),
            ("XDG_CACHE_HOME", self.0.join("cache")),
            ("XDG_RUNTIME_DIR", self.runtime()),
        ]
    }

    fn vars(&self) -> Vec<(String, String)> {
        self.dirs().into_iter().map(|(name, path)| (name.to_owned(), path_string(&path))).collect()
    }

    fn create(&self) {
        for (_, path) in self.dirs() {
            std::fs::create_dir_all(&path)
                .unwrap_or_else(|e| panic!("keyring session: cannot create {}: {e}", path.display()));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let private = std::fs::Permissions::from_mode(0o700);
            std::fs::set_permissions(self.runtime(), private)
                .unwrap_or_else(|e| panic!("keyring session: cannot chmod XDG_RUNTIME_DIR: {e}"));
        }
    }
}

/// Waits (at most [`START_TIMEOUT`]) for the script's `DBUS_SESSION_BUS_ADDRESS=` line.
fn read_bus_address(child: &mut Child) -> Result<String, String> {
    let stdout = child.stdout.take().ok_or_else(|| "the session script has no stdout".to_owned())?;
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => {
                if let Some(address) = line.strip_prefix("DBUS_SESSION_BUS_ADDRESS=") {
                    return Ok(address.to_owned());
                }
                if let Some(error) = line.strip_prefix("error=") {
                    return Err(error.to_owned());
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!("no bus address within {} s", START_TIMEOUT.as_secs()));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err("the session script ended without announcing its bus".to_owned());
            }
        }
    }
}

fn parse_search(text: &str) -> Vec<SecretItem> {
    let mut items: Vec<SecretItem> = Vec::new();
    for line in text.lines() {
        if line.starts_with('[') && line.ends_with(']') {
            items.push(SecretItem::default());
            continue;
        }
        let (Some(item), Some((key, value))) = (items.last_mut(), line.split_once(" = ")) else {
            continue;
        };
        match key {
            "label" => item.label = value.to_owned(),
            "secret" => item.secret = value.to_owned(),
            _ => {
                if let Some(name) = key.strip_prefix("attribute.") {
                    item.attributes.insert(name.to_owned(), value.to_owned());
                }
            }
        }
    }
    items
}

fn flatten<'a>(attributes: &'a [(&'a str, &'a str)]) -> Vec<&'a str> {
    attributes.iter().flat_map(|(k, v)| [*k, *v]).collect()
}

fn assert_success(action: &str, attributes: &[(&str, &str)], output: &Output) {
    assert!(
        output.status.success(),
        "keyring session: secret-tool {action} {attributes:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read the log: {e})"))
}

fn path_string(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_output_is_grouped_per_item() {
        let text = "[/1]\nlabel = a\nsecret = s1\ncreated = x\nattribute.service = svc\n\
                    attribute.username = u1\n[/2]\nlabel = b\nsecret = s2\nattribute.username = u2\n";
        let items = parse_search(text);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].secret, "s1");
        assert_eq!(items[0].attributes["username"], "u1");
        assert_eq!(items[1].label, "b");
        assert_eq!(items[1].attributes["username"], "u2");
    }
}
