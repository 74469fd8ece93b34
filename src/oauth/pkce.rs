//! PKCE (RFC 7636, S256) and the `state` value: fresh randomness for every sign-in attempt.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// A PKCE pair: the verifier stays here, the challenge goes to the authorization page.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// 43 base64url characters from 32 random bytes; sent only to the token endpoint.
    pub verifier: Secret,
    /// `base64url(sha256(verifier))`.
    pub challenge: String,
}

/// The operating system's random number generator failed.
#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed: {0}")]
pub struct RandomError(String);

fn random_token() -> Result<String, RandomError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

impl Pkce {
    /// A new random verifier and its S256 challenge.
    pub fn new() -> Result<Pkce, RandomError> {
        let verifier = random_token()?;
        Ok(Pkce { challenge: challenge_for(&verifier), verifier: Secret::new(verifier) })
    }
}

/// The S256 challenge of `verifier`.
pub fn challenge_for(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A fresh `state`: 256 random bits, base64url.
pub fn new_state() -> Result<String, RandomError> {
    random_token()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_example_challenge() {
        // RFC 7636 appendix B.
        assert_eq!(
            challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn every_attempt_is_fresh() {
        let (a, b) = (Pkce::new().unwrap(), Pkce::new().unwrap());
        assert_ne!(a.verifier, b.verifier);
        assert_eq!(a.verifier.len(), 43);
        assert_ne!(new_state().unwrap(), new_state().unwrap());
    }
}
