//! What can be wrong with a setting.

/// A setting problem, always naming the setting and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value that does not parse.
    #[error("invalid value for {name}: expected {expected}")]
    Invalid {
        /// `credential.x` or the environment variable.
        name: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// `git config` could not be run or failed.
    #[error("git config: {0}")]
    Git(String),
}
