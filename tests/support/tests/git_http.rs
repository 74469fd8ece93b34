//! The fake serves real git clients: clone, push (small and chunked), gzip bodies, the 401
//! challenge with each deployment's realm, and which credentials git accepts.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use bitbucket_test_support::client::{self, basic_auth};
use bitbucket_test_support::{FakeBitbucket, GitEnv, Mode, RecordedRequest, RequestKind, User};

const API_TOKEN: &str = "ATATT-alice-api-token";

fn cloud_with_alice() -> FakeBitbucket {
    let fake = FakeBitbucket::start(Mode::Cloud);
    fake.add_user(User::new("alice", "alice@example.com").with_api_token(API_TOKEN));
    fake.create_repo("team/project");
    fake
}

/// A git environment whose only credential helper answers these credentials.
fn git_env_answering(username: &str, password: &str) -> GitEnv {
    let env = GitEnv::new();
    env.config(
        "credential.helper",
        &format!(
            "!f() {{ test \"$1\" = get || exit 0; echo username={username}; echo password={password}; }}; f"
        ),
    );
    env
}

fn statuses(requests: &[RecordedRequest]) -> Vec<(String, u16, Option<String>)> {
    requests.iter().map(|r| (r.method.clone(), r.status, r.authorization_scheme.clone())).collect()
}

fn commit_file(env: &GitEnv, repo: &Path, name: &str, contents: &[u8]) -> String {
    std::fs::write(repo.join(name), contents).expect("write file");
    env.git(repo, &["add", name]);
    env.git(repo, &["commit", "-q", "-m", &format!("Add {name}")]);
    env.git(repo, &["rev-parse", "HEAD"])
}

#[test]
fn clone_and_push_with_api_token_are_served_and_counted() {
    let fake = cloud_with_alice();
    let env = git_env_answering("alice", API_TOKEN);
    let checkout = env.path().join("project");

    env.git(env.path(), &["clone", "-q", &fake.git_url("team/project"), "project"]);
    assert_eq!(env.git(&checkout, &["rev-parse", "HEAD"]), fake.head_commit("team/project"));
    let clone_requests = fake.requests();
    // protocol v2: anonymous probe (401), refs advertisement, ls-refs, fetch.
    assert_eq!(
        statuses(&clone_requests),
        vec![
            ("GET".into(), 401, None),
            ("GET".into(), 200, Some("Basic".into())),
            ("POST".into(), 200, Some("Basic".into())),
            ("POST".into(), 200, Some("Basic".into())),
        ]
    );
    assert!(
        clone_requests.iter().all(|r| r.kind == RequestKind::Git && r.path.starts_with("/team/project.git/"))
    );

    fake.reset_log();
    let pushed = commit_file(&env, &checkout, "hello.txt", b"hello\n");
    env.git(&checkout, &["push", "-q", "origin", "main"]);
    assert_eq!(fake.head_commit("team/project"), pushed);
    let push_requests = fake.requests();
    assert_eq!(
        statuses(&push_requests),
        vec![
            ("GET".into(), 401, None),
            ("GET".into(), 200, Some("Basic".into())),
            ("POST".into(), 200, Some("Basic".into())),
        ]
    );
    assert_eq!(push_requests[2].path, "/team/project.git/git-receive-pack");
    let counts = fake.counts();
    assert_eq!((counts.git, counts.rest, counts.token), (3, 0, 0));
}

#[test]
fn large_push_with_chunked_body_lands() {
    let fake = cloud_with_alice();
    let mut env = git_env_answering("x-bitbucket-api-token-auth", API_TOKEN);
    let trace = env.path().join("curl-trace.txt");
    env.git(env.path(), &["clone", "-q", &fake.git_url("team/project"), "project"]);
    let checkout = env.path().join("project");
    // Incompressible and over http.postBuffer (1 MiB): git sends the pack chunked.
    let mut noise = vec![0u8; 3 * 1024 * 1024];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut noise))
        .expect("read /dev/urandom");
    let pushed = commit_file(&env, &checkout, "noise.bin", &noise);

    env.set_env("GIT_TRACE_CURL", &trace);
    env.set_env("GIT_TRACE_CURL_NO_DATA", "1");
    env.git(&checkout, &["push", "-q", "origin", "main"]);

    assert_eq!(fake.head_commit("team/project"), pushed);
    let sent = std::fs::read_to_string(&trace).expect("curl trace");
    assert!(sent.contains("Transfer-Encoding: chunked"), "git did not send a chunked body");
}

#[test]
fn gzip_and_chunked_request_bodies_reach_http_backend() {
    let fake = cloud_with_alice();
    let ls_refs = b"0014command=ls-refs\n00010009peel\n0000";
    let gzipped = gzip(ls_refs);
    let auth = basic_auth("alice", API_TOKEN);
    let head = |extra: &str| {
        format!(
            "POST /team/project.git/git-upload-pack HTTP/1.1\r\nHost: {}\r\n\
             Authorization: {auth}\r\nGit-Protocol: version=2\r\n\
             Content-Type: application/x-git-upload-pack-request\r\n\
             Content-Encoding: gzip\r\nConnection: close\r\n{extra}\r\n",
            fake.host()
        )
    };

    let mut sized = head(&format!("Content-Length: {}\r\n", gzipped.len())).into_bytes();
    sized.extend_from_slice(&gzipped);
    let answer = client::send_raw(&fake.host(), &sized).expect("gzip request");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.text().contains("refs/heads/main"), "{}", answer.text());

    let mut chunked = head("Transfer-Encoding: chunked\r\n").into_bytes();
    let (first, second) = gzipped.split_at(gzipped.len() / 2);
    for chunk in [first, second] {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = client::send_raw(&fake.host(), &chunked).expect("chunked request");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.text().contains("refs/heads/main"), "{}", answer.text());
}

#[test]
fn cloud_challenge_names_the_bitbucket_org_realm() {
    let fake = cloud_with_alice();
    let url = format!("{}/info/refs?service=git-upload-pack", fake.git_url("team/project"));

    let anonymous = client::get(&url).expect("request");
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("WWW-Authenticate"), Some("Basic realm=\"Bitbucket.org HTTP\""));
    assert_eq!(anonymous.header("X-AREQUESTID"), None);

    let wrong = basic_auth("alice", "not-the-token");
    let refused = client::request("GET", &url, &[("Authorization", &wrong)], &[]).expect("request");
    assert_eq!(refused.status, 401);
}

#[test]
fn datacenter_challenge_names_its_realm_and_carries_a_request_id() {
    let fake = FakeBitbucket::start(Mode::DataCenter { context_path: "/bitbucket".into() });
    fake.create_repo("PROJ/repo");
    assert!(fake.base_url().ends_with("/bitbucket"));
    let url = format!("{}/info/refs?service=git-upload-pack", fake.git_url("PROJ/repo"));
    assert!(url.contains("/bitbucket/scm/PROJ/repo.git/"), "{url}");

    let anonymous = client::get(&url).expect("request");
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("WWW-Authenticate"), Some("Basic realm=\"Atlassian Bitbucket\""));
    assert!(anonymous.header("X-AREQUESTID").is_some());
    let elsewhere = client::get(&format!("http://{}/other", fake.host())).expect("request");
    assert_eq!(elsewhere.status, 404);
    assert!(elsewhere.header("X-AREQUESTID").is_some());
}

#[test]
fn datacenter_clone_and_push_with_personal_token() {
    let fake = FakeBitbucket::start(Mode::DataCenter { context_path: "bitbucket".into() });
    fake.add_user(User::new("bob", "bob@example.com"));
    fake.add_dc_personal_token("bob", "BBDC-personal");
    fake.create_repo("PROJ/repo");
    let env = git_env_answering("bob", "BBDC-personal");

    env.git(env.path(), &["clone", "-q", &fake.git_url("PROJ/repo"), "repo"]);
    let checkout = env.path().join("repo");
    let pushed = commit_file(&env, &checkout, "dc.txt", b"dc\n");
    env.git(&checkout, &["push", "-q", "origin", "main"]);

    assert_eq!(fake.head_commit("PROJ/repo"), pushed);
    assert!(fake.repo_path("PROJ/repo").ends_with("PROJ/repo.git"));
}

#[test]
fn datacenter_project_token_works_as_bearer_only() {
    let fake = FakeBitbucket::start(Mode::DataCenter { context_path: String::new() });
    fake.add_dc_project_token("PROJ", "BBDC-project");
    fake.create_repo("PROJ/repo");
    let url = format!("{}/info/refs?service=git-upload-pack", fake.git_url("PROJ/repo"));

    let bearer =
        client::request("GET", &url, &[("Authorization", "Bearer BBDC-project")], &[]).expect("request");
    assert_eq!(bearer.status, 200);
    let basic = basic_auth("project_proj_bot", "BBDC-project");
    let refused = client::request("GET", &url, &[("Authorization", &basic)], &[]).expect("request");
    assert_eq!(refused.status, 401);
}

#[test]
fn git_accepts_live_oauth_tokens_and_rejects_expired_ones() {
    let fake = cloud_with_alice();
    let live = fake.issue_access_token("alice", 3600);
    let expired = fake.issue_access_token("alice", 0);
    assert!(live.len() >= 2600);

    let works = git_env_answering("x-token-auth", &live);
    works.git(works.path(), &["ls-remote", &fake.git_url("team/project"), "main"]);
    let with_username = git_env_answering("alice", &live);
    with_username.git(with_username.path(), &["ls-remote", &fake.git_url("team/project"), "main"]);

    let fails = git_env_answering("x-token-auth", &expired);
    let output =
        fails.command("git").args(["ls-remote", &fake.git_url("team/project")]).output().expect("run git");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Authentication failed"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn parallel_clones_are_served() {
    let fake = cloud_with_alice();
    let env = git_env_answering("alice", API_TOKEN);
    let url = fake.git_url("team/project");
    let children: Vec<_> = (0..6)
        .map(|i| {
            env.command("git")
                .args(["clone", "-q", &url, &format!("clone-{i}")])
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn git")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("git clone");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(fake.count(RequestKind::Git), 6 * 4);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run gzip");
    child.stdin.take().expect("stdin").write_all(data).expect("feed gzip");
    let output = child.wait_with_output().expect("gzip");
    assert!(output.status.success());
    output.stdout
}
