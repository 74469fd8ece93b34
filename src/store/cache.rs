//! Secrets held in memory by git's own `git credential-cache` daemon (`credentialStore=cache`),
//! Git Credential Manager's `cache` store: gone after the timeout, `git credential-cache exit`
//! or a reboot, never on disk.
//!
//! Each record is one credential the daemon holds: protocol `https`, the fixed pseudo host
//! [`HOST`], `path` = the key's service and `username` = its account (both percent-encoded, so
//! no value can hold a line break), `password` = the record's JSON. The daemon matches
//! protocol, host, path and username exactly when all four are given, which they always are.
//! The daemon cannot enumerate what it holds, so a list of keys (never a secret) is kept in
//! one more credential at [`INDEX_HOST`]. Secrets travel only through the child's stdin and
//! stdout: never in its arguments, environment or an error message, and nothing is written to
//! disk but the daemon's own socket.

use serde::{Deserialize, Serialize};

use super::gpg::encode_name;
use super::{SecretStore, StoreError, StoreKey, StoredSecret, pipe};
use crate::secret::Secret;
use crate::settings::{ConfigError, StoreConfig};

/// The pseudo host of every record (`.invalid` can never be a real host).
pub const HOST: &str = "git-credential-bitbucket.invalid";
/// The pseudo host of the list of stored keys.
pub const INDEX_HOST: &str = "index.git-credential-bitbucket.invalid";

/// The store in git's credential-cache daemon.
#[derive(Debug, Clone, Default)]
pub struct CacheStore {
    options: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    keys: std::collections::BTreeSet<StoreKey>,
}

impl CacheStore {
    /// A store that runs `git credential-cache OPTIONS... OP`, the options one word each as
    /// `git credential-cache` takes them (`--timeout=300`, `--socket=PATH`).
    pub fn new(options: Vec<String>) -> Self {
        CacheStore { options }
    }

    /// Whether `git credential-cache` runs here with these options (no daemon is contacted).
    pub fn check(&self) -> Result<(), StoreError> {
        self.run("capability", None).map(|_| ())
    }

    /// Run `git credential-cache OPTIONS OP` with `request` on stdin; its stdout.
    fn run(&self, op: &str, request: Option<&Secret>) -> Result<Secret, StoreError> {
        let mut command = crate::settings::git::git();
        command.arg("credential-cache").args(&self.options).arg(op);
        let output = pipe::run(&mut command, request)
            .map_err(|e| failed(format!("cannot run git credential-cache: {e}")))?;
        if !output.status.success() {
            let reason = pipe::first_line(&output.stderr);
            return Err(failed(format!("git credential-cache {op} failed ({}): {reason}", output.status)));
        }
        String::from_utf8(output.stdout)
            .map(Secret::new)
            .map_err(|_| failed(format!("git credential-cache {op} answered with text that is not UTF-8")))
    }

    /// The password the daemon holds for `host`/`path`/`username`, if any.
    fn get(&self, host: &str, path: &str, username: &str) -> Result<Option<Secret>, StoreError> {
        let answer = self.run("get", Some(&Secret::new(request(host, path, username, None))))?;
        Ok(answer.expose().lines().find_map(|l| l.strip_prefix("password=")).map(Secret::from))
    }

    fn put(&self, host: &str, path: &str, username: &str, password: &Secret) -> Result<(), StoreError> {
        self.run("store", Some(&Secret::new(request(host, path, username, Some(password))))).map(|_| ())
    }

    fn erase(&self, host: &str, path: &str, username: &str) -> Result<(), StoreError> {
        self.run("erase", Some(&Secret::new(request(host, path, username, None)))).map(|_| ())
    }

    fn read_index(&self) -> Result<Index, StoreError> {
        let Some(json) = self.get(INDEX_HOST, "keys", "index")? else {
            return Ok(Index::default());
        };
        serde_json::from_str(json.expose())
            .map_err(|_| failed(format!("the list of stored keys at {INDEX_HOST} is not this helper's JSON")))
    }

    fn write_index(&self, index: &Index) -> Result<(), StoreError> {
        if index.keys.is_empty() {
            return self.erase(INDEX_HOST, "keys", "index");
        }
        let json =
            serde_json::to_string(index).map_err(|e| failed(format!("cannot encode the key list: {e}")))?;
        self.put(INDEX_HOST, "keys", "index", &Secret::new(json))
    }
}

/// A request in git's credential protocol. Every value is percent-encoded or JSON, so none
/// holds a line break.
fn request(host: &str, path: &str, username: &str, password: Option<&Secret>) -> String {
    let mut text = format!(
        "protocol=https\nhost={host}\npath={}\nusername={}\n",
        encode_name(path),
        encode_name(username)
    );
    if let Some(password) = password {
        text.push_str("password=");
        text.push_str(password.expose());
        text.push('\n');
    }
    text
}

fn failed(detail: String) -> StoreError {
    StoreError::Backend { store: "cache", detail }
}

/// `credentialStore=cache`: with the `cacheOptions` the settings checked.
pub(super) fn open(config: &StoreConfig) -> Result<Box<dyn SecretStore>, ConfigError> {
    Ok(Box::new(CacheStore::new(config.cache_options.clone())))
}

/// For `diagnose`: whether `git credential-cache` runs with these options.
pub(super) fn usable(config: &StoreConfig) -> Result<String, String> {
    CacheStore::new(config.cache_options.clone())
        .check()
        .map(|()| "git credential-cache runs".to_owned())
        .map_err(|e| e.to_string())
}

impl SecretStore for CacheStore {
    fn load(&self, key: &StoreKey) -> Result<Option<StoredSecret>, StoreError> {
        let found = self.get(HOST, &key.service, &key.account)?;
        Ok(found.map(|json| StoredSecret::from_stored(json.expose().to_owned(), &key.account)))
    }

    fn save(&self, key: &StoreKey, value: &StoredSecret) -> Result<(), StoreError> {
        self.put(HOST, &key.service, &key.account, &Secret::new(value.to_json()))?;
        // Rewritten on every save, so the list lives at least as long as any record in it.
        let mut index = self.read_index()?;
        index.keys.insert(key.clone());
        self.write_index(&index)
    }

    fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let existed = self.get(HOST, &key.service, &key.account)?.is_some();
        if existed {
            self.erase(HOST, &key.service, &key.account)?;
        }
        let mut index = self.read_index()?;
        if index.keys.remove(key) {
            self.write_index(&index)?;
        }
        Ok(existed)
    }

    fn list(&self, namespace: &str) -> Result<Vec<(StoreKey, StoredSecret)>, StoreError> {
        let prefix = format!("{namespace}:");
        let mut index = self.read_index()?;
        let mut found = Vec::new();
        let mut gone = Vec::new();
        for key in index.keys.iter().filter(|k| k.service.starts_with(&prefix)) {
            match self.load(key)? {
                Some(record) => found.push((key.clone(), record)),
                None => gone.push(key.clone()),
            }
        }
        if !gone.is_empty() {
            // Records the daemon let expire: forget them in the list too.
            for key in &gone {
                index.keys.remove(key);
            }
            self.write_index(&index)?;
        }
        Ok(found)
    }

    fn name(&self) -> &'static str {
        "cache"
    }
    /// git's `credential-cache` daemon keeps secrets in memory only, and so does this
    /// store: a sign-in it refuses is answered to git but not kept in a rescue file.
    fn memory_only(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_never_hold_a_line_break_from_the_key() {
        let text = request(HOST, "ns:https://a@h/p\nq", "bob\r\nx", Some(&Secret::new("{\"a\":1}")));
        assert_eq!(
            text,
            format!(
                "protocol=https\nhost={HOST}\npath=ns:https:%2F%2Fa@h%2Fp%0Aq\nusername=bob%0D%0Ax\npassword={{\"a\":1}}\n"
            )
        );
    }
}
