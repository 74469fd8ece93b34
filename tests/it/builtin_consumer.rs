//! A packager's default consumer: the helper built with `BITBUCKET_BUILTIN_OAUTH_CLIENT_ID` /
//! `_SECRET` in the build environment opens the browser on the first `git clone` with no
//! consumer configured, says so in `--version` and `diagnose`, and never shows the secret.
//!
//! The second build goes to `target/builtin-consumer`, seeded once with the dependencies
//! already compiled in `target/debug`, so that only this crate is compiled there (about a
//! minute the first time, seconds after).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{HELPER, cloud_env, finished_consent_log, free_port};
use bitbucket_test_support::{FakeBitbucket, Mode, RequestKind, User};

const BUILTIN_ID: &str = "packager-consumer-key";
const BUILTIN_SECRET: &str = "packager-consumer-secret-never-printed";

/// Build the helper with the consumer compiled in; returns the binary.
fn helper_with_builtin_consumer() -> PathBuf {
    let profile_dir = Path::new(HELPER).parent().unwrap();
    let target = profile_dir.parent().unwrap().join("builtin-consumer");
    let built = target.join("debug").join(Path::new(HELPER).file_name().unwrap());
    seed_dependencies(profile_dir, &target.join("debug"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--bin", "git-credential-bitbucket", "--target-dir"])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("BITBUCKET_BUILTIN_OAUTH_CLIENT_ID", BUILTIN_ID)
        .env("BITBUCKET_BUILTIN_OAUTH_CLIENT_SECRET", BUILTIN_SECRET)
        .stdout(Stdio::null())
        .status()
        .expect("cargo runs");
    assert!(status.success() && built.is_file(), "building with a built-in consumer failed");
    built
}

/// Copy the compiled dependencies (not this crate's own artefacts, which must be rebuilt
/// with the consumer) into a fresh target directory, once.
fn seed_dependencies(from: &Path, to: &Path) {
    if to.join("deps").is_dir() {
        return;
    }
    std::fs::create_dir_all(to.join("deps")).unwrap();
    for dir in ["build", ".fingerprint"] {
        let status = Command::new("cp").arg("-a").arg(from.join(dir)).arg(to).status().unwrap();
        assert!(status.success(), "seeding {dir}");
    }
    for entry in std::fs::read_dir(from.join("deps")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours =
            name.starts_with("git_credential_bitbucket") || name.starts_with("libgit_credential_bitbucket");
        if name.contains('.') && !ours {
            std::fs::copy(entry.path(), to.join("deps").join(&name)).unwrap();
        }
    }
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn a_built_in_consumer_signs_in_on_the_first_clone_with_nothing_configured() {
    let helper = helper_with_builtin_consumer();
    let fake = FakeBitbucket::start(Mode::Cloud);
    fake.add_user(User::new("alice", "alice@example.com"));
    fake.set_consenting_user("alice");
    fake.create_repo("team/repo");
    let port = free_port();
    fake.add_consumer(BUILTIN_ID, BUILTIN_SECRET, &format!("http://localhost:{port}/"));
    let env = cloud_env(&fake);
    env.config("credential.helper", helper.to_str().unwrap());
    env.config("credential.bitbucketOAuthRedirectPort", &port.to_string());
    let config = std::fs::read_to_string(env.global_config()).unwrap();
    assert!(!config.contains("OAuthClient"), "no consumer configured: {config}");

    let work = tempfile::tempdir().unwrap();
    let (consent_log, trace) = (work.path().join("consent-log"), work.path().join("trace"));
    let out =
        crate::common::clone_with_chromium(&env, &fake.git_url("team/repo"), "first", &consent_log, &trace);
    let log = finished_consent_log(&consent_log);
    eprintln!("chromium-consent steps:\n{log}");
    assert!(out.status.success(), "clone failed: {}", text(&out));
    assert!(log.contains("clicked"), "the browser was opened on the consent page: {log}");
    assert_eq!(fake.count(RequestKind::Token), 1, "one code exchange with the built-in consumer");

    let version = Command::new(&helper).arg("--version").output().unwrap();
    assert!(text(&version).contains("built-in OAuth consumer: yes"), "{}", text(&version));
    let plain = Command::new(HELPER).arg("--version").output().unwrap();
    assert!(text(&plain).contains("built-in OAuth consumer: no"), "{}", text(&plain));
    let diagnose =
        env.command(&helper).args(["diagnose", &format!("http://{}", fake.host())]).output().unwrap();
    let report = text(&diagnose);
    assert!(report.contains("built-in OAuth consumer: yes"), "{report}");
    assert!(report.contains(&format!("Cloud OAuth consumer: {BUILTIN_ID} (built in)")), "{report}");

    let trace_text = std::fs::read_to_string(&trace).unwrap_or_default();
    for output in [text(&out), text(&version), report, trace_text] {
        assert!(!output.contains(BUILTIN_SECRET), "the built-in secret was shown");
    }
    let strings = std::fs::read(&helper).unwrap();
    assert!(strings.windows(BUILTIN_SECRET.len()).any(|w| w == BUILTIN_SECRET.as_bytes()), "compiled in");
}
