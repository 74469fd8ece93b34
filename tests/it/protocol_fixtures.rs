//! Git's credential protocol byte for byte, in-process: each case runs operations through
//! [`run_operation`] against one fresh store, feeding the input bytes and comparing every
//! byte of the answer (the model is cargo's `credential/*/tests`). No helper process and no
//! network: the host is `bitbucket.org` (Bitbucket Cloud without configuration), tokens are
//! fresh at the injected clock, prompts are off, and every setting that matters comes from
//! the injected environment. Each case runs twice: through `run_operation_with` with an
//! injected memory store and no `git config` at all, and through `run_operation` with the
//! plaintext store its settings name (one `git config` call per operation).

use std::collections::HashMap;
use std::path::Path;

use git_credential_bitbucket::prompt::NoPrompt;
use git_credential_bitbucket::store::MemoryStore;
use git_credential_bitbucket::{Context, Operation, Overrides, run_operation, run_operation_with};

use Operation::{Erase, Get, Store};

/// The injected clock: well before every expiry the fixtures store.
const NOW: u64 = 1_700_000_000;

/// One operation of a case: what git writes to the helper, and every byte of the answer.
type Step = (Operation, &'static [u8], &'static [u8]);

/// What git asks for alice on bitbucket.org, and for the host with no username.
const ALICE: &[u8] = b"protocol=https\nhost=bitbucket.org\nusername=alice\n\n";
const ANYONE: &[u8] = b"protocol=https\nhost=bitbucket.org\n\n";
/// Alice's token as git hands it to `store` (and to `erase` when the server rejects it).
const ALICE_TOKEN: &[u8] = b"protocol=https\nhost=bitbucket.org\nusername=alice\npassword=tok-1\n\n";
/// The answer with alice's token.
const ANSWER: &[u8] = b"username=alice\npassword=tok-1\n";
const NOTHING: &[u8] = b"";
const STORE_ALICE: Step = (Store, ALICE_TOKEN, NOTHING);

/// The cases: name, then the operations in order, each against what the earlier ones stored.
const CASES: &[(&str, &[Step])] = &[
    ("store then get answers username and password", &[STORE_ALICE, (Get, ALICE, ANSWER)]),
    ("get without a username answers the host default", &[STORE_ALICE, (Get, ANYONE, ANSWER)]),
    (
        "get for another user answers nothing",
        &[STORE_ALICE, (Get, b"protocol=https\nhost=bitbucket.org\nusername=bob\n\n", NOTHING)],
    ),
    (
        "expiry and refresh token are kept and answered",
        &[
            (
                Store,
                b"protocol=https\nhost=bitbucket.org\nusername=alice\npassword=tok-1\npassword_expiry_utc=1900000000\noauth_refresh_token=ref-1\n\n",
                NOTHING,
            ),
            (Get, ALICE, b"username=alice\npassword=tok-1\npassword_expiry_utc=1900000000\noauth_refresh_token=ref-1\n"),
        ],
    ),
    (
        "erase of the stored password then get answers nothing",
        &[STORE_ALICE, (Erase, ALICE_TOKEN, NOTHING), (Get, ALICE, NOTHING), (Get, ANYONE, NOTHING)],
    ),
    (
        "erase of another password keeps the stored one",
        &[
            STORE_ALICE,
            (Erase, b"protocol=https\nhost=bitbucket.org\nusername=alice\npassword=tok-0\n\n", NOTHING),
            (Get, ALICE, ANSWER),
        ],
    ),
    (
        "unknown keys and capabilities are ignored",
        &[
            (
                Store,
                b"protocol=https\nhost=bitbucket.org\nusername=alice\nfuture_key=x\npassword=tok-1\nwwwauth[]=Basic realm=\"x\"\n\n",
                NOTHING,
            ),
            (Get, b"capability[]=future\nprotocol=https\nhost=bitbucket.org\nusername=alice\nfuture_key=y\n\n", ANSWER),
        ],
    ),
    (
        "crlf input is read and the answer has plain line feeds",
        &[
            (Store, b"protocol=https\r\nhost=bitbucket.org\r\nusername=alice\r\npassword=tok-1\r\n\r\n", NOTHING),
            (Get, b"protocol=https\r\nhost=bitbucket.org\r\nusername=alice\r\n\r\n", ANSWER),
        ],
    ),
    (
        "url is expanded into its parts",
        &[
            (Store, b"url=https://alice:tok%2D1@Bitbucket.org:443/\n\n", NOTHING),
            (Get, b"url=https://alice@bitbucket.org\n\n", ANSWER),
            (Get, ALICE, ANSWER),
        ],
    ),
    (
        "an empty username is an account of its own",
        &[
            (Store, b"protocol=https\nhost=bitbucket.org\nusername=\npassword=tok-e\n\n", NOTHING),
            (Get, b"protocol=https\nhost=bitbucket.org\nusername=\n\n", b"username=\npassword=tok-e\n"),
            (Get, ALICE, NOTHING),
        ],
    ),
    (
        "a host this helper does not serve gets no answer",
        &[
            (Store, b"protocol=https\nhost=example.com\nusername=alice\npassword=tok-1\n\n", NOTHING),
            (Get, b"protocol=https\nhost=example.com\nusername=alice\n\n", NOTHING),
        ],
    ),
];

/// An environment with every directory and the plaintext store inside `home`, prompts off,
/// and `store` as the credential store.
fn environment(home: &Path, store: &str) -> HashMap<&'static str, String> {
    let dir = |name: &str| home.join(name).display().to_string();
    HashMap::from([
        ("HOME", dir("")),
        ("XDG_CONFIG_HOME", dir("config")),
        ("XDG_DATA_HOME", dir("data")),
        ("XDG_STATE_HOME", dir("state")),
        ("XDG_RUNTIME_DIR", dir("run")),
        ("GIT_TERMINAL_PROMPT", "0".to_owned()),
        ("GIT_BITBUCKET_INTERACTIVE", "false".to_owned()),
        ("GIT_BITBUCKET_CREDENTIAL_STORE", store.to_owned()),
        ("GIT_BITBUCKET_PLAINTEXT_STORE", dir("store/credentials.json")),
        ("GIT_BITBUCKET_NAMESPACE", "fixtures".to_owned()),
    ])
}

/// Call `f` with a context whose environment is [`environment`] in a fresh home.
fn in_fresh_home(store: &str, f: impl FnOnce(&Context, &Path)) {
    let home = tempfile::tempdir().expect("temporary home");
    let vars = environment(home.path(), store);
    let env = |name: &str| vars.get(name).cloned();
    let now = || NOW;
    let ctx = Context { env: &env, prompter: &NoPrompt, stderr_is_terminal: false, now: &now };
    f(&ctx, home.path());
}

/// Run `steps` in order in one fresh home; the first step whose answer differs names the
/// case, the step and the first differing line's key (never a value: values are secrets).
fn run_case(name: &str, store: &str, steps: &[Step]) {
    run_case_with(name, store, None, steps);
}

/// Like [`run_case`], with `injected` as the store of every step and no `git config`.
fn run_case_with(name: &str, store: &str, injected: Option<&MemoryStore>, steps: &[Step]) {
    let overrides = Overrides {
        skip_git_config: injected.is_some(),
        store: injected.map(|s| s as &dyn git_credential_bitbucket::store::SecretStore),
        ..Overrides::default()
    };
    in_fresh_home(store, |ctx, _| {
        for (i, (op, input, expected)) in steps.iter().enumerate() {
            let mut output = Vec::new();
            let result = match injected {
                Some(_) => run_operation_with(*op, &mut &input[..], &mut output, ctx, &overrides),
                None => run_operation(*op, &mut &input[..], &mut output, ctx),
            };
            let error = result.err().map(|e| e.to_string());
            assert!(error.is_none(), "{name}, step {i} ({op:?}) failed: {}", error.unwrap_or_default());
            assert!(
                output == *expected,
                "{name}, step {i} ({op:?}): {}",
                first_difference(&output, expected)
            );
        }
    });
}

/// Where two answers part, by line number and key only.
fn first_difference(actual: &[u8], expected: &[u8]) -> String {
    let key = |line: Option<&[u8]>| match line {
        None => "(no line)".to_owned(),
        Some(line) => {
            let key = line.split(|&b| b == b'=').next().unwrap_or_default();
            format!("`{}`", String::from_utf8_lossy(key))
        }
    };
    let (mut a, mut e) = (actual.split_inclusive(|&b| b == b'\n'), expected.split_inclusive(|&b| b == b'\n'));
    for n in 1.. {
        let (x, y) = (a.next(), e.next());
        if x != y {
            return format!("line {n} is {} where {} was expected", key(x), key(y));
        }
        if x.is_none() {
            break;
        }
    }
    "the answers are equal".to_owned()
}

#[test]
fn every_case_answers_byte_for_byte_with_the_plaintext_store() {
    for (name, steps) in CASES {
        run_case(name, "plaintext", steps);
    }
}

#[test]
fn every_case_answers_byte_for_byte_with_an_injected_store_and_no_git_config() {
    for (name, steps) in CASES {
        let store = MemoryStore::new();
        run_case_with(name, "memory", Some(&store), steps);
    }
}

#[test]
fn the_memory_store_keeps_nothing_from_one_operation_to_the_next() {
    // Each operation opens the store its settings name; a memory store lives as long as one
    // operation, as with `credentialStore=memory` in the binary.
    run_case("memory store", "memory", &[STORE_ALICE, (Get, ALICE, NOTHING)]);
}

#[test]
fn bad_input_is_an_error_and_answers_nothing() {
    in_fresh_home("plaintext", |ctx, home| {
        for input in [
            &b"protocol=https\nhost\n\n"[..],
            b"protocol=https\nhost=bitbucket.org\0\n\n",
            b"url=bitbucket.org\n\n",
        ] {
            let mut output = Vec::new();
            let result = run_operation(Get, &mut &input[..], &mut output, ctx);
            assert!(result.is_err(), "{:?} was accepted", String::from_utf8_lossy(input));
            assert!(output.is_empty(), "{:?} was answered", String::from_utf8_lossy(input));
        }
        assert!(!home.join("store").exists(), "bad input created the store");
    });
}
