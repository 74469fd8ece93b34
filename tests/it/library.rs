//! The library's public API: `TokenRequest::access_token` with a pluggable store,
//! `force_credentials`, a refresh policy, client credentials and the JWT-bearer grant.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bitbucket_test_support::{FakeBitbucket, Mode, RequestKind, User};
use git_credential_bitbucket::TokenRequest;
use git_credential_bitbucket::store::{Account, MemoryStore, SecretKind, SecretStore, StoredSecret};
use git_credential_bitbucket::{Error, Secret, unix_now};

fn request(fake: &FakeBitbucket, store: &MemoryStore) -> TokenRequest {
    TokenRequest::new(format!("http://{}", fake.host()))
        .read_git_config(false)
        .interactive(false)
        .setting("provider", "bitbucket")
        .setting("bitbucketDeployment", "cloud")
        .setting("bitbucketCloudUrl", &fake.base_url())
        .setting("bitbucketCloudApiUrl", &fake.base_url())
        .store(store.clone())
}

/// Store an OAuth access token and a refresh token for alice, as a finished sign-in leaves them.
fn seed_oauth(fake: &FakeBitbucket, store: &MemoryStore, lifetime: u64) -> String {
    let access = fake.issue_access_token("alice", lifetime);
    let refresh = fake.issue_refresh_token("alice", "cid");
    let account = Account::new("git", "http", &fake.host(), None, Some("alice"));
    let mut record = StoredSecret::new(SecretKind::OAuth, "alice", Secret::new(access.clone()));
    record.expires_at = Some(if lifetime == 0 { unix_now() - 1 } else { unix_now() + lifetime });
    record.client_id = Some("cid".into());
    record.has_refresh_token = true;
    store
        .save(
            &account.refresh_key().unwrap(),
            &StoredSecret::new(SecretKind::Refresh, "alice", Secret::new(refresh)),
        )
        .unwrap();
    store.save(&account.access_key(), &record).unwrap();
    store.save(&account.host_default_key(), &record).unwrap();
    access
}

fn cloud_fake() -> FakeBitbucket {
    let fake = FakeBitbucket::start(Mode::Cloud);
    fake.add_user(User::new("alice", "alice@example.com"));
    fake.add_consumer("cid", "csecret", "http://localhost:34106/");
    fake
}

#[test]
fn fresh_stored_token_is_returned_without_a_request() {
    let fake = cloud_fake();
    let store = MemoryStore::new();
    let access = seed_oauth(&fake, &store, 3600);
    let token = request(&fake, &store).client("cid", Secret::new("csecret")).access_token().unwrap();
    assert_eq!(token.token.expose(), access);
    assert_eq!(token.username, "alice");
    assert_eq!(token.kind, SecretKind::OAuth);
    assert_eq!(fake.counts().token + fake.counts().rest, 0);
}

#[test]
fn expired_token_is_refreshed_and_the_rotated_refresh_token_kept() {
    let fake = cloud_fake();
    let store = MemoryStore::new();
    let old = seed_oauth(&fake, &store, 0);
    let token = request(&fake, &store).client("cid", Secret::new("csecret")).access_token().unwrap();
    assert_ne!(token.token.expose(), old);
    assert!(token.expires_at.unwrap() > unix_now() + 7000);
    assert_eq!(fake.count(RequestKind::Token), 1);
    let refresh_key = Account::new("git", "http", &fake.host(), None, Some("alice")).refresh_key().unwrap();
    let stored = store.load(&refresh_key).unwrap().unwrap();
    assert_eq!(stored.secret.expose(), fake.last_refresh_token("alice").unwrap());
}

#[test]
fn refresh_policy_decides_when_to_refresh() {
    let fake = cloud_fake();
    let store = MemoryStore::new();
    let fresh = seed_oauth(&fake, &store, 3600);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let token = request(&fake, &store)
        .client("cid", Secret::new("csecret"))
        .refresh_policy(move |record, now| {
            log.lock().unwrap().push((record.username.clone(), record.expires_at.unwrap() > now));
            true
        })
        .access_token()
        .unwrap();
    assert_ne!(token.token.expose(), fresh, "the policy asked for a refresh of a fresh token");
    assert_eq!(fake.count(RequestKind::Token), 1);
    assert_eq!(*seen.lock().unwrap(), [("alice".to_owned(), true)]);

    // A policy that never refreshes: an expired token is not answered, and non-interactive
    // there is nothing else to do.
    let store = MemoryStore::new();
    seed_oauth(&fake, &store, 0);
    let err = request(&fake, &store)
        .client("cid", Secret::new("csecret"))
        .refresh_policy(|_, _| false)
        .access_token();
    assert!(matches!(err, Err(Error::NotSignedIn(_))), "{err:?}");
    assert_eq!(fake.count(RequestKind::Token), 1, "no refresh was made");
}

#[test]
fn client_credentials_are_cached_and_force_credentials_gets_a_new_token() {
    let fake = cloud_fake();
    fake.add_consumer_private("ci", "ci-secret", "http://localhost/");
    let store = MemoryStore::new();
    let req = request(&fake, &store).client("ci", Secret::new("ci-secret")).client_credentials();
    let first = req.access_token().unwrap();
    assert_eq!(first.username, "x-token-auth");
    assert_eq!(first.kind, SecretKind::ClientCredentials);
    assert_eq!(req.access_token().unwrap(), first);
    assert_eq!(fake.count(RequestKind::Token), 1);
    let forced = req.force_credentials(true).access_token().unwrap();
    assert_ne!(forced.token, first.token);
    assert_eq!(fake.count(RequestKind::Token), 2);
}

#[test]
fn jwt_bearer_grant_for_connect_apps() {
    let fake = cloud_fake();
    fake.add_connect_app("my-connect-app");
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"iss":"my-connect-app","iat":{}}}"#, unix_now()));
    let jwt = Secret::new(format!("{header}.{claims}.c2lnbmF0dXJl"));
    let store = MemoryStore::new();
    let token = request(&fake, &store).jwt(jwt).access_token().unwrap();
    assert_eq!(token.username, "x-token-auth");
    assert!(token.expires_at.is_some());
    let sent_jwt = fake.requests().iter().any(|r| r.authorization_scheme.as_deref() == Some("JWT"));
    assert!(sent_jwt, "the JWT went in the Authorization header");
}

#[test]
fn unknown_setting_and_foreign_host_are_usage_errors() {
    let fake = cloud_fake();
    let store = MemoryStore::new();
    let err = request(&fake, &store).setting("bitbucketColour", "blue").access_token();
    assert!(
        matches!(err, Err(Error::BadInput(ref m)) if m.to_string().contains("bitbucketColour")),
        "{err:?}"
    );
    let err =
        TokenRequest::new("https://github.com").read_git_config(false).interactive(false).access_token();
    assert!(matches!(err, Err(Error::BadInput(_))), "{err:?}");
}
