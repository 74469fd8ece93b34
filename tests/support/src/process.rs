//! Running programs in tests and reading what they did: free ports, input on stdin, output
//! as text, the assertions every integration test makes on the helper's exit and stderr, and
//! the small scripts the helper is made to run (askpass, a recording `BROWSER`, a `git` that
//! logs its arguments). None of it needs the helper binary; the fixtures that do are in the
//! main crate's `tests/it/common.rs`.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::GitEnv;

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Run `cmd` with `input` on stdin and collect its output. The input is written from another
/// thread and a write error ignored: the program may stop reading early (bad input).
pub fn run_with_input(mut cmd: Command, input: impl AsRef<[u8]>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.as_ref().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait for the child");
    writer.join().expect("stdin writer");
    output
}

/// `git credential OP` in `env`, for the caller to add input and run.
pub fn git_credential(env: &GitEnv, op: &str) -> Command {
    let mut cmd = env.command("git");
    cmd.args(["credential", op]);
    cmd
}

/// `git credential OP` in `env` with `input`.
pub fn run_git_credential(env: &GitEnv, op: &str, input: &str) -> Output {
    run_with_input(git_credential(env, op), input)
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The value of `key=` in a credential answer on stdout.
pub fn field<'a>(output: &'a Output, key: &str) -> Option<&'a str> {
    std::str::from_utf8(&output.stdout).ok()?.lines().find_map(|l| l.strip_prefix(&format!("{key}=")))
}

/// A program's stdout as text (lossily).
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A program's stderr as text (lossily).
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Exit 0 and nothing on stderr.
pub fn assert_quiet_success(output: &Output, what: &str) {
    assert_eq!(output.status.code(), Some(0), "{what}: stderr: {}", stderr(output));
    assert!(output.stderr.is_empty(), "{what}: stderr: {}", stderr(output));
}

/// Exit `code`, exactly one stderr line starting with the program name, nothing on stdout,
/// no panic.
pub fn assert_one_line_error(output: &Output, code: i32, what: &str) {
    let stderr = stderr(output);
    assert_eq!(output.status.code(), Some(code), "{what}: stderr: {stderr}");
    assert!(output.stdout.is_empty(), "{what}: stdout: {}", String::from_utf8_lossy(&output.stdout));
    assert!(stderr.starts_with("git-credential-bitbucket: "), "{what}: stderr: {stderr}");
    assert!(stderr.ends_with('\n') && stderr.matches('\n').count() == 1, "{what}: not one line: {stderr:?}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{what}: {stderr}");
}

/// Write an executable script, safe to run at once from a test process whose other threads
/// are starting programs. Written by this process, the file's write descriptor could be
/// inherited by a child another thread forks at that moment, and running the script while
/// that child still holds it fails with ETXTBSY ("Text file busy"). So `sh` writes it: this
/// process never holds the file open.
pub fn write_script(path: &Path, text: &str) {
    use std::io::Write;
    let mut sh = Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("sh");
    sh.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("script text");
    assert!(sh.wait().expect("sh").success(), "could not write {}", path.display());
}

/// An askpass program in `dir` (named by `label`) answering `username` and `secret` to git's
/// two questions and appending each question to a log file: `(program, log)`.
pub fn askpass(dir: &Path, label: &str, username: &str, secret: &str) -> (PathBuf, PathBuf) {
    let script = dir.join(format!("askpass-{label}"));
    let log = dir.join(format!("askpass-{label}.log"));
    write_script(
        &script,
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\ncase \"$1\" in Username*) echo '{username}';; *) echo '{secret}';; esac\n",
            log.display()
        ),
    );
    (script, log)
}

/// A `git` in `dir` that appends its arguments (one line a call) to a log and runs the real
/// git: `(PATH with dir first, log)`.
pub fn logging_git(dir: &Path) -> (String, PathBuf) {
    let real = Command::new("sh").args(["-c", "command -v git"]).output().unwrap().stdout;
    let real = String::from_utf8(real).unwrap();
    let log = dir.join("git-calls");
    write_script(
        &dir.join("git"),
        &format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec {} \"$@\"\n", log.display(), real.trim()),
    );
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    (path, log)
}

/// A `BROWSER` that writes the URL it is given to a file, so the test can play the browser.
pub fn recording_browser(dir: &Path) -> (String, PathBuf) {
    let file = dir.join("opened-url");
    let script = dir.join("record-browser");
    write_script(
        &script,
        &format!("#!/bin/sh\nprintf '%s' \"$1\" > {}.tmp && mv {0}.tmp {0}\n", file.display()),
    );
    (script.display().to_string(), file)
}

/// Wait (bounded) until `file` exists and return its contents.
pub fn wait_for_file(file: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(file) {
            return text;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("helper ended before opening the browser: {status}");
        }
        assert!(Instant::now() < deadline, "the browser was never opened");
        std::thread::yield_now();
    }
}

/// The `CONSENT_LOG` of `chromium-consent` once it has finished: the helper does not wait for
/// the browser, so git may be done before the browser program has written its last lines.
pub fn finished_consent_log(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.lines().any(|l| l.starts_with("done") || l.starts_with("failed:")) || Instant::now() > deadline
        {
            return log;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Other threads starting programs while scripts are written and run at once: the race that
    /// made a script fail with ETXTBSY now and then. 300 scripts, each run right after it is
    /// written, while another thread keeps forking.
    #[test]
    fn a_script_runs_at_once_while_other_threads_start_programs() {
        let dir = tempfile::tempdir().unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let _ = Command::new("true").status();
                }
            });
            let failed: Vec<String> = (0..300)
                .filter_map(|i| {
                    let script = dir.path().join(format!("script-{i}"));
                    write_script(&script, "#!/bin/sh\nexit 0\n");
                    let ran = Command::new(&script).status();
                    (!ran.as_ref().is_ok_and(|s| s.success())).then(|| format!("script {i}: {ran:?}"))
                })
                .collect();
            stop.store(true, Ordering::Relaxed);
            assert!(failed.is_empty(), "{} of 300 failed, first: {}", failed.len(), failed[0]);
        });
    }
}
