//! The process environment: the one way in to every environment variable the helper reads,
//! and the one way secrets are kept out of the environment of the processes it starts.

use std::process::Command;

use super::defs::SETTINGS;

/// The process environment, read through one function: the binary's and the library's
/// way in to every environment variable the helper looks at.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Remove every environment variable that may hold a secret (the OAuth client secrets) from a
/// child process's environment: browsers, askpass programs and `git` never need them.
pub fn scrub_secret_env(command: &mut Command) -> &mut Command {
    for def in SETTINGS.iter().filter(|d| d.secret) {
        for var in def.env {
            command.env_remove(var);
        }
    }
    command
}
