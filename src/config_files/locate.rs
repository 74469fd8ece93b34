//! Which configuration files git reads, in its order (git's `do_git_config_sequence`):
//! the system file, the global files (`$XDG_CONFIG_HOME/git/config`, then `~/.gitconfig`, or
//! `GIT_CONFIG_GLOBAL` alone), the repository's `config`, and its `config.worktree` when
//! `extensions.worktreeConfig` is on; and the repository itself, found from the working
//! directory (or `GIT_DIR`) the way git's discovery finds it.
//!
//! Whatever this cannot decide exactly as git would (a repository owned by someone else, a
//! search that crosses a file system, an unknown repository extension, a system file on a
//! platform whose git places it elsewhere) is reported as unsupported: the caller asks git.

use std::path::{Path, PathBuf};

use super::{Env, Unsupported};
use crate::config::parse_bool;

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
    let repo = find_repo(env, cwd)?;
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
/// (directory or `gitdir:` file) or is a bare repository. Returns it with its common
/// directory (where `config` lives; another one for a linked worktree).
fn find_repo(env: &Env, cwd: &Path) -> Result<Option<(Repo, PathBuf)>, Unsupported> {
    for name in ["GIT_COMMON_DIR", "GIT_CONFIG", "GIT_OBJECT_DIRECTORY", "GIT_DISCOVERY_ACROSS_FILESYSTEM"] {
        if env(name).is_some() {
            return Err(Unsupported::new("a GIT_* variable that changes where the repository is"));
        }
    }
    let git_dir = match env("GIT_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => {
            let dir = cwd.join(dir);
            if !is_git_directory(&dir) {
                return Err(Unsupported::new("GIT_DIR is not a git directory"));
            }
            dir
        }
        None => match discover(env, cwd)? {
            Some(dir) => dir,
            None => return Ok(None),
        },
    };
    let common_dir = common_dir(&git_dir)?;
    let head_ref = head_ref(&git_dir);
    Ok(Some((Repo { git_dir, head_ref }, common_dir)))
}

/// Walk up from `cwd` as git does, stopping below the deepest `GIT_CEILING_DIRECTORIES` entry
/// that is above `cwd` (`cwd` itself is always looked at).
fn discover(env: &Env, cwd: &Path) -> Result<Option<PathBuf>, Unsupported> {
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
        if let Some(found) = gitdir_at(&dot_git, dir)? {
            check_owner(env, &[dir, &dot_git, &found])?;
            return Ok(Some(found));
        }
        if is_git_directory(dir) {
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

/// The git directory a `.git` entry names: itself, or the target of a `gitdir:` file.
fn gitdir_at(dot_git: &Path, worktree: &Path) -> Result<Option<PathBuf>, Unsupported> {
    let Ok(meta) = std::fs::symlink_metadata(dot_git) else { return Ok(None) };
    if meta.is_dir() {
        return Ok(is_git_directory(dot_git).then(|| dot_git.to_path_buf()));
    }
    if !meta.is_file() {
        return Err(Unsupported::new("a .git that is neither a directory nor a file"));
    }
    let text = std::fs::read_to_string(dot_git).map_err(|_| Unsupported::new("an unreadable .git file"))?;
    let target = text
        .strip_prefix("gitdir: ")
        .map(|t| t.trim_end_matches(['\n', '\r']))
        .ok_or_else(|| Unsupported::new("a .git file without gitdir:"))?;
    let target = worktree.join(target);
    if !is_git_directory(&target) {
        return Err(Unsupported::new("a .git file that names no git directory"));
    }
    Ok(Some(target))
}

/// git's `is_git_directory`: a `HEAD`, and `objects` and `refs` in the common directory.
fn is_git_directory(dir: &Path) -> bool {
    // `HEAD` first: most directories on the way up have none, and then `commondir` is not read.
    if !dir.join("HEAD").is_file() {
        return false;
    }
    let Ok(common) = common_dir(dir) else { return false };
    common.join("objects").is_dir() && common.join("refs").is_dir()
}

/// `commondir` of a linked worktree's git directory, or the directory itself.
fn common_dir(git_dir: &Path) -> Result<PathBuf, Unsupported> {
    match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(text) => Ok(git_dir.join(text.trim_end_matches(['\n', '\r']))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(git_dir.to_path_buf()),
        Err(_) => Err(Unsupported::new("an unreadable commondir file")),
    }
}

/// `refs/heads/NAME` when `HEAD` is a symbolic reference to a branch.
fn head_ref(git_dir: &Path) -> Option<String> {
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    Some(head.strip_prefix("ref: ")?.trim_end().to_owned())
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
