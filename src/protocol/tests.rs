use super::*;
use proptest::prelude::*;

fn parse(input: &[u8]) -> Result<Credential, ProtocolError> {
    Credential::read_from(&mut &input[..])
}

#[test]
fn reads_attributes_until_blank_line_and_not_beyond() {
    let cred = parse(b"protocol=https\nhost=bitbucket.org\n\nusername=late\n").unwrap();
    assert_eq!(cred.protocol.as_deref(), Some("https"));
    assert_eq!(cred.host.as_deref(), Some("bitbucket.org"));
    assert_eq!(cred.username, None);
}

#[test]
fn reads_until_eof_without_blank_line() {
    let cred = parse(b"host=a.example\nusername=u").unwrap();
    assert_eq!(cred.username.as_deref(), Some("u"));
}

#[test]
fn value_may_contain_equals_and_crlf_is_accepted() {
    let cred = parse(b"password=a=b==\r\nusername=x\r\n\r\n").unwrap();
    assert_eq!(cred.password.unwrap().expose(), "a=b==");
    assert_eq!(cred.username.as_deref(), Some("x"));
}

#[test]
fn unknown_keys_are_ignored() {
    let cred = parse(b"frobnicate=1\nhost=h\n").unwrap();
    assert_eq!(cred.host.as_deref(), Some("h"));
}

#[test]
fn empty_username_differs_from_absent() {
    assert_eq!(parse(b"username=\n").unwrap().username.as_deref(), Some(""));
    assert_eq!(parse(b"host=h\n").unwrap().username, None);
}

#[test]
fn nul_byte_is_refused() {
    assert!(matches!(parse(b"host=a\0b\n"), Err(ProtocolError::Nul { line: 1 })));
}

#[test]
fn line_without_equals_is_refused() {
    assert!(matches!(parse(b"host=a\nbogus\n"), Err(ProtocolError::NoEquals { line: 2 })));
}

#[test]
fn empty_key_is_refused() {
    assert!(matches!(parse(b"=x\n"), Err(ProtocolError::EmptyKey { line: 1 })));
}

#[test]
fn non_utf8_value_is_refused_but_not_in_path() {
    assert!(matches!(parse(b"username=\xff\n"), Err(ProtocolError::NotUtf8 { .. })));
    assert!(matches!(parse(b"\xfe=x\n"), Err(ProtocolError::NotUtf8 { .. })));
    let cred = parse(b"path=repo\xff.git\n").unwrap();
    assert_eq!(cred.path.as_deref(), Some(&b"repo\xff.git"[..]));
}

#[test]
fn long_line_is_refused_and_the_limit_itself_is_fine() {
    let mut ok = b"password=".to_vec();
    ok.resize(MAX_LINE_BYTES, b'a');
    ok.push(b'\n');
    assert_eq!(parse(&ok).unwrap().password.unwrap().len(), MAX_LINE_BYTES - 9);
    let mut long = b"password=".to_vec();
    long.resize(MAX_LINE_BYTES + 1, b'a');
    long.push(b'\n');
    assert!(matches!(parse(&long), Err(ProtocolError::LineTooLong { line: 1 })));
    let mut unterminated = b"password=".to_vec();
    unterminated.resize(MAX_LINE_BYTES * 3, b'a');
    assert!(matches!(parse(&unterminated), Err(ProtocolError::LineTooLong { line: 1 })));
}

#[test]
fn input_over_one_mebibyte_is_refused() {
    let mut input = Vec::new();
    while input.len() <= MAX_INPUT_BYTES {
        input.extend_from_slice(b"wwwauth[]=");
        input.extend(std::iter::repeat_n(b'x', 60_000));
        input.push(b'\n');
    }
    assert!(matches!(parse(&input), Err(ProtocolError::InputTooLarge)));
}

#[test]
fn url_expands_into_parts_and_replaces_earlier_ones() {
    let cred = parse(
        b"host=old\nusername=old\npath=old\nurl=https://al%40ice:p%3Ass@Bitbucket.org:443/ws/repo.git//\n",
    )
    .unwrap();
    assert_eq!(cred.protocol.as_deref(), Some("https"));
    assert_eq!(cred.host.as_deref(), Some("Bitbucket.org:443"));
    assert_eq!(cred.username.as_deref(), Some("al@ice"));
    assert_eq!(cred.password.unwrap().expose(), "p:ss");
    assert_eq!(cred.path.as_deref(), Some(&b"ws/repo.git"[..]));

    let cred = parse(b"username=old\nurl=https://h.example\n").unwrap();
    assert_eq!(cred.username, None);
    assert_eq!(cred.path, None);
}

#[test]
fn url_without_protocol_or_with_encoded_newline_is_refused() {
    assert!(matches!(parse(b"url=bitbucket.org/x\n"), Err(ProtocolError::BadUrl { .. })));
    assert!(matches!(parse(b"url=https://a%0ab/\n"), Err(ProtocolError::BadUrl { .. })));
}

#[test]
fn bad_url_error_does_not_repeat_the_url() {
    let err = parse(b"url=https://u:hunter2%0a@h/\n").unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn multi_valued_keys_keep_order_and_empty_value_clears() {
    let cred =
        parse(b"wwwauth[]=a\nwwwauth[]=b\ncapability[]=x\ncapability[]=\ncapability[]=authtype\n").unwrap();
    assert_eq!(cred.wwwauth, ["a", "b"]);
    assert_eq!(cred.capabilities, ["authtype"]);
    assert!(cred.has_capability("authtype"));
}

#[test]
fn expiry_and_booleans_are_checked() {
    assert_eq!(parse(b"password_expiry_utc=1700000000\n").unwrap().password_expiry_utc, Some(1_700_000_000));
    assert!(matches!(parse(b"password_expiry_utc=soon\n"), Err(ProtocolError::BadValue { .. })));
    assert!(parse(b"ephemeral=true\n").unwrap().ephemeral);
    assert!(!parse(b"ephemeral=0\n").unwrap().ephemeral);
    assert!(matches!(parse(b"ephemeral=maybe\n"), Err(ProtocolError::BadValue { .. })));
}

#[test]
fn writer_refuses_line_breaks_in_values() {
    let cred = Credential { username: Some("a\rb".into()), ..Credential::default() };
    assert!(matches!(
        cred.write_to(&mut Vec::new()),
        Err(ProtocolError::UnwritableValue { key: "username" })
    ));
    let cred = Credential { password: Some(Secret::new("a\nb")), ..Credential::default() };
    assert!(cred.write_to(&mut Vec::new()).is_err());
}

/// Fuzzing found these (docs/fuzzing.md): what the writer writes must read back as the same
/// credential, so it refuses what the reader would change or refuse.
fn assert_round_trip_or_refused(input: &[u8]) {
    let first = parse(input).unwrap();
    let mut written = Vec::new();
    if first.write_to(&mut written).is_ok() {
        assert_eq!(parse(&written).unwrap(), first);
    }
}

#[test]
fn regression_path_ending_in_cr_is_refused_by_the_writer() {
    assert_round_trip_or_refused(include_bytes!("../../fuzz/regressions/protocol_parse/path-trailing-cr"));
    assert_round_trip_or_refused(include_bytes!(
        "../../fuzz/regressions/protocol_parse/url-path-trailing-cr"
    ));
    let cred = Credential { path: Some(b"a\rb".to_vec()), ..Credential::default() };
    let mut out = Vec::new();
    cred.write_to(&mut out).unwrap();
    assert_eq!(parse(&out).unwrap(), cred, "a \\r inside a path is fine");
}

#[test]
fn regression_url_written_as_parts_stays_within_the_limits() {
    // `url=` + 65,528 letters + `://h`: accepted as input, but `protocol=` is longer.
    let mut line = b"url=".to_vec();
    line.extend(std::iter::repeat_n(b'a', 65_528));
    line.extend_from_slice(b"://h\n");
    assert_round_trip_or_refused(&line);
    // Exactly 1 MiB of input whose `url=` grows when written as its parts.
    let mut input = Vec::new();
    let tail = b"url=https://alice:pw@bitbucket.org/team/repo.git\n\n";
    while input.len() + 58_000 + tail.len() < MAX_INPUT_BYTES {
        input.extend_from_slice(b"wwwauth[]=");
        input.extend(std::iter::repeat_n(b'w', 57_989));
        input.push(b'\n');
    }
    let pad = MAX_INPUT_BYTES - input.len() - tail.len() - 11;
    input.extend_from_slice(b"wwwauth[]=");
    input.extend(std::iter::repeat_n(b'w', pad));
    input.push(b'\n');
    input.extend_from_slice(tail);
    assert_eq!(input.len(), MAX_INPUT_BYTES);
    assert_round_trip_or_refused(&input);
}

#[test]
fn writer_puts_capabilities_first() {
    let cred = Credential {
        capabilities: vec!["authtype".into()],
        authtype: Some("Bearer".into()),
        credential: Some(Secret::new("t")),
        ..Credential::default()
    };
    let mut out = Vec::new();
    cred.write_to(&mut out).unwrap();
    assert_eq!(out, b"capability[]=authtype\nauthtype=Bearer\ncredential=t\n");
}

fn text() -> impl Strategy<Value = String> {
    "[^\n\r\0]{0,40}"
}

fn credential() -> impl Strategy<Value = Credential> {
    (
        (
            proptest::option::of("[a-z]{1,8}"),
            proptest::option::of("[a-z0-9.:-]{1,20}"),
            proptest::option::of(proptest::collection::vec(
                any::<u8>().prop_filter("no nl/nul", |b| *b != b'\n' && *b != 0 && *b != b'\r'),
                1..20,
            )),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(text()),
        ),
        (
            proptest::collection::vec("[^\n\r\0]{1,20}", 0..3),
            proptest::collection::vec("[a-z]{1,8}", 0..3),
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec("[^\n\r\0]{1,20}", 0..3),
        ),
    )
        .prop_map(
            |(
                (protocol, host, path, username, password, expiry, refresh),
                (wwwauth, capabilities, ephemeral, quit, state),
            )| Credential {
                protocol,
                host,
                path,
                username,
                password: password.map(Secret::new),
                password_expiry_utc: expiry,
                oauth_refresh_token: refresh.map(Secret::new),
                wwwauth,
                capabilities,
                ephemeral,
                quit,
                state,
                ..Credential::default()
            },
        )
}

proptest! {
    #[test]
    fn write_then_parse_is_identity(cred in credential()) {
        let mut out = Vec::new();
        cred.write_to(&mut out).unwrap();
        let back = parse(&out).unwrap();
        prop_assert_eq!(back, cred);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&input);
    }

    #[test]
    fn arbitrary_lines_never_panic(lines in proptest::collection::vec("[ -~]{0,30}", 0..10)) {
        let input = lines.join("\n");
        let _ = parse(input.as_bytes());
    }
}

#[test]
fn percent_without_two_hex_digits_stays_in_url_parts() {
    let cred = parse(b"url=https://u%zz%%41%4a%@h/p%2/%e9%2\n").unwrap();
    assert_eq!(cred.username.as_deref(), Some("u%zz%AJ%"));
    assert_eq!(cred.path.as_deref(), Some(&b"p%2/\xe9%2"[..]));
}
