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

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{SecretKind, SecretStore, StoreError, StoreKey, StoredSecret, pipe};
use crate::host::Deployment;
use crate::secret::Secret;

/// The folder of this helper's entries inside the password store.
pub const FOLDER: &str = "git-credential-bitbucket";

const INSTALL_HINT: &str =
    "install GnuPG and pass (Debian/Ubuntu: apt install gnupg pass), then run: pass init KEYID";

/// The store of `pass`-compatible GnuPG files.
#[derive(Debug, Clone)]
pub struct GpgStore {
    root: PathBuf,
    find_terminal: bool,
}

impl GpgStore {
    /// A store whose password store is `root` (`~/.password-store` for `pass`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        GpgStore { root: root.into(), find_terminal: false }
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

    /// Whether gpg runs and a `.gpg-id` names the keys to encrypt to: the key ids.
    pub fn check(&self) -> Result<Vec<String>, StoreError> {
        self.gpg(Command::new("gpg").arg("--version"), None)?;
        self.recipients(&self.root.join(FOLDER))
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

    /// Run gpg with `input` on stdin; its stdout.
    fn gpg(&self, command: &mut Command, input: Option<&Secret>) -> Result<Vec<u8>, StoreError> {
        let output = pipe::run(command, input).map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                failed(format!("gpg is not installed (not found on PATH); {INSTALL_HINT}"))
            } else {
                failed(format!("cannot run gpg: {e}"))
            }
        })?;
        if !output.status.success() {
            return Err(failed(format!(
                "gpg failed ({}): {}",
                output.status,
                pipe::first_line(&output.stderr)
            )));
        }
        Ok(output.stdout)
    }

    fn decrypt(&self, file: &Path) -> Result<Secret, StoreError> {
        let mut command = Command::new("gpg");
        command.args(["--batch", "--quiet", "--decrypt", "--"]).arg(file);
        if let Some(tty) = terminal_for_pinentry().filter(|_| self.find_terminal) {
            command.env("GPG_TTY", tty);
        }
        let plain = self.gpg(&mut command, None)?;
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

impl SecretStore for GpgStore {
    fn load(&self, key: &StoreKey) -> Result<Option<StoredSecret>, StoreError> {
        let file = self.entry_path(key);
        match fs::metadata(&file) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_failed(&file, e)),
        }
        let plain = self.decrypt(&file)?;
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
        let recipients = self.recipients(&dir)?;
        let cipher = self.encrypt(&recipients, &plain)?;
        create_private_dir(&dir).map_err(|e| io_failed(&dir, e))?;
        write_atomically(&file, &cipher).map_err(|e| io_failed(&file, e))
    }

    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let file = self.entry_path(key);
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
        let services = match fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_failed(&folder, e)),
        };
        let mut keys = Vec::new();
        for service_dir in services.flatten() {
            let Some(service) = service_dir.file_name().to_str().and_then(decode_name) else { continue };
            if !service.starts_with(&prefix) {
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
