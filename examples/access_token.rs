//! Get a Bitbucket access token from Rust with only the library's public API.
//!
//! ```text
//! cargo run --example access_token                 # against a local fake Bitbucket
//! cargo run --example access_token -- https://bitbucket.org   # the real one (signs you in)
//! ```
//!
//! Without an argument it starts the test suite's fake Bitbucket on loopback, registers a
//! private OAuth consumer, and gets a token with the client credentials grant, then shows
//! that a second call is answered from the store without a network request.

use git_credential_bitbucket::TokenRequest;
use git_credential_bitbucket::store::MemoryStore;
use git_credential_bitbucket::{Error, Secret};

fn main() -> Result<(), Error> {
    if let Some(url) = std::env::args().nth(1) {
        let token = TokenRequest::new(url).access_token()?;
        eprintln!(
            "signed in as {} ({}); expires at {:?}",
            token.username,
            token.kind.name(),
            token.expires_at
        );
        return Ok(());
    }
    let fake = bitbucket_test_support::FakeBitbucket::start(bitbucket_test_support::Mode::Cloud);
    fake.add_consumer_private("example-key", "example-secret", "http://localhost/");
    let store = MemoryStore::new();
    let request = TokenRequest::new(format!("http://{}", fake.host()))
        .read_git_config(false)
        .setting("provider", "bitbucket")
        .setting("bitbucketDeployment", "cloud")
        .setting("bitbucketCloudUrl", &fake.base_url())
        .setting("bitbucketCloudApiUrl", &fake.base_url())
        .client("example-key", Secret::new("example-secret"))
        .client_credentials()
        .store(store.clone());
    let first = request.access_token()?;
    let second = request.access_token()?;
    eprintln!(
        "got a {}-byte {} token for {}, expiring at {:?}; second call answered from the store: {}",
        first.token.len(),
        first.kind.name(),
        first.username,
        first.expires_at,
        first == second
    );
    eprintln!("token requests the fake counted: {}", fake.count(bitbucket_test_support::RequestKind::Token));
    Ok(())
}
