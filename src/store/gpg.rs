//! GnuPG files laid out like `pass` (`credentialStore=gpg`), for machines without a Secret
//! Service.
//!
//! A record is one file, `STORE/git-credential-bitbucket/SERVICE/ACCOUNT.gpg` (`STORE` is
//! `PASSWORD_STORE_DIR` or `~/.password-store`; the names percent-encoded by [`encode_name`]),
//! encrypted with the real `gpg` to the key ids in the nearest `.gpg-id`, as `pass` does, so
//! `pass show` prints it: the secret on the first line, then `key: value` metadata lines.
//! Decrypting uses gpg-agent (and its pinentry) as gpg always does. The plaintext travels only
//! through pipes to and from `gpg`: it must never be written to disk, put in `gpg`'s
//! arguments or environment, or into an error message.
//!
//! Another local user must not be able to plant an entry (a token of their choosing), a
//! `.gpg-id` (their key, which then receives every secret) or a symlink: the password store's
//! root, this helper's folder and each per-service folder must belong to the user and be
//! writable by nobody else, as the plaintext store's directory. The root may be a symlink
//! (people link `~/.password-store` into a synced folder, and `pass` follows it) of the user's
//! own, to such a directory; the folders below it are this helper's and must be real
//! directories. An entry file is opened without following a symlink and handed to `gpg` as
//! that open file. With `PASSWORD_STORE_SIGNING_KEY` set, the `.gpg-id` that names the
//! recipients must carry a valid signature by one of those keys in `.gpg-id.sig`, as `pass`
//! requires, or nothing is encrypted.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{SecretKind, SecretStore, StoreError, StoreKey, StoredSecret, pipe};
use crate::host::Deployment;
use crate::secret::Secret;
use crate::settings::{ConfigError, StoreConfig};

/// The folder of this helper's entries inside the password store.
pub const FOLDER: &str = "git-credential-bitbucket";

const INSTALL_HINT: &str =
    "install GnuPG and pass (Debian/Ubuntu: apt install gnupg pass), then run: pass init KEYID";

/// The store of `pass`-compatible GnuPG files.
#[derive(Debug, Clone)]
pub struct GpgStore {
    root: PathBuf,
    find_terminal: bool,
    /// `PASSWORD_STORE_SIGNING_KEY` as `pass` reads it: fingerprints separated by white space.
    signing_keys: Option<String>,
}

impl GpgStore {
    /// A store whose password store is `root` (`~/.password-store` for `pass`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        GpgStore { root: root.into(), find_terminal: false, signing_keys: None }
    }

    /// Require, as `pass` does when `PASSWORD_STORE_SIGNING_KEY` is set (`keys`, fingerprints
    /// separated by white space; empty counts as unset), a valid signature of `.gpg-id` by one
    /// of `keys` in `.gpg-id.sig` before encrypting to the keys `.gpg-id` names.
    pub fn with_signing_keys(mut self, keys: Option<String>) -> Self {
        self.signing_keys = keys.filter(|k| !k.is_empty());
        self
    }

    /// Point gpg-agent's pinentry at the terminal git runs in (when `GPG_TTY` is not set:
    /// then gpg finds it itself).
    pub fn with_terminal_for_pinentry(mut self, find: bool) -> Self {
        self.find_terminal = find;
        self
    }

    /// The file of `key`.
    pub fn entry_path(&self, key: &StoreKey) -> PathBuf {
        self.root
            .join(FOLDER)
            .join(encode_name(&key.service))
            .join(format!("{}.gpg", encode_name(&key.account)))
    }

    /// Whether gpg runs, the folders are safe and a `.gpg-id` (signed, when signing keys are
    /// set) names the keys to encrypt to: the key ids.
    pub fn check(&self) -> Result<Vec<String>, StoreError> {
        self.gpg(Command::new("gpg").arg("--version"), None)?;
        let folder = self.root.join(FOLDER);
        self.check_folders(&folder)?;
        self.recipients(&folder)
    }

    /// Check the password store's root and each folder from it down to `dir` (this helper's
    /// folder or a per-service folder in it): `Ok(false)` at the first that does not exist,
    /// an error for one that another user could change (see the module documentation).
    fn check_folders(&self, dir: &Path) -> Result<bool, StoreError> {
        if !self.check_root()? {
            return Ok(false);
        }
        let mut current = self.root.clone();
        for part in dir.strip_prefix(&self.root).unwrap_or(Path::new("")).components() {
            current.push(part);
            match crate::settings::paths::unshared_dir(&current) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(unsafe_dir(e)),
            }
        }
        Ok(true)
    }

    /// The root: a directory of the user's own that nobody else can write, or a symlink of
    /// the user's own to one. `Ok(false)` when it does not exist.
    fn check_root(&self) -> Result<bool, StoreError> {
        let meta = match fs::symlink_metadata(&self.root) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_failed(&self.root, e)),
        };
        if !meta.file_type().is_symlink() {
            crate::settings::paths::unshared_dir(&self.root).map_err(unsafe_dir)?;
            return Ok(true);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if meta.uid() != crate::settings::paths::current_uid() {
                return Err(unsafe_dir(std::io::Error::other(format!(
                    "{} is a symlink that belongs to another user (uid {}); refusing to follow it",
                    self.root.display(),
                    meta.uid()
                ))));
            }
        }
        let target = match fs::canonicalize(&self.root) {
            Ok(target) => target,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_failed(&self.root, e)),
        };
        crate::settings::paths::unshared_dir(&target).map_err(unsafe_dir)?;
        Ok(true)
    }

    /// The key ids of the nearest `.gpg-id` from `dir` up to the store's root, as `pass`
    /// finds them (one per line, `#` starts a comment).
    fn recipients(&self, dir: &Path) -> Result<Vec<String>, StoreError> {
        let not_initialised = || {
            failed(format!(
                "the password store {} is not initialised (no .gpg-id); run: pass init KEYID (a key from gpg --list-secret-keys)",
                self.root.display()
            ))
        };
        let mut current = Some(dir);
        while let Some(dir) = current.filter(|d| d.starts_with(&self.root)) {
            let file = dir.join(".gpg-id");
            match fs::read_to_string(&file) {
                Ok(text) => {
                    self.verify_signature(&file, &text)?;
                    let ids: Vec<String> = text
                        .lines()
                        .map(|l| l.split('#').next().unwrap_or_default().trim().to_owned())
                        .filter(|l| !l.is_empty())
                        .collect();
                    if ids.is_empty() {
                        return Err(failed(format!("{} names no key; run: pass init KEYID", file.display())));
                    }
                    return Ok(ids);
                }
                Err(e) if e.kind() == ErrorKind::NotFound => current = dir.parent(),
                Err(e) => return Err(failed(format!("cannot read {}: {e}", file.display()))),
            }
        }
        Err(not_initialised())
    }

    /// With signing keys set, check that `.gpg-id` (`file`, whose contents are `text`) is
    /// signed in `.gpg-id.sig` by one of them, as `pass`'s `verify_file` does: only a
    /// `VALIDSIG` status from `gpg --verify` whose signing key or primary key fingerprint is
    /// one of the listed 40-digit fingerprints counts. `text` goes to gpg on stdin, so what
    /// is verified is exactly what names the recipients.
    fn verify_signature(&self, file: &Path, text: &str) -> Result<(), StoreError> {
        let Some(keys) = &self.signing_keys else { return Ok(()) };
        let refuse =
            |why: String| failed(format!("refusing to encrypt to the keys in {}: {why}", file.display()));
        // pass ignores anything that is not a full fingerprint in upper case.
        let wanted: Vec<&str> = keys.split_whitespace().filter(|k| is_fingerprint(k)).collect();
        if wanted.is_empty() {
            return Err(refuse(
                "PASSWORD_STORE_SIGNING_KEY names no full key fingerprint (40 upper-case hex digits, as pass requires); set it to the fingerprints gpg --fingerprint shows, without spaces".to_owned(),
            ));
        }
        let mut sig = file.as_os_str().to_owned();
        sig.push(".sig");
        let sig = PathBuf::from(sig);
        let sign_again = self.sign_again_hint(file);
        if !fs::metadata(&sig).is_ok_and(|m| m.is_file()) {
            return Err(refuse(format!(
                "PASSWORD_STORE_SIGNING_KEY is set but {} does not exist; if those keys are yours, sign it: {sign_again}",
                sig.display()
            )));
        }
        let mut command = Command::new("gpg");
        command
            .args(["--batch", "--no-auto-key-retrieve", "--status-fd=1", "--verify", "--"])
            .arg(&sig)
            .arg("-");
        // Not a secret: pipe::run takes its input as one.
        let output = pipe::run(&mut command, Some(&Secret::new(text))).map_err(gpg_not_run)?;
        let status = String::from_utf8_lossy(&output.stdout);
        if valid_signers(&status).any(|signer| wanted.contains(&signer)) {
            return Ok(());
        }
        Err(refuse(format!(
            "{} is not a valid signature of it by a key in PASSWORD_STORE_SIGNING_KEY (another key signed it, or it changed after signing); check the keys it names, then sign it again: {sign_again}",
            sig.display()
        )))
    }

    /// The `pass init` command that signs `.gpg-id` `file` again.
    fn sign_again_hint(&self, file: &Path) -> String {
        let sub =
            file.parent().and_then(|d| d.strip_prefix(&self.root).ok()).filter(|d| !d.as_os_str().is_empty());
        match sub {
            Some(sub) => {
                format!("pass init --path={} KEYID... with PASSWORD_STORE_SIGNING_KEY set", sub.display())
            }
            None => "pass init KEYID... with PASSWORD_STORE_SIGNING_KEY set".to_owned(),
        }
    }

    /// Run gpg with `input` on stdin; its stdout.
    fn gpg(&self, command: &mut Command, input: Option<&Secret>) -> Result<Vec<u8>, StoreError> {
        let output = pipe::run(command, input).map_err(gpg_not_run)?;
        self.gpg_output(output)
    }

    /// gpg's stdout, or an error with the first line of its stderr when it failed.
    fn gpg_output(&self, output: std::process::Output) -> Result<Vec<u8>, StoreError> {
        if !output.status.success() {
            return Err(failed(format!(
                "gpg failed ({}): {}",
                output.status,
                pipe::first_line(&output.stderr)
            )));
        }
        Ok(output.stdout)
    }

    /// Decrypt the entry `file`, opened (without following a symlink) as `opened`.
    fn decrypt(&self, file: &Path, opened: File) -> Result<Secret, StoreError> {
        let mut command = Command::new("gpg");
        command.args(["--batch", "--quiet", "--decrypt"]);
        if let Some(tty) = terminal_for_pinentry().filter(|_| self.find_terminal) {
            command.env("GPG_TTY", tty);
        }
        let output = pipe::run_reading(&mut command, opened).map_err(gpg_not_run)?;
        let plain = self.gpg_output(output)?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| failed(format!("{} does not decrypt to UTF-8 text", file.display())))
    }

    fn encrypt(&self, recipients: &[String], plain: &Secret) -> Result<Vec<u8>, StoreError> {
        let mut command = Command::new("gpg");
        // pass's own options: no compression, no extra recipients from gpg.conf.
        command.args(["--batch", "--quiet", "--yes", "--compress-algo=none", "--no-encrypt-to", "--encrypt"]);
        for id in recipients {
            command.arg("--recipient").arg(id);
        }
        command.args(["--output", "-"]);
        self.gpg(&mut command, Some(plain))
    }
}

fn failed(detail: String) -> StoreError {
    StoreError::Backend { store: "gpg", detail }
}

fn gpg_not_run(e: std::io::Error) -> StoreError {
    if e.kind() == ErrorKind::NotFound {
        failed(format!("gpg is not installed (not found on PATH); {INSTALL_HINT}"))
    } else {
        failed(format!("cannot run gpg: {e}"))
    }
}

/// A folder another user could change (`e` says which and how).
fn unsafe_dir(e: std::io::Error) -> StoreError {
    failed(format!(
        "{e}; the password store was left as it is: use a real directory of your own that only you can write (chmod 700), or set PASSWORD_STORE_DIR"
    ))
}

fn symlinked_entry(file: &Path) -> StoreError {
    failed(format!(
        "{} is a symlink, and entries are never read or written through one; it was left as it is: replace it with the file it points to, or remove it",
        file.display()
    ))
}

/// A full key fingerprint as `pass` accepts one in `PASSWORD_STORE_SIGNING_KEY`.
fn is_fingerprint(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

/// The fingerprints of `gpg --status-fd` output's `VALIDSIG` lines: the signing key's (the
/// first field) and the primary key's (the last), as `pass` takes them.
fn valid_signers(status: &str) -> impl Iterator<Item = &str> {
    status.lines().flat_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["[GNUPG:]", "VALIDSIG", signer, .., primary] => vec![*signer, *primary],
            _ => Vec::new(),
        }
        .into_iter()
        .filter(|f| is_fingerprint(f))
    })
}

/// The entry `file` opened for reading, never through a symlink; `None` when there is none.
fn open_entry(file: &Path) -> Result<Option<File>, StoreError> {
    match fs::symlink_metadata(file) {
        Ok(meta) if meta.file_type().is_symlink() => return Err(symlinked_entry(file)),
        Ok(meta) if !meta.is_file() => {
            return Err(failed(format!(
                "{} is not a regular file; it was left as it is: remove it",
                file.display()
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_failed(file, e)),
    }
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    match options.open(file) {
        Ok(opened) => Ok(Some(opened)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(symlinked_entry(file)),
        Err(e) => Err(io_failed(file, e)),
    }
}

/// The terminal gpg-agent's pinentry should ask on, when `GPG_TTY` does not say: git gives
/// its helpers a pipe on stdin but its own stderr, so that is the person's terminal (as
/// `pass` takes `tty` of its stdin). Only where `/proc` names it.
fn terminal_for_pinentry() -> Option<PathBuf> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    fs::read_link("/proc/self/fd/2").ok().filter(|tty| tty.starts_with("/dev/"))
}

fn io_failed(path: &Path, e: std::io::Error) -> StoreError {
    failed(format!("{}: {e}", path.display()))
}

/// `credentialStore=gpg`: the password store must be known (`PASSWORD_STORE_DIR`, else
/// `~/.password-store`).
pub(super) fn open(config: &StoreConfig) -> Result<Box<dyn SecretStore>, ConfigError> {
    Ok(Box::new(
        configured(config)?
            .with_terminal_for_pinentry(!config.gpg_tty_set)
            .with_signing_keys(config.password_store_signing_key.clone()),
    ))
}

/// For `diagnose`: whether gpg runs, the folders are safe and `.gpg-id` names the keys.
pub(super) fn usable(config: &StoreConfig) -> Result<String, String> {
    let store = configured(config).map_err(|e| e.to_string())?;
    let store = store.with_signing_keys(config.password_store_signing_key.clone());
    let ids = store.check().map_err(|e| e.to_string())?;
    Ok(format!("gpg runs; {} encrypts to {}", store.root.display(), ids.join(", ")))
}

/// The store in the settings' password store, or the error saying it is unknown.
fn configured(config: &StoreConfig) -> Result<GpgStore, ConfigError> {
    match &config.password_store_dir {
        Some(dir) => Ok(GpgStore::new(dir.clone())),
        None => Err(ConfigError::Invalid {
            name: "PASSWORD_STORE_DIR".to_owned(),
            expected: "the directory of the password store (HOME is not set either)",
        }),
    }
}

impl SecretStore for GpgStore {
    fn load(&self, key: &StoreKey) -> Result<Option<StoredSecret>, StoreError> {
        let file = self.entry_path(key);
        if !self.check_folders(file.parent().unwrap_or(&self.root))? {
            return Ok(None);
        }
        let Some(opened) = open_entry(&file)? else { return Ok(None) };
        let plain = self.decrypt(&file, opened)?;
        parse_entry(&plain, &key.account).map(Some).map_err(|detail| {
            failed(format!(
                "{} is not in the expected format ({detail}); it was left as it is: fix it with pass edit, or remove it",
                file.display()
            ))
        })
    }

    fn save(&self, key: &StoreKey, value: &StoredSecret) -> Result<(), StoreError> {
        let plain = format_entry(value).map_err(failed)?;
        let file = self.entry_path(key);
        let dir = file.parent().unwrap_or(&self.root).to_path_buf();
        if self.check_folders(&dir)? && fs::symlink_metadata(&file).is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(symlinked_entry(&file));
        }
        let recipients = self.recipients(&dir)?;
        let cipher = self.encrypt(&recipients, &plain)?;
        create_private_dir(&dir).map_err(|e| io_failed(&dir, e))?;
        // Again, now that they all exist (nothing else may have put a symlink there meanwhile).
        self.check_folders(&dir)?;
        // The rename replaces the name: a symlink put there meanwhile is not written through.
        write_atomically(&file, &cipher).map_err(|e| io_failed(&file, e))
    }

    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let file = self.entry_path(key);
        if !self.check_folders(file.parent().unwrap_or(&self.root))? {
            return Ok(false);
        }
        // Removes a symlink itself, never what it points to.
        match fs::remove_file(&file) {
            Ok(()) => {
                if let Some(dir) = file.parent() {
                    // Only succeeds when no other account's file is left in it.
                    let _ = fs::remove_dir(dir);
                }
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_failed(&file, e)),
        }
    }

    fn list(&self, namespace: &str) -> Result<Vec<(StoreKey, StoredSecret)>, StoreError> {
        let prefix = format!("{namespace}:");
        let folder = self.root.join(FOLDER);
        if !self.check_folders(&folder)? {
            return Ok(Vec::new());
        }
        let services = match fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_failed(&folder, e)),
        };
        let mut keys = Vec::new();
        for service_dir in services.flatten() {
            let Some(service) = service_dir.file_name().to_str().and_then(decode_name) else { continue };
            if !service.starts_with(&prefix) || !self.check_folders(&service_dir.path())? {
                continue;
            }
            let Ok(files) = fs::read_dir(service_dir.path()) else { continue };
            for file in files.flatten() {
                let name = file.file_name();
                let Some(account) = name.to_str().and_then(|n| n.strip_suffix(".gpg")).and_then(decode_name)
                else {
                    continue;
                };
                keys.push(StoreKey { service: service.clone(), account });
            }
        }
        keys.sort();
        let mut found = Vec::new();
        for key in keys {
            if let Some(record) = self.load(&key)? {
                found.push((key, record));
            }
        }
        Ok(found)
    }

    fn name(&self) -> &'static str {
        "gpg"
    }
}

/// The text `pass show` prints: the secret on the first line, then metadata as pass users
/// keep it (`key: value`).
pub fn format_entry(record: &StoredSecret) -> Result<Secret, String> {
    let line_break = |s: &str| s.contains(['\n', '\r']);
    if line_break(record.secret.expose()) {
        return Err("a secret with a line break cannot be kept in the pass format".to_owned());
    }
    if line_break(&record.username) || record.client_id.as_deref().is_some_and(line_break) {
        return Err("a username or client id with a line break cannot be kept in the pass format".to_owned());
    }
    let mut text = String::with_capacity(record.secret.len() + 128);
    text.push_str(record.secret.expose());
    text.push('\n');
    let mut meta = |key: &str, value: &str| {
        text.push_str(key);
        text.push_str(": ");
        text.push_str(value);
        text.push('\n');
    };
    meta("kind", record.kind.name());
    meta("username", &record.username);
    if let Some(expires) = record.expires_at {
        meta("expires", &expires.to_string());
    }
    if let Some(deployment) = record.deployment {
        meta("deployment", deployment.name());
    }
    if let Some(client_id) = &record.client_id {
        meta("client_id", client_id);
    }
    if record.has_refresh_token {
        meta("has_refresh_token", "true");
    }
    Ok(Secret::new(text))
}

/// Read what [`format_entry`] wrote, or a file a person wrote with `pass insert` (only the
/// first line: a token of unknown expiry for `account`). Unknown metadata lines are kept out
/// of the record and ignored; a known one with a bad value is an error naming the key only.
pub fn parse_entry(text: &Secret, account: &str) -> Result<StoredSecret, String> {
    let mut lines = text.expose().split('\n');
    let first = lines.next().unwrap_or_default();
    let secret = first.strip_suffix('\r').unwrap_or(first);
    let mut record = StoredSecret::new(SecretKind::Token, account, Secret::new(secret));
    for line in lines {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.strip_prefix(' ').unwrap_or(value);
        let bad = || format!("the {key} line has an unexpected value");
        match key.trim() {
            "kind" => record.kind = kind_named(value.trim()).ok_or_else(bad)?,
            "username" => record.username = value.to_owned(),
            "expires" => record.expires_at = Some(value.trim().parse().map_err(|_| bad())?),
            "deployment" => record.deployment = Some(Deployment::parse(value.trim()).ok_or_else(bad)?),
            "client_id" => record.client_id = Some(value.to_owned()),
            "has_refresh_token" => {
                record.has_refresh_token = match value.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad()),
                }
            }
            _ => {}
        }
    }
    Ok(record)
}

fn kind_named(name: &str) -> Option<SecretKind> {
    [
        SecretKind::Token,
        SecretKind::OAuth,
        SecretKind::ClientCredentials,
        SecretKind::Refresh,
        SecretKind::Bearer,
        SecretKind::Consumer,
    ]
    .into_iter()
    .find(|k| k.name() == name)
}

/// Bytes kept as they are in file names: letters, digits and `-_.~:@+,=`.
const NAME_ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b':')
    .remove(b'@')
    .remove(b'+')
    .remove(b',')
    .remove(b'=');

/// A file or path name for any string, reversible by [`decode_name`]: bytes other than
/// letters, digits and `-_.~:@+,=` become `%XX`, a leading `.` too (no `.`, `..` or hidden
/// names), and the empty string becomes `%` (which no encoding of a non-empty string is).
pub fn encode_name(text: &str) -> String {
    if text.is_empty() {
        return "%".to_owned();
    }
    let encoded = percent_encode(text.as_bytes(), NAME_ENCODED).to_string();
    // A leading dot would hide the file (and `.`/`..` would name a directory).
    match encoded.strip_prefix('.') {
        Some(rest) => format!("%2E{rest}"),
        None => encoded,
    }
}

/// The string [`encode_name`] encoded; `None` for a name it cannot have produced.
pub fn decode_name(name: &str) -> Option<String> {
    if name == "%" {
        return Some(String::new());
    }
    let text = percent_decode_str(name).decode_utf8().ok()?.into_owned();
    (encode_name(&text) == name).then_some(text)
}

/// Write `bytes` (ciphertext) to `file` through a 0600 temporary file (created exclusively
/// under a random name) and a rename, so a reader sees the old file or the new one.
fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".gcb").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(file).map_err(|e| e.error)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_relative_file_names_and_decode_back() {
        let cases = [
            ("git:https://alice@bitbucket.org/", "git:https:%2F%2Falice@bitbucket.org%2F"),
            ("..", "%2E."),
            (".hidden", "%2Ehidden"),
            ("a/../b", "a%2F..%2Fb"),
            ("/etc/passwd", "%2Fetc%2Fpasswd"),
            ("me@x.com", "me@x.com"),
            ("sp ace%", "sp%20ace%25"),
            ("é", "%C3%A9"),
            ("", "%"),
        ];
        for (text, name) in cases {
            assert_eq!(encode_name(text), name, "{text:?}");
            assert_eq!(decode_name(name).as_deref(), Some(text), "{name}");
            assert!(!name.contains('/') && name != "." && name != ".." && !name.starts_with('.'));
        }
    }

    #[test]
    fn names_no_encoding_produces_are_not_decoded() {
        for name in ["%2", "%zz", "a b", ".x", "%2e", "%FF", "a%2fb"] {
            assert_eq!(decode_name(name), None, "{name}");
        }
    }

    #[test]
    fn entry_path_stays_inside_the_folder() {
        let store = GpgStore::new("/pw");
        let key = StoreKey { service: "git:https://../../x/".into(), account: "../../etc".into() };
        let path = store.entry_path(&key);
        assert_eq!(
            path,
            PathBuf::from("/pw/git-credential-bitbucket/git:https:%2F%2F..%2F..%2Fx%2F/%2E.%2F..%2Fetc.gpg")
        );
        assert_eq!(path.components().count(), 5);
    }

    #[test]
    fn full_record_round_trips_through_the_pass_format() {
        let mut record = StoredSecret::new(SecretKind::OAuth, "alice", Secret::new("tok=en"));
        record.expires_at = Some(1_900_000_000);
        record.deployment = Some(Deployment::DataCenter);
        record.client_id = Some("cid: x".into());
        record.has_refresh_token = true;
        let text = format_entry(&record).unwrap();
        assert_eq!(
            text.expose(),
            "tok=en\nkind: oauth\nusername: alice\nexpires: 1900000000\ndeployment: datacenter\nclient_id: cid: x\nhas_refresh_token: true\n"
        );
        assert_eq!(parse_entry(&text, "other").unwrap(), record);
    }

    #[test]
    fn empty_username_and_secret_round_trip() {
        let record = StoredSecret::new(SecretKind::Token, "", Secret::new(""));
        assert_eq!(parse_entry(&format_entry(&record).unwrap(), "x").unwrap(), record);
    }

    #[test]
    fn a_file_with_only_a_first_line_is_a_token_of_the_account() {
        for text in ["p4ss", "p4ss\n", "p4ss\r\nurl: https://bitbucket.org\nnote: mine\n"] {
            let record = parse_entry(&Secret::new(text), "alice").unwrap();
            assert_eq!(
                record,
                StoredSecret::new(SecretKind::Token, "alice", Secret::new("p4ss")),
                "{text:?}"
            );
        }
    }

    #[test]
    fn bad_metadata_is_an_error_that_does_not_show_the_secret() {
        for text in ["s3cret\nkind: magic\n", "s3cret\nexpires: soon\n", "s3cret\ndeployment: moon\n"] {
            let err = parse_entry(&Secret::new(text), "a").unwrap_err();
            assert!(!err.contains("s3cret") && err.contains("line"), "{err}");
        }
    }

    #[test]
    fn line_breaks_are_refused_not_written() {
        let record = StoredSecret::new(SecretKind::Token, "a", Secret::new("two\nlines"));
        assert!(format_entry(&record).unwrap_err().contains("line break"));
        let record = StoredSecret::new(SecretKind::Token, "a\rb", Secret::new("x"));
        assert!(format_entry(&record).is_err());
    }

    #[test]
    fn only_validsig_fingerprints_count_as_signers() {
        let signer = "F8BA70318562EF60E1410219416B5A7DC1166167";
        let primary = "C473FF9C1E21FCF614A1A2107B2D5F04234DEAA2";
        let status = format!(
            "[GNUPG:] NEWSIG a@x.invalid\n[GNUPG:] GOODSIG 416B5A7DC1166167 A <a@x.invalid>\n\
             [GNUPG:] VALIDSIG {signer} 2026-12-04 1796401188 0 4 0 1 10 00 {primary}\n\
             [GNUPG:] BADSIG 0123456789ABCDEF0123456789ABCDEF01234567 B\n"
        );
        assert_eq!(valid_signers(&status).collect::<Vec<_>>(), [signer, primary]);
        assert_eq!(valid_signers("[GNUPG:] BADSIG 416B5A7DC1166167 A\n").count(), 0);
        assert!(is_fingerprint(signer));
        for not in ["f8ba70318562ef60e1410219416b5a7dc1166167", "416B5A7DC1166167", "0x416B5A7DC1166167"] {
            assert!(!is_fingerprint(not), "{not}");
        }
    }

    #[test]
    fn without_signing_keys_nothing_is_verified_and_with_only_short_ids_nothing_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".gpg-id"), "ROOTKEY\n").unwrap();
        let store = GpgStore::new(dir.path()).with_signing_keys(Some(String::new()));
        assert_eq!(store.recipients(dir.path()).unwrap(), ["ROOTKEY"], "empty counts as unset");
        let store = GpgStore::new(dir.path()).with_signing_keys(Some("416B5A7DC1166167".into()));
        let err = store.recipients(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no full key fingerprint") && !err.contains('\n'), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn the_root_may_be_a_symlink_but_the_folders_below_it_may_not() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new().recursive(true).mode(0o700).create(real.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("root")).unwrap();
        let store = GpgStore::new(dir.path().join("root"));
        let folder = dir.path().join("root").join(FOLDER);
        assert!(!store.check_folders(&folder).unwrap(), "a folder not made yet");
        std::os::unix::fs::symlink(real.join("elsewhere"), real.join(FOLDER)).unwrap();
        let err = store.check_folders(&folder).unwrap_err().to_string();
        assert!(err.contains("symlink") && err.contains("left as it is"), "{err}");
        fs::remove_file(real.join(FOLDER)).unwrap();
        fs::DirBuilder::new().mode(0o700).create(real.join(FOLDER)).unwrap();
        assert!(store.check_folders(&folder).unwrap());
    }

    #[test]
    fn gpg_id_is_found_walking_up_and_comments_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = GpgStore::new(dir.path());
        let deep = dir.path().join(FOLDER).join("svc");
        let err = store.recipients(&deep).unwrap_err().to_string();
        assert!(err.contains("pass init KEYID"), "{err}");
        fs::write(dir.path().join(".gpg-id"), "ROOTKEY\n").unwrap();
        assert_eq!(store.recipients(&deep).unwrap(), ["ROOTKEY"]);
        fs::create_dir_all(dir.path().join(FOLDER)).unwrap();
        fs::write(dir.path().join(FOLDER).join(".gpg-id"), "# mine\nA1 # laptop\n\nB2\n").unwrap();
        assert_eq!(store.recipients(&deep).unwrap(), ["A1", "B2"]);
    }
}
