//! `GIT_BITBUCKET_TRACE`: `1` (or `true`) traces to stderr, a path appends to that file.
//! Git Credential Manager's `GCM_TRACE` means the same when ours is not set;
//! `GCM_TRACE_SECRETS` is ignored (this trace never holds a secret).
//!
//! The library logs through `tracing`; this installs a plain subscriber for the binary.
//! Nothing traced ever holds a secret: secrets are [`crate::Secret`]s, which print as
//! `REDACTED`, and HTTP traces carry only method, URL without query, and status.

use std::fs::OpenOptions;
use std::sync::Mutex;

/// Install the trace subscriber `GIT_BITBUCKET_TRACE` (else `GCM_TRACE`) asks for.
pub fn init_from_env(env: &dyn Fn(&str) -> Option<String>) {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    init(set("GIT_BITBUCKET_TRACE").or_else(|| set("GCM_TRACE")).as_deref());
    if set("GCM_TRACE_SECRETS").is_some() {
        tracing::debug!("GCM_TRACE_SECRETS is ignored: this trace never shows a secret");
    }
}

/// Install the trace subscriber the variable asks for; do nothing when it is unset or `0`.
pub fn init(value: Option<&str>) {
    let Some(value) = value.filter(|v| !v.is_empty() && !matches!(*v, "0" | "false")) else {
        return;
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .without_time()
        .with_target(false);
    if matches!(value, "1" | "true" | "2") {
        let _ = builder.with_writer(std::io::stderr).try_init();
        return;
    }
    match OpenOptions::new().create(true).append(true).open(value) {
        Ok(file) => {
            let _ = builder.with_writer(Mutex::new(file)).try_init();
        }
        Err(e) => eprintln!("git-credential-bitbucket: cannot open trace file {value}: {e}"),
    }
}
