//! Which configuration files git reads, in its order (git's `do_git_config_sequence`):
//! the system file, the global files (`$XDG_CONFIG_HOME/git/config`, then `~/.gitconfig`, or
//! `GIT_CONFIG_GLOBAL` alone), the repository's `config`, and its `config.worktree` when
//! `extensions.worktreeConfig` is on; and the repository itself, found from the working
//! directory (or `GIT_DIR`) exactly as git's discovery finds it (`setup.c`:
//! `setup_git_directory_gently_1`, `is_git_directory`, `validate_headref`,
//! `read_gitfile_gently`, `safe.bareRepository` read from protected configuration only). A
//! directory git does not take for a repository is never one here: its `config` can name
//! where tokens go (issue 22).
//!
//! Whatever this cannot decide exactly as git would (a repository owned by someone else, a
//! search that crosses a file system, an unknown repository extension, a `.git` file or
//! `commondir` git dies of, a `safe.bareRepository` git refuses or whose answer differs
//! between git versions, a system file on a platform whose git places it elsewhere) is
//! reported as unsupported: the caller asks git. gitoxide's `gix-discover` is not used: it
//! takes a `HEAD` that does not parse for a valid one and knows no `safe.bareRepository`
//! (docs/decisions.md).

use std::path::{Path, PathBuf};

use super::{Env, Unsupported};
use crate::protocol::git_bool as parse_bool;

/// A configuration file and its place in git's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ConfigFile {
    pub path: PathBuf,
    pub source: gix_config::Source,
}

/// The repository git would use, as far as configuration cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Repo {
    /// The git directory (absolute, not resolved): what `includeIf "gitdir:"` matches.
    pub git_dir: PathBuf,
    /// `refs/heads/...` when HEAD is on a branch: what `includeIf "onbranch:"` matches.
    pub head_ref: Option<String>,
}

/// Every file git reads, in order, and the repository.
pub(super) fn sources(env: &Env, cwd: &Path) -> Result<(Vec<ConfigFile>, Option<Repo>), Unsupported> {
    let mut files = Vec::new();
    if let Some(path) = system_file(env)? {
        files.push(ConfigFile { path, source: gix_config::Source::System });
    }
    for path in global_files(env) {
        files.push(ConfigFile { path, source: gix_config::Source::User });
    }
    let repo = find_repo(env, cwd, &files)?;
    if let Some((repo, common_dir)) = &repo {
        files.push(ConfigFile { path: common_dir.join("config"), source: gix_config::Source::Local });
        if worktree_config_enabled(&common_dir.join("config"))? {
            files.push(ConfigFile {
                path: repo.git_dir.join("config.worktree"),
                source: gix_config::Source::Worktree,
            });
        }
    }
    Ok((files, repo.map(|(repo, _)| repo)))
}

/// `GIT_CONFIG_NOSYSTEM`, `GIT_CONFIG_SYSTEM`, else `PREFIX/etc/gitconfig` (`/etc/gitconfig`
/// for `/usr`) of the `git` first on `PATH`, where git's build places it on Linux and the BSDs.
pub(super) fn system_file(env: &Env) -> Result<Option<PathBuf>, Unsupported> {
    if let Some(value) = env("GIT_CONFIG_NOSYSTEM") {
        match parse_bool(&value) {
            Some(true) => return Ok(None),
            Some(false) => {}
            None => return Err(Unsupported::new("GIT_CONFIG_NOSYSTEM is not a boolean")),
        }
    }
    if let Some(path) = env("GIT_CONFIG_SYSTEM") {
        return Ok(Some(PathBuf::from(path)));
    }
    if cfg!(any(windows, target_os = "macos")) {
        return Err(Unsupported::new("the system configuration file's place is not known on this platform"));
    }
    let path_var = env("PATH").unwrap_or_default();
    let git = std::env::split_paths(&path_var)
        .map(|dir| dir.join("git"))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| Unsupported::new("no git on PATH"))?;
    let prefix =
        git.parent().and_then(Path::parent).ok_or_else(|| Unsupported::new("git's prefix is not known"))?;
    Ok(Some(if prefix == Path::new("/usr") {
        PathBuf::from("/etc/gitconfig")
    } else {
        prefix.join("etc/gitconfig")
    }))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// `GIT_CONFIG_GLOBAL` alone, or `$XDG_CONFIG_HOME/git/config` (`~/.config/git/config`) and
/// `~/.gitconfig`.
fn global_files(env: &Env) -> Vec<PathBuf> {
    if let Some(path) = env("GIT_CONFIG_GLOBAL") {
        return vec![PathBuf::from(path)];
    }
    let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    let xdg = match env("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        Some(xdg) => Some(PathBuf::from(xdg).join("git/config")),
        None => home.as_ref().map(|h| h.join(".config/git/config")),
    };
    xdg.into_iter().chain(home.map(|h| h.join(".gitconfig"))).collect()
}

/// The repository: `GIT_DIR`, else the first directory from `cwd` upwards that holds a `.git`
/// (directory or `gitdir:` file) or is a bare repository git allows. Returns it with its
/// common directory (where `config` lives; another one for a linked worktree).
fn find_repo(
    env: &Env,
    cwd: &Path,
    protected: &[ConfigFile],
) -> Result<Option<(Repo, PathBuf)>, Unsupported> {
    for name in ["GIT_COMMON_DIR", "GIT_CONFIG", "GIT_OBJECT_DIRECTORY", "GIT_DISCOVERY_ACROSS_FILESYSTEM"] {
        if env(name).is_some() {
            return Err(Unsupported::new("a GIT_* variable that changes where the repository is"));
        }
    }
    let git_dir = match env("GIT_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => {
            let dir = cwd.join(dir);
            if !is_git_directory(&dir)? {
                return Err(Unsupported::new("GIT_DIR is not a git directory"));
            }
            dir
        }
        None => match discover(env, cwd, protected)? {
            Some(dir) => dir,
            None => return Ok(None),
        },
    };
    let common_dir = common_dir(&git_dir)?;
    let head_ref = head_ref(&git_dir);
    Ok(Some((Repo { git_dir, head_ref }, common_dir)))
}

/// git's `setup_git_directory_gently_1`: walk up from `cwd`, in each directory trying `.git`
/// (a `gitdir:` file or a git directory), then the directory itself as a bare repository,
/// stopping below the deepest `GIT_CEILING_DIRECTORIES` entry that is above `cwd` (`cwd`
/// itself is always looked at). A bare repository found this way ends the search: used, or,
/// under `safe.bareRepository=explicit`, no repository at all.
fn discover(env: &Env, cwd: &Path, protected: &[ConfigFile]) -> Result<Option<PathBuf>, Unsupported> {
    let floor = ceilings(env)
        .into_iter()
        .filter(|c| cwd.starts_with(c) && cwd != c.as_path())
        .max_by_key(|c| c.components().count());
    let device = device_of(cwd);
    let mut dir = cwd;
    loop {
        if dir != cwd && device_of(dir) != device {
            return Err(Unsupported::new("the repository search crosses a file system"));
        }
        let dot_git = dir.join(".git");
        if let Some(found) = gitdir_at(&dot_git)? {
            check_owner(env, &[dir, &dot_git, &found])?;
            return Ok(Some(found));
        }
        if is_git_directory(dir)? {
            if super::allowed_bare_repo(env, protected)? == AllowedBare::Explicit {
                if is_implicit_bare_repo(dir) {
                    // git 2.45 and later allow a project's own `.git` (and its worktrees' and
                    // submodules' directories) here; earlier versions refuse it.
                    return Err(Unsupported::new(
                        "a .git directory under safe.bareRepository=explicit (git versions differ)",
                    ));
                }
                return Ok(None);
            }
            check_owner(env, &[dir])?;
            return Ok(Some(dir.to_path_buf()));
        }
        match (dir.parent(), &floor) {
            (Some(parent), Some(floor)) if !parent.starts_with(floor) || parent == floor.as_path() => {
                return Ok(None);
            }
            (Some(parent), _) => dir = parent,
            (None, _) => return Ok(None),
        }
    }
}

/// `safe.bareRepository`, as git reads it from protected configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AllowedBare {
    /// `all`, git's default: a bare repository found by walking up is used.
    All,
    /// `explicit`: only one named by `GIT_DIR` (or a `.git` file) is.
    Explicit,
}

/// git's `is_implicit_bare_repo` (git 2.45 and later): a `.git` directory, or the git
/// directory of a linked worktree or a submodule inside one.
fn is_implicit_bare_repo(dir: &Path) -> bool {
    let names: Vec<&std::ffi::OsStr> = dir.iter().collect();
    // `/.git/worktrees/` and `/.git/modules/` with something after them, as git's `strstr`.
    let inside = names
        .windows(3)
        .any(|w| w[0] == ".git" && (w[1] == "worktrees" || w[1] == "modules") && !w[2].is_empty());
    dir.file_name().is_some_and(|name| name == ".git") || inside
}

/// The git directory a `.git` entry names, as git's `read_gitfile_gently` (which follows a
/// symbolic link) and `is_git_directory` find it: a directory that is a git directory, or the
/// target of a `gitdir:` file. Whatever git dies of here (a `.git` file too large, unreadable,
/// without `gitdir: `, naming no git directory) is left to git.
fn gitdir_at(dot_git: &Path) -> Result<Option<PathBuf>, Unsupported> {
    let Ok(meta) = std::fs::metadata(dot_git) else { return Ok(None) };
    if !meta.is_file() {
        return Ok(if is_git_directory(dot_git)? { Some(dot_git.to_path_buf()) } else { None });
    }
    if meta.len() > 1 << 20 {
        return Err(Unsupported::new("a .git file too large to be one"));
    }
    let bytes = std::fs::read(dot_git).map_err(|_| Unsupported::new("an unreadable .git file"))?;
    let text = std::str::from_utf8(&bytes)
        .ok()
        .filter(|t| !t.contains('\0'))
        .ok_or_else(|| Unsupported::new("a .git file that is not text"))?;
    let target = text
        .strip_prefix("gitdir: ")
        .map(|t| t.trim_end_matches(['\n', '\r']))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Unsupported::new("a .git file without gitdir:"))?;
    let base = dot_git.parent().unwrap_or(Path::new(""));
    let target = base.join(target);
    if !is_git_directory(&target)? {
        return Err(Unsupported::new("a .git file that names no git directory"));
    }
    Ok(Some(target))
}

/// git's `is_git_directory`: a valid `HEAD` ([`valid_head`]), and `objects` and `refs` in the
/// common directory that git may search (`access(X_OK)`: a directory, or a file with an
/// execute bit).
fn is_git_directory(dir: &Path) -> Result<bool, Unsupported> {
    // `HEAD` first: most directories on the way up have none, and then `commondir` is not read.
    if !valid_head(&dir.join("HEAD"))? {
        return Ok(false);
    }
    let common = common_dir(dir)?;
    Ok(searchable(&common.join("objects")) && searchable(&common.join("refs")))
}

/// git's `validate_headref`: a symbolic link whose target starts with `refs/`, or a file whose
/// first 255 bytes (up to a NUL) are `ref:`, white space (git's: space, tab, CR, LF) and
/// `refs/…`, or start with an object id (40 hexadecimal digits: a SHA-256 id starts with one
/// too). At most 255 bytes are read, as git does: a planted `HEAD` costs nothing to reject.
fn valid_head(head: &Path) -> Result<bool, Unsupported> {
    let Ok(meta) = std::fs::symlink_metadata(head) else { return Ok(false) };
    if meta.file_type().is_symlink() {
        let Ok(target) = std::fs::read_link(head) else { return Ok(false) };
        return Ok(target.as_os_str().as_encoded_bytes().starts_with(b"refs/"));
    }
    if meta.is_dir() {
        return Ok(false); // git's read() of a directory fails
    }
    if !meta.is_file() {
        // A FIFO or a device: git would block or read it; let git decide.
        return Err(Unsupported::new("a HEAD that is not a regular file"));
    }
    use std::io::Read;
    let Ok(file) = std::fs::File::open(head) else { return Ok(false) };
    let mut buf = Vec::with_capacity(255);
    if file.take(255).read_to_end(&mut buf).is_err() {
        return Ok(false);
    }
    if let Some(nul) = buf.iter().position(|&b| b == 0) {
        buf.truncate(nul);
    }
    if let Some(rest) = buf.strip_prefix(b"ref:") {
        let start = rest.iter().position(|b| !b" \t\r\n".contains(b)).unwrap_or(rest.len());
        if rest[start..].starts_with(b"refs/") {
            return Ok(true);
        }
    }
    Ok(buf.len() >= 40 && buf[..40].iter().all(u8::is_ascii_hexdigit))
}

/// `access(path, X_OK)`, as git checks `objects` and `refs` (Git for Windows ignores `X_OK`).
fn searchable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
        // SAFETY: `c_path` is a NUL-terminated string that lives across the call.
        unsafe { libc::access(c_path.as_ptr(), libc::X_OK) == 0 }
    }
    #[cfg(not(unix))]
    {
        path.exists()
    }
}

/// `commondir` of a linked worktree's git directory, or the directory itself. git dies when
/// the file is empty or unreadable, or names a path it cannot resolve: left to git.
fn common_dir(git_dir: &Path) -> Result<PathBuf, Unsupported> {
    let path = git_dir.join("commondir");
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(git_dir.to_path_buf());
    }
    let text =
        std::fs::read_to_string(&path).map_err(|_| Unsupported::new("an unreadable commondir file"))?;
    let text = text.trim_end_matches(['\n', '\r']);
    if text.is_empty() {
        return Err(Unsupported::new("an empty commondir file"));
    }
    git_dir.join(text).canonicalize().map_err(|_| Unsupported::new("a commondir that names no directory"))
}

/// `refs/heads/NAME` when `HEAD` is a symbolic reference to a branch (`ref:` and white space,
/// or a symbolic link into `refs/`, as git's files backend reads it).
fn head_ref(git_dir: &Path) -> Option<String> {
    let head = git_dir.join("HEAD");
    if std::fs::symlink_metadata(&head).ok()?.file_type().is_symlink() {
        let target = std::fs::read_link(&head).ok()?;
        let target = target.to_str()?;
        return target.starts_with("refs/").then(|| target.to_owned());
    }
    let text = std::fs::read_to_string(head).ok()?;
    let rest = text.strip_prefix("ref:")?.trim_start_matches([' ', '\t', '\r', '\n']);
    Some(rest.trim_end().to_owned())
}

/// `GIT_CEILING_DIRECTORIES`, absolute entries resolved like git resolves them.
fn ceilings(env: &Env) -> Vec<PathBuf> {
    let Some(list) = env("GIT_CEILING_DIRECTORIES") else { return Vec::new() };
    let mut dirs = Vec::new();
    for entry in list.split(':').filter(|e| !e.is_empty()) {
        let path = Path::new(entry);
        if !path.is_absolute() {
            continue; // git ignores relative entries
        }
        match path.canonicalize() {
            Ok(real) => dirs.push(real),
            Err(_) => dirs.push(path.to_path_buf()),
        }
    }
    dirs
}

/// git refuses (or asks `safe.directory` about) a repository owned by someone else; under
/// `sudo` it compares with `SUDO_UID`, which is left to git.
fn check_owner(env: &Env, paths: &[&Path]) -> Result<(), Unsupported> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if me == 0 && env("SUDO_UID").is_some() {
            return Err(Unsupported::new("running under sudo (git checks ownership against SUDO_UID)"));
        }
        for path in paths {
            if std::fs::symlink_metadata(path).map(|m| m.uid()).ok() != Some(me) {
                return Err(Unsupported::new("a repository owned by another user (safe.directory)"));
            }
        }
    }
    let _ = (env, paths);
    Ok(())
}

fn device_of(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| m.dev())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The repository format of the common `config` (read without includes, as git does):
/// whether `config.worktree` is read. Versions and extensions git would refuse are unsupported.
fn worktree_config_enabled(config: &Path) -> Result<bool, Unsupported> {
    let file = match gix_config::File::from_path_no_includes(config.to_path_buf(), gix_config::Source::Local)
    {
        Ok(file) => file,
        Err(_) if !config.exists() => return Ok(false),
        Err(_) => return Err(Unsupported::new("the repository's config cannot be read")),
    };
    let version = match file.raw_value("core.repositoryformatversion") {
        Ok(v) => v.to_string(),
        Err(_) => "0".to_owned(),
    };
    let known: &[&str] = match version.trim() {
        "0" => &["noop", "preciousobjects", "partialclone", "worktreeconfig"],
        "1" => &[
            "noop",
            "preciousobjects",
            "partialclone",
            "worktreeconfig",
            "objectformat",
            "compatobjectformat",
        ],
        _ => return Err(Unsupported::new("an unknown repository format version")),
    };
    let mut worktree_config = false;
    for section in file.sections_by_name("extensions").into_iter().flatten() {
        for name in section.value_names() {
            let name = name.to_ascii_lowercase();
            if !known.contains(&name.as_str()) {
                return Err(Unsupported::new("a repository extension this reader does not know"));
            }
            if name == "worktreeconfig" {
                let value = section.value_implicit(&name).flatten().map(|v| v.to_string());
                worktree_config = match value {
                    None => true,
                    Some(v) => parse_bool(&v).ok_or_else(|| Unsupported::new("extensions.worktreeConfig"))?,
                };
            }
        }
    }
    Ok(worktree_config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_bare_repositories_are_the_ones_git_names() {
        for implicit in ["/p/.git", "/p/.git/worktrees/wt", "/p/.git/modules/sub", "/p/.git/modules/a/b"] {
            assert!(is_implicit_bare_repo(Path::new(implicit)), "{implicit}");
        }
        for embedded in ["/p/vendor/lib.git", "/p/.git/worktrees", "/p/.gitx", "/p/x.git/modules/m", "/"] {
            assert!(!is_implicit_bare_repo(Path::new(embedded)), "{embedded}");
        }
    }
}
