//! Records the git commit the binary is built from, for `--version`, as the compile-time
//! variable `GIT_CREDENTIAL_BITBUCKET_BUILD_COMMIT` (12 hex digits, or `unknown`).
//!
//! Where it comes from, first match wins: the variable `GIT_CREDENTIAL_BITBUCKET_COMMIT` (for
//! a packager building from a tarball), `git rev-parse` when this directory is the top of a git
//! checkout, then the `.cargo_vcs_info.json` that `cargo package` writes into a packaged crate.
//! This script must never fail a build: anything missing or odd gives `unknown`.

use std::path::{Path, PathBuf};
use std::process::Command;

const OVERRIDE: &str = "GIT_CREDENTIAL_BITBUCKET_COMMIT";
const OUTPUT: &str = "GIT_CREDENTIAL_BITBUCKET_BUILD_COMMIT";
/// Fixed, so the same commit prints the same from a clone and from a packaged crate.
const SHORT: usize = 12;

fn main() {
    println!("cargo:rerun-if-env-changed={OVERRIDE}");
    println!("cargo:rerun-if-changed=build.rs");
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_default();
    let commit = std::env::var(OVERRIDE)
        .ok()
        .filter(|c| is_commit(c))
        .or_else(|| from_git_checkout(&manifest_dir))
        .or_else(|| from_cargo_vcs_info(&manifest_dir))
        .map_or_else(|| "unknown".to_owned(), |c| c.chars().take(SHORT).collect());
    println!("cargo:rustc-env={OUTPUT}={commit}");
}

fn is_commit(text: &str) -> bool {
    text.len() >= 7 && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// HEAD of the git checkout whose top is `dir` (not of some repository around a packaged
/// crate), and the files whose change means HEAD moved.
fn from_git_checkout(dir: &Path) -> Option<String> {
    let output = Command::new("git")
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .args(["rev-parse", "--show-toplevel", "--git-dir", "--git-common-dir", "HEAD"])
        .args(["--symbolic-full-name", "HEAD"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let [toplevel, git_dir, common_dir, commit, head_ref, ..] = lines[..] else {
        return None;
    };
    if !same_dir(Path::new(toplevel), dir) || !is_commit(commit) {
        return None;
    }
    // Relative paths from rev-parse are relative to `dir`. A worktree has its own HEAD and
    // shares refs with the main checkout; a ref may be loose or packed.
    let git_dir = dir.join(git_dir);
    let common_dir = dir.join(common_dir);
    let mut watched = vec![git_dir.join("HEAD")];
    if head_ref.starts_with("refs/") {
        let loose = common_dir.join(head_ref);
        if loose.is_file() {
            watched.push(loose);
        } else {
            // Packed now; a commit writes it loose, which changes its directory.
            watched.push(common_dir.join("packed-refs"));
            watched.extend(loose.parent().map(Path::to_path_buf));
        }
    }
    // A path that does not exist would make cargo rerun this script on every build.
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Some(commit.to_owned())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `{"git": {"sha1": "..."}, ...}`, written by `cargo package` from the commit it packaged.
fn from_cargo_vcs_info(dir: &Path) -> Option<String> {
    let path = dir.join(".cargo_vcs_info.json");
    let text = std::fs::read_to_string(&path).ok()?;
    println!("cargo:rerun-if-changed={}", path.display());
    // A tiny scan instead of a JSON parser: build dependencies would slow every build.
    let after = text.split_once("\"sha1\"")?.1;
    let value = after.split('"').nth(1)?;
    is_commit(value).then(|| value.to_owned())
}
