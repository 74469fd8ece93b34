//! The repository whose configuration the helper reads is the one git would use, found the
//! way git's discovery finds it (issue 22, cases 1 and 2). A directory planted in a project
//! that git does not take for a repository (a `HEAD` that is not a valid one), and an
//! embedded bare repository git ignores under `safe.bareRepository=explicit`, each carry a
//! `config` naming another host for the Bitbucket URLs; a listener stands in for that host and
//! records every connection. It must see none, and the commands still answer from the store.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use bitbucket_test_support::RequestKind;

/// An attacker's server: records the first line of every connection (before answering, so
/// anything the helper sent is recorded by the time the helper has exited), answers 404.
pub(crate) struct Listener {
    pub(crate) url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    pub(crate) fn start() -> Listener {
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", socket.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        // Blocks until something connects; the thread ends with the test process.
        std::thread::spawn(move || {
            for stream in socket.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut line = String::new();
                let _ = BufReader::new(&stream).read_line(&mut line);
                record.lock().unwrap().push(format!("connection: {}", line.trim_end()));
                let _ = (&stream).write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            }
        });
        Listener { url, seen }
    }

    pub(crate) fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// The `[credential]` section a hostile repository carries: every URL the helper sends a
    /// token or a client secret to names the listener, and stored tokens are to be checked there.
    fn hostile_config(&self) -> String {
        format!(
            "[credential]\n\tbitbucketCloudApiUrl = {url}\n\tbitbucketCloudUrl = {url}\n\
             \tbitbucketValidateStoredCredentials = true\n",
            url = self.url
        )
    }
}

/// `git-credential-bitbucket ARGS` run in `dir`, with `input` on stdin.
fn helper_in(setup: &Setup, dir: &Path, args: &[&str], input: &str) -> Output {
    let mut cmd = setup.env.command(HELPER);
    cmd.args(args).current_dir(dir);
    let out = run_with_input(cmd, input);
    eprintln!("$ (in {}) git-credential-bitbucket {}\n{}", dir.display(), args.join(" "), stderr(&out));
    out
}

/// `git ARGS` in `dir`, stdin closed.
fn git_in(setup: &Setup, dir: &Path, args: &[&str]) -> Output {
    setup.env.command("git").args(args).current_dir(dir).stdin(Stdio::null()).output().unwrap()
}

/// What git itself reads for the fake's URL in `dir`: the listener must not be in it.
fn assert_git_ignores_the_listener(setup: &Setup, dir: &Path, listener: &Listener) {
    let url = format!("{}/", setup.http_root());
    let out = git_in(setup, dir, &["config", "--get-urlmatch", "credential", &url]);
    let text = stdout(&out);
    assert!(text.contains("bitbucketcloudapiurl"), "git reads the global settings here: {text}");
    assert!(!text.contains(&listener.url), "git itself ignores the planted config: {text}");
}

/// A project (a real repository) under the test's directory.
fn project(setup: &Setup) -> PathBuf {
    let proj = setup.env.path().join("proj");
    setup.env.git(setup.env.path(), &["init", "-q", "proj"]);
    proj
}

/// Alice signed in with OAuth, as a refresh leaves it (run outside any repository): the stored
/// access token is an OAuth one, which `bitbucketValidateStoredCredentials` checks at the API
/// URL. Returns the access token.
fn signed_in(setup: &Setup) -> String {
    setup.seed_oauth(0);
    let out = helper_in(setup, setup.env.path(), &["token", &setup.http_root()], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(setup.fake.count(RequestKind::Token), 1, "one refresh");
    stdout(&out).trim().to_owned()
}

/// `token` and `get` in `dir` answer alice's stored token, and nothing reaches the listener
/// (nor the fake: the stored token is fresh and the global config does not ask to validate).
fn assert_answers_from_the_store(setup: &Setup, dir: &Path, access: &str, listener: &Listener) {
    setup.fake.reset_log();
    let token = helper_in(setup, dir, &["token", &setup.http_root()], "");
    assert!(token.status.success(), "{}", stderr(&token));
    assert!(stdout(&token) == format!("{access}\n"), "token prints the stored access token");
    let get = helper_in(setup, dir, &["get"], &alice_input(setup));
    assert!(get.status.success(), "{}", stderr(&get));
    assert!(field(&get, "password") == Some(access), "get answers the stored access token");
    assert_eq!(listener.seen(), Vec::<String>::new(), "nothing went to the planted host");
    assert_eq!(setup.fake.requests().len(), 0, "answered from the store, no request");
}

#[test]
fn a_directory_with_a_junk_head_is_not_taken_for_a_repository() {
    let setup = Setup::cloud();
    let access = signed_in(&setup);
    let listener = Listener::start();
    let proj = project(&setup);
    let tools = proj.join("tools");
    for sub in ["objects", "refs"] {
        std::fs::create_dir_all(tools.join(sub)).unwrap();
    }
    std::fs::write(tools.join("HEAD"), "junk\n").unwrap();
    std::fs::write(tools.join("config"), listener.hostile_config()).unwrap();

    let toplevel = git_in(&setup, &tools, &["rev-parse", "--show-toplevel"]);
    assert_eq!(stdout(&toplevel).trim(), proj.display().to_string(), "git finds the project");
    assert_git_ignores_the_listener(&setup, &tools, &listener);
    assert_answers_from_the_store(&setup, &tools, &access, &listener);

    // An empty HEAD, and a HEAD that is a symbolic link to a valid HEAD elsewhere: git
    // accepts neither (a link must point into refs/).
    std::fs::write(tools.join("HEAD"), "").unwrap();
    assert_git_ignores_the_listener(&setup, &tools, &listener);
    assert_answers_from_the_store(&setup, &tools, &access, &listener);
    std::fs::remove_file(tools.join("HEAD")).unwrap();
    std::os::unix::fs::symlink("../.git/HEAD", tools.join("HEAD")).unwrap();
    assert_git_ignores_the_listener(&setup, &tools, &listener);
    assert_answers_from_the_store(&setup, &tools, &access, &listener);

    // A clone run from there uses the stored token too, and only the fake sees it.
    let url = format!("{}/team/repo.git", setup.http_root());
    let ls = git_in(&setup, &tools, &["ls-remote", &url]);
    assert!(ls.status.success(), "{}", stderr(&ls));
    assert_eq!(listener.seen(), Vec::<String>::new(), "nothing went to the planted host");
    assert!(setup.fake.count(RequestKind::Git) > 0);
}

#[test]
fn an_embedded_bare_repository_is_ignored_under_safe_bare_repository_explicit() {
    embedded_bare_repository_run_from("vendor/lib.git");
}

#[test]
fn an_embedded_bare_repository_is_ignored_from_a_directory_inside_it() {
    embedded_bare_repository_run_from("vendor/lib.git/refs/heads");
}

/// Case 2 of issue 22, with the commands run in `proj/WHERE`.
fn embedded_bare_repository_run_from(place: &str) {
    let setup = Setup::cloud();
    let listener = Listener::start();
    setup.env.config("safe.bareRepository", "explicit");
    let proj = project(&setup);
    let bare = proj.join("vendor/lib.git");
    setup.env.git(&proj, &["init", "-q", "--bare", "vendor/lib.git"]);
    let mut config = std::fs::read_to_string(bare.join("config")).unwrap();
    config.push_str(&listener.hostile_config());
    std::fs::write(bare.join("config"), config).unwrap();
    let dir = proj.join(place);
    assert_git_ignores_the_listener(&setup, &dir, &listener);

    // An expired token is refreshed where the protected configuration says: the refresh
    // token and the consumer's secret go to the fake, never to the listener.
    let (expired, _) = setup.seed_oauth(0);
    let token = helper_in(&setup, &dir, &["token", &setup.http_root()], "");
    assert!(token.status.success(), "{}", stderr(&token));
    let access = stdout(&token).trim().to_owned();
    assert!(!access.is_empty() && access != expired, "a refreshed access token");
    assert_eq!(setup.fake.count(RequestKind::Token), 1, "one refresh, at the fake");
    assert_eq!(listener.seen(), Vec::<String>::new(), "nothing went to the planted host");

    // The fresh OAuth token is answered without being sent anywhere.
    assert_answers_from_the_store(&setup, &dir, &access, &listener);

    // git ls-remote run inside it: git asks the helper from there.
    let url = format!("{}/team/repo.git", setup.http_root());
    let ls = git_in(&setup, &dir, &["ls-remote", &url]);
    assert!(ls.status.success(), "{}", stderr(&ls));
    assert!(setup.fake.count(RequestKind::Git) > 0);
    assert_eq!(setup.fake.count(RequestKind::Token), 0, "the stored token answered");
    assert_eq!(listener.seen(), Vec::<String>::new(), "nothing went to the planted host");
}
