//! The private Secret Service session stores and returns secrets the size of today's
//! Bitbucket tokens, and `search_all` shows items with their attributes.

use bitbucket_test_support::KeyringSession;

#[test]
fn stores_and_looks_up_a_3000_byte_secret() {
    let keyring = KeyringSession::shared();
    let secret: String = (0..3000)
        .map(|i| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i % 64]))
        .collect();
    let attributes = [("service", "bitbucket-test-support-selftest"), ("username", "alice")];

    keyring.secret_tool_store("self-test", &attributes, &secret);

    assert_eq!(keyring.secret_tool_lookup(&attributes).as_deref(), Some(secret.as_str()));
    let items = keyring.search_all(&[("service", "bitbucket-test-support-selftest")]);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].label, "self-test");
    assert_eq!(items[0].secret, secret);
    assert_eq!(items[0].attributes["username"], "alice");

    keyring.secret_tool_clear(&attributes);
    assert_eq!(keyring.secret_tool_lookup(&attributes), None);
}

#[test]
fn environment_points_at_the_private_bus() {
    let keyring = KeyringSession::shared();
    let env = keyring.env();
    let value = |name: &str| env.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
    assert_eq!(value("DBUS_SESSION_BUS_ADDRESS").as_deref(), Some(keyring.bus_address()));
    for name in ["HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"] {
        let path = value(name).unwrap_or_else(|| panic!("{name} missing"));
        assert!(std::path::Path::new(&path).is_dir(), "{name}={path}");
    }
    assert_eq!(keyring.bus_env().len(), 2);
}

#[test]
fn a_second_session_is_independent() {
    let own = KeyringSession::start();
    let attributes = [("service", "bitbucket-test-support-own"), ("username", "bob")];
    own.secret_tool_store("own", &attributes, "only-here");
    assert_ne!(own.bus_address(), KeyringSession::shared().bus_address());
    assert_eq!(KeyringSession::shared().secret_tool_lookup(&attributes), None);
    assert_eq!(own.secret_tool_lookup(&attributes).as_deref(), Some("only-here"));
}
