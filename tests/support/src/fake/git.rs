//! Git smart HTTP for the fake: bare repositories in a temporary directory, served by running
//! `git http-backend` as a CGI program per request, with request and response bodies
//! streamed (gzip and chunked request bodies included). Every git process runs with a cleared
//! environment and no system or global configuration, so a developer's own git settings can
//! never change what the tests see.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, Sender};

use tempfile::TempDir;
use tiny_http::Request;

use super::Shared;
use super::http::{self, Presented, Reply};

/// The oldest git the tests accept: it sends `capability[]=authtype` and `wwwauth[]`.
const MINIMUM_GIT: (u32, u32) = (2, 46);

/// Set this variable to see `git http-backend`'s stderr (it is discarded otherwise).
const DEBUG_VARIABLE: &str = "FAKE_BITBUCKET_DEBUG";

/// Fixed identity and date of the initial commit, so every run has the same commit id.
const IDENTITY: [(&str, &str); 6] = [
    ("GIT_AUTHOR_NAME", "Fake Bitbucket"),
    ("GIT_AUTHOR_EMAIL", "fake@bitbucket.invalid"),
    ("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z"),
    ("GIT_COMMITTER_NAME", "Fake Bitbucket"),
    ("GIT_COMMITTER_EMAIL", "fake@bitbucket.invalid"),
    ("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z"),
];

/// Answers a git request: 401 with the deployment's realm unless the credentials are accepted.
pub(crate) fn handle(
    shared: &Shared,
    request: &mut Request,
    method: &str,
    inner: &str,
    query: &str,
    presented: &Presented,
) -> Reply {
    let identity = {
        let state = shared.state();
        if shared.is_datacenter() {
            state.datacenter_identity(presented)
        } else {
            state.cloud_git_identity(presented)
        }
    };
    let Some(remote_user) = identity.remote_user() else {
        return shared.challenge();
    };
    // Cloud: pushing with an API token needs `write:repository:bitbucket` (Atlassian, "API
    // token permissions"); without it Bitbucket answers 403.
    let pushing = inner.ends_with("/git-receive-pack") || query.contains("service=git-receive-pack");
    if !shared.is_datacenter()
        && pushing
        && shared.state().cloud_api_token_lacks(presented, "write:repository:bitbucket")
    {
        return Reply::text(403, "Your credentials lack one or more required privilege scopes.\n");
    }
    let path_info = if shared.is_datacenter() { inner.strip_prefix("/scm").unwrap_or(inner) } else { inner };
    let reply = shared.git.serve(request, method, path_info, query, &remote_user);
    if shared.is_datacenter() { super::rest::with_ausername(shared, reply, &identity) } else { reply }
}

/// The repositories and the `git http-backend` that serves them.
pub(crate) struct Backend {
    http_backend: PathBuf,
    dir: TempDir,
}

impl Backend {
    /// Checks the git on `PATH` and makes the directory the repositories live in.
    pub(crate) fn new() -> Self {
        let http_backend = http_backend_path().clone();
        let dir = tempfile::Builder::new()
            .prefix("fake-bitbucket-")
            .tempdir()
            .unwrap_or_else(|e| panic!("fake Bitbucket: cannot create a temporary directory: {e}"));
        for sub in ["repos", "home", "scratch"] {
            std::fs::create_dir_all(dir.path().join(sub))
                .unwrap_or_else(|e| panic!("fake Bitbucket: cannot create {sub}: {e}"));
        }
        Self { http_backend, dir }
    }

    fn repos(&self) -> PathBuf {
        self.dir.path().join("repos")
    }

    /// `repos/{ws}/{repo}.git`; panics on a name that is not `ws/repo`.
    pub(crate) fn repo_path(&self, name: &str) -> PathBuf {
        let valid_segment = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        match name.split_once('/') {
            Some((ws, repo)) if valid_segment(ws) && valid_segment(repo) => {
                self.repos().join(ws).join(format!("{repo}.git"))
            }
            _ => {
                panic!("fake Bitbucket: repository names look like `workspace/repo`, not {name:?}")
            }
        }
    }

    /// Makes `name` a bare repository whose `main` has one commit with a README.
    pub(crate) fn create_repo(&self, name: &str) -> PathBuf {
        let bare = self.repo_path(name);
        assert!(!bare.exists(), "fake Bitbucket: repository {name} already exists");
        let work = tempfile::Builder::new()
            .prefix("work-")
            .tempdir_in(self.dir.path().join("scratch"))
            .unwrap_or_else(|e| panic!("fake Bitbucket: cannot create a work tree: {e}"));
        let work_path = work.path().to_str().expect("temporary paths are UTF-8");
        self.run_git(&["init", "-q", "-b", "main", work_path]);
        std::fs::write(work.path().join("README.md"), format!("# {name}\n"))
            .unwrap_or_else(|e| panic!("fake Bitbucket: cannot write README.md: {e}"));
        self.run_git(&["-C", work_path, "add", "README.md"]);
        self.run_git(&["-C", work_path, "commit", "-q", "-m", "Initial commit"]);
        let bare_path = bare.to_str().expect("temporary paths are UTF-8");
        self.run_git(&["clone", "-q", "--bare", work_path, bare_path]);
        self.run_git(&["--git-dir", bare_path, "remote", "remove", "origin"]);
        bare
    }

    /// The commit `HEAD` of repository `name` points at.
    pub(crate) fn head_commit(&self, name: &str) -> String {
        let bare = self.repo_path(name);
        let bare_path = bare.to_str().expect("temporary paths are UTF-8");
        self.run_git(&["--git-dir", bare_path, "rev-parse", "HEAD"])
    }

    /// Runs git isolated from every configuration, returns its trimmed stdout; panics on failure.
    fn run_git(&self, args: &[&str]) -> String {
        let output = self
            .isolated(Path::new("git"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("fake Bitbucket: cannot run git {args:?}: {e}"));
        assert!(
            output.status.success(),
            "fake Bitbucket: git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn isolated(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LANG", "C")
            .env("HOME", self.dir.path().join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .envs(IDENTITY);
        command
    }

    /// Runs `git http-backend` for one request and streams its answer back.
    fn serve(
        &self,
        request: &mut Request,
        method: &str,
        path_info: &str,
        query: &str,
        remote_user: &str,
    ) -> Reply {
        let mut command = self.isolated(&self.http_backend);
        let remote_addr =
            request.remote_addr().map_or_else(|| "127.0.0.1".to_owned(), |a| a.ip().to_string());
        command
            .env("GIT_PROJECT_ROOT", self.repos())
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("PATH_INFO", path_info)
            .env("REQUEST_METHOD", method)
            .env("QUERY_STRING", query)
            .env("REMOTE_USER", remote_user)
            .env("REMOTE_ADDR", remote_addr)
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.receivepack")
            .env("GIT_CONFIG_VALUE_0", "true");
        // No CONTENT_LENGTH for a chunked body: http-backend then reads until end of input.
        if let Some(length) = request.body_length() {
            command.env("CONTENT_LENGTH", length.to_string());
        }
        for (header, variable) in [
            ("Content-Type", "CONTENT_TYPE"),
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
            ("Git-Protocol", "HTTP_GIT_PROTOCOL"),
        ] {
            if let Some(value) = http::header(request, header) {
                command.env(variable, value);
            }
        }
        let stderr =
            if std::env::var_os(DEBUG_VARIABLE).is_some() { Stdio::inherit() } else { Stdio::null() };
        let spawned = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(stderr).spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return Reply::text(500, &format!("cannot run git http-backend: {e}\n")),
        };
        let stdin = child.stdin.take();
        let Some(stdout) = child.stdout.take() else {
            return Reply::text(500, "git http-backend has no stdout\n");
        };
        // A thread drains stdout from the start, so the CGI never blocks on a full pipe while
        // this thread is still feeding it the request body.
        let (chunks, receiver) = mpsc::channel();
        std::thread::spawn(move || pump(stdout, &chunks, child));
        if let Some(mut stdin) = stdin
            && method == "POST"
        {
            // A CGI that stops reading early (an error) closes the pipe: not our failure.
            let _ = io::copy(request.as_reader(), &mut stdin);
        }
        cgi_reply(BufReader::new(ChannelReader::new(receiver)))
    }
}

/// Turns the CGI's output (headers, blank line, body) into a streamed answer.
fn cgi_reply(mut output: BufReader<ChannelReader>) -> Reply {
    let mut status = 200;
    let mut headers = Vec::new();
    let mut length = None;
    loop {
        let mut line = String::new();
        match output.read_line(&mut line) {
            Ok(0) | Err(_) => {
                return Reply::text(502, "git http-backend ended before its headers\n");
            }
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("Status") {
            status = value.split_whitespace().next().and_then(|code| code.parse().ok()).unwrap_or(500);
        } else if name.eq_ignore_ascii_case("Content-Length") {
            length = value.parse().ok();
        } else {
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    Reply::stream(status, headers, Box::new(output), length)
}

/// Copies the CGI's stdout into the channel, then reaps the process.
fn pump(mut stdout: ChildStdout, chunks: &Sender<Vec<u8>>, mut child: Child) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match stdout.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            // When the client went away, keep draining so the CGI can finish and exit.
            Ok(n) => {
                let _ = chunks.send(buffer[..n].to_vec());
            }
        }
    }
    let _ = child.wait();
}

/// Reads the chunks `pump` sends, in order, until the sender is gone.
struct ChannelReader {
    chunks: Receiver<Vec<u8>>,
    current: Vec<u8>,
    position: usize,
}

impl ChannelReader {
    fn new(chunks: Receiver<Vec<u8>>) -> Self {
        Self { chunks, current: Vec::new(), position: 0 }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.current.len() {
            match self.chunks.recv() {
                Ok(chunk) => {
                    self.current = chunk;
                    self.position = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.position);
        buf[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

/// `git-http-backend` under `git --exec-path`, after checking `git --version` (once).
fn http_backend_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        check_git_version();
        let output = Command::new("git")
            .arg("--exec-path")
            .output()
            .unwrap_or_else(|e| panic!("fake Bitbucket: cannot run `git --exec-path`: {e}"));
        let exec_path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let backend = Path::new(&exec_path).join("git-http-backend");
        assert!(
            backend.is_file(),
            "fake Bitbucket: {} does not exist; install git with its http-backend",
            backend.display()
        );
        backend
    })
}

fn check_git_version() {
    let output = Command::new("git").arg("--version").output().unwrap_or_else(|e| {
        panic!("fake Bitbucket: cannot run `git --version` ({e}); the tests need git >= 2.46 on PATH")
    });
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let found = parse_git_version(&text);
    assert!(
        found.is_some_and(|v| v >= MINIMUM_GIT),
        "fake Bitbucket: the tests need git >= {}.{} first on PATH (older git does not send \
         the credential capabilities the helper relies on), but `git --version` says {text:?}. \
         Put /usr/local/bin (git 2.47) before /usr/bin in PATH.",
        MINIMUM_GIT.0,
        MINIMUM_GIT.1
    );
}

/// `git version 2.47.3` → `(2, 47)`.
fn parse_git_version(text: &str) -> Option<(u32, u32)> {
    let version = text.strip_prefix("git version ")?;
    let mut numbers = version.split('.').map(|part| {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    Some((numbers.next()??, numbers.next()??))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_versions_parse() {
        assert_eq!(parse_git_version("git version 2.47.3"), Some((2, 47)));
        assert_eq!(parse_git_version("git version 2.39.5"), Some((2, 39)));
        assert_eq!(parse_git_version("git version 2.46.0.windows.1"), Some((2, 46)));
        assert_eq!(parse_git_version("hg 6"), None);
    }
}
