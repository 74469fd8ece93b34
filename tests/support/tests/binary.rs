//! The `fake-bitbucket` binary: prints its base URL, keeps a live counts file, and reports the
//! counts on stderr when stdin closes or SIGTERM arrives.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use bitbucket_test_support::client::{self, basic_auth};

const BINARY: &str = env!("CARGO_BIN_EXE_fake-bitbucket");

/// Reads the `base_url=` line the binary prints first.
fn base_url(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read stdout");
    line.trim()
        .strip_prefix("base_url=")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned()
}

#[test]
fn serves_until_stdin_closes_and_reports_counts() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let counts_file = dir.path().join("counts.txt");
    let mut child = Command::new(BINARY)
        .args(["--user", "alice:alice@example.com:api-token"])
        .args(["--repo", "team/project", "--consumer", "id:secret"])
        .arg("--counts-file")
        .arg(&counts_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fake-bitbucket");
    let base = base_url(&mut child);
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let refs = format!("{base}/team/project.git/info/refs?service=git-upload-pack");

    assert_eq!(client::get(&refs).expect("git request").status, 401);
    let auth = basic_auth("alice", "api-token");
    let authed = client::request("GET", &refs, &[("Authorization", &auth)], &[]).expect("git");
    assert_eq!(authed.status, 200);
    assert_eq!(client::get(&format!("{base}/2.0/user")).expect("rest").status, 401);

    // The file is rewritten before each answer is sent, so it is current already.
    let expected = "requests git=2 rest=1 token=0 authorize=0 other=0";
    let live = std::fs::read_to_string(&counts_file).expect("counts file");
    assert_eq!(live.trim(), expected);

    drop(child.stdin.take());
    let output = child.wait_with_output().expect("wait for fake-bitbucket");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(expected), "{stderr}");
}

#[test]
fn reports_counts_on_sigterm() {
    let mut child = Command::new(BINARY)
        .args(["--datacenter", "/bitbucket", "--until-signal"])
        .args(["--repo", "PROJ/repo"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fake-bitbucket");
    let base = base_url(&mut child);
    assert!(base.ends_with("/bitbucket"), "{base}");
    let repos = client::get(&format!("{base}/rest/api/1.0/repos")).expect("rest");
    assert_eq!(repos.status, 200);

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("run kill");
    assert!(killed.success());

    let output = child.wait_with_output().expect("wait for fake-bitbucket");
    assert!(output.status.success(), "{:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("requests git=0 rest=1 token=0 authorize=0 other=0"), "{stderr}");
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    let output = Command::new(BINARY).arg("--user").arg("no-colons").output().expect("run fake-bitbucket");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("NAME:EMAIL:TOKEN"), "{stderr}");
}
