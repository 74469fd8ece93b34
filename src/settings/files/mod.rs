//! git's configuration read in the process: the answer of `git config --null --get-urlmatch
//! SECTION URL`, byte for byte, without starting git.
//!
//! The files are the ones git reads, in its order ([`locate`]); each is parsed by
//! `gix-config`, which also follows `include.path` and `includeIf "gitdir:"`, `"gitdir/i:"`
//! and `"onbranch:"`; the command-line configuration (`git -c`, as `GIT_CONFIG_PARAMETERS`
//! and `GIT_CONFIG_COUNT`) comes last ([`params`]); keys are URL-matched as git does
//! ([`urlmatch`]).
//!
//! Whatever this module cannot answer exactly as git would — `includeIf "hasconfig:..."`, an
//! include it cannot read or whose path it cannot expand, a file it cannot parse, a repository
//! git would ask `safe.directory` about — is [`Unsupported`], and the caller runs git instead.
//! It never guesses, and never prints a value.

mod locate;
mod params;
mod urlmatch;

#[cfg(test)]
mod differential;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use gix_config::file::{includes, init};

use urlmatch::Specificity;

use super::Scope;

/// Environment look-up: what git would see (`std::env` in the helper, a table in tests).
pub(crate) type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Why the configuration was not read in the process (for the trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unsupported(&'static str);

impl Unsupported {
    fn new(why: &'static str) -> Self {
        Unsupported(why)
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// One configuration entry: section and name lower case, subsection as written; `None` is a
/// key without `=` (a boolean true).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    section: String,
    subsection: Option<String>,
    name: String,
    value: Option<String>,
}

/// The best value found so far for each key name, and the scope it was set in.
type Matches = BTreeMap<String, (Specificity, Option<Vec<u8>>, Scope)>;

/// One URL-matched value and the scope of the file (or the command line) that set it; a
/// value included from a file has the scope of the file that included it, as in git.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// `None` for a key without `=` (a boolean true).
    pub value: Option<Vec<u8>>,
    pub scope: Scope,
}

/// The answer of `git config --get-urlmatch SECTION URL`, by key name (lower case, without
/// the section), with each value's scope; and the same answer from the protected scopes
/// alone (system, global, command line), which a setting that decides where tokens go takes
/// instead of a value from the repository's own configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UrlMatched {
    pub best: BTreeMap<String, Found>,
    pub protected: BTreeMap<String, Found>,
}

impl UrlMatched {
    fn from_matches(all: Matches, protected: Matches) -> UrlMatched {
        let found = |m: Matches| {
            m.into_iter().map(|(name, (_, value, scope))| (name, Found { value, scope })).collect()
        };
        UrlMatched { best: found(all), protected: found(protected) }
    }

    /// git's `--null` output of the best values: `SECTION.NAME\nVALUE\0`, or `SECTION.NAME\0`
    /// for a value-less key, sorted by name.
    pub(crate) fn to_git_output(&self, section: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, found) in &self.best {
            out.extend_from_slice(format!("{section}.{name}").as_bytes());
            if let Some(value) = &found.value {
                out.push(b'\n');
                out.extend_from_slice(value);
            }
            out.push(0);
        }
        out
    }
}

/// `git config --null --get-urlmatch SECTION URL` as git would answer in this process's
/// environment and working directory, with each value's scope.
pub(crate) fn get_urlmatch_here(section: &str, url: &str) -> Result<UrlMatched, Unsupported> {
    let not_text = |(name, value): &(std::ffi::OsString, std::ffi::OsString)| {
        let relevant = name
            .to_str()
            .is_none_or(|n| n.starts_with("GIT_") || ["HOME", "XDG_CONFIG_HOME", "PATH"].contains(&n));
        relevant && value.to_str().is_none()
    };
    if std::env::vars_os().any(|pair| not_text(&pair)) {
        return Err(Unsupported::new("an environment variable git reads is not UTF-8"));
    }
    let cwd = std::env::current_dir().map_err(|_| Unsupported::new("the working directory is unknown"))?;
    get_urlmatch(section, url, &|name: &str| std::env::var(name).ok(), &cwd)
}

/// `git config --null --get-urlmatch SECTION URL` for the environment `env` and the working
/// directory `cwd`, with each value's scope.
pub(crate) fn get_urlmatch(
    section: &str,
    url: &str,
    env: &Env,
    cwd: &Path,
) -> Result<UrlMatched, Unsupported> {
    let request =
        urlmatch::normalize(url.as_bytes(), false).ok_or_else(|| Unsupported::new("a URL git refuses"))?;
    let (files, repo) = locate::sources(env, cwd)?;
    let home = env("HOME").filter(|h| !h.is_empty());
    let mut matches = Matches::new();
    let mut protected = Matches::new();
    for file in &files {
        if let Some(config) = load(file, repo.as_ref(), home.as_deref().map(Path::new))? {
            check_includes(&config, home.is_some())?;
            let scope = Scope::of(file.source);
            collect_file(&config, section, &request, scope, &mut matches);
            if scope.is_protected() {
                collect_file(&config, section, &request, scope, &mut protected);
            }
        }
    }
    for entry in params::command_line_entries(env)? {
        if entry.section == "include" || entry.section == "includeif" {
            return Err(Unsupported::new("an include given on the command line"));
        }
        if entry.section == section {
            let subsection = entry.subsection.map(String::into_bytes);
            let value = entry.value.map(String::into_bytes);
            offer(&mut protected, &subsection, &request, entry.name.clone(), value.clone(), Scope::Command);
            offer(&mut matches, &subsection, &request, entry.name, value, Scope::Command);
        }
    }
    Ok(UrlMatched::from_matches(matches, protected))
}

/// The URL-matched values of `section` from git's listing of them with their scopes
/// (`git config --null --show-scope --get-regexp '^SECTION\.'`: `SCOPE\0KEY\nVALUE\0`, or
/// `SCOPE\0KEY\0` for a value-less key, in git's order), matched as git's
/// `--get-urlmatch` would ([`urlmatch`]). `None` when git refuses the URL or the listing is
/// not in that form.
pub(crate) fn match_listing(section: &str, url: &str, listing: &[u8]) -> Option<UrlMatched> {
    let request = urlmatch::normalize(url.as_bytes(), false)?;
    let mut matches = Matches::new();
    let mut protected = Matches::new();
    let mut fields = listing.split(|&b| b == 0);
    while let Some(scope) = fields.next() {
        if scope.is_empty() {
            continue;
        }
        let scope = Scope::parse(std::str::from_utf8(scope).ok()?);
        let entry = fields.next()?;
        let (key, value) = match entry.iter().position(|&b| b == b'\n') {
            Some(at) => (&entry[..at], Some(entry[at + 1..].to_vec())),
            None => (entry, None),
        };
        let key = std::str::from_utf8(key).ok()?;
        let rest = key.get(section.len()..).filter(|_| key[..section.len()].eq_ignore_ascii_case(section))?;
        let rest = rest.strip_prefix('.')?;
        let (subsection, name) = match rest.rsplit_once('.') {
            Some((sub, name)) => (Some(sub.as_bytes().to_vec()), name),
            None => (None, rest),
        };
        let name = name.to_ascii_lowercase();
        if scope.is_protected() {
            offer(&mut protected, &subsection, &request, name.clone(), value.clone(), scope);
        }
        offer(&mut matches, &subsection, &request, name, value, scope);
    }
    Some(UrlMatched::from_matches(matches, protected))
}

/// `safe.bareRepository` as git's `get_allowed_bare_repo` reads it: from protected
/// configuration only (`protected`: the system and global files, with their includes; then
/// `git -c`), never from a repository's; the last value wins. A value other than `explicit`
/// or `all` (git dies of one, and crashes on a key without a value) is left to git.
fn allowed_bare_repo(
    env: &Env,
    protected: &[locate::ConfigFile],
) -> Result<locate::AllowedBare, Unsupported> {
    let home = env("HOME").filter(|h| !h.is_empty());
    let mut values: Vec<Option<String>> = Vec::new();
    for file in protected {
        let Some(config) = load(file, None, home.as_deref().map(Path::new))? else { continue };
        check_includes(&config, home.is_some())?;
        for section in config.sections() {
            let header = section.header();
            if !header.name().eq_ignore_ascii_case(b"safe") || header.subsection_name().is_some() {
                continue;
            }
            let keys = section.value_names().filter(|n| n.eq_ignore_ascii_case("bareRepository")).count();
            let found = section.values("bareRepository");
            if found.len() != keys {
                return Err(Unsupported::new("safe.bareRepository without a value"));
            }
            values.extend(found.into_iter().map(|v| Some(v.to_string())));
        }
    }
    for entry in params::command_line_entries(env)? {
        if entry.section == "safe" && entry.subsection.is_none() && entry.name == "barerepository" {
            values.push(entry.value);
        }
    }
    let mut allowed = locate::AllowedBare::All;
    for value in values {
        allowed = match value.as_deref() {
            Some("explicit") => locate::AllowedBare::Explicit,
            Some("all") => locate::AllowedBare::All,
            _ => return Err(Unsupported::new("a safe.bareRepository value git does not accept")),
        };
    }
    Ok(allowed)
}

/// Parse one file with its includes; `None` when it does not exist.
fn load(
    file: &locate::ConfigFile,
    repo: Option<&locate::Repo>,
    home: Option<&Path>,
) -> Result<Option<gix_config::File>, Unsupported> {
    let mut buf = match std::fs::read(&file.path) {
        Ok(buf) => buf,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err(Unsupported::new("a configuration file that cannot be read")),
    };
    let head = repo.and_then(|r| r.head_ref.as_deref()).and_then(|r| gix_ref::FullName::try_from(r).ok());
    let conditional = includes::conditional::Context {
        git_dir: repo.map(|r| r.git_dir.as_path()),
        branch_name: head.as_ref().map(|h| h.as_ref()),
    };
    let interpolate =
        gix_config::path::interpolate::Context { git_install_dir: None, home_dir: home, home_for_user: None };
    let options =
        init::Options { includes: includes::Options::follow(interpolate, conditional), ..Default::default() };
    let meta = gix_config::file::Metadata::from(file.source).at(&file.path);
    gix_config::File::from_bytes_owned(&mut buf, meta, options).map(Some).map_err(|_| {
        Unsupported::new("a configuration file (or an include) that cannot be parsed or followed")
    })
}

/// Refuse what `gix-config` would treat differently from git: `hasconfig:` conditions,
/// paths it cannot expand (`~user`, `%(prefix)`, `~` without `HOME`), includes that are not
/// regular files, and include sections spelled in another letter case.
fn check_includes(config: &gix_config::File, have_home: bool) -> Result<(), Unsupported> {
    let odd_path = |path: &[u8]| {
        path.is_empty()
            || path.windows(2).any(|w| w == b"%(")
            || (path.starts_with(b"~") && (!path.starts_with(b"~/") || !have_home))
    };
    for section in config.sections() {
        let header = section.header();
        let name = header.name();
        let is_include = name.eq_ignore_ascii_case(b"include") && header.subsection_name().is_none();
        let is_include_if = name.eq_ignore_ascii_case(b"includeIf") && header.subsection_name().is_some();
        if !(is_include || is_include_if) {
            continue;
        }
        if name != "include" && name != "includeIf" {
            return Err(Unsupported::new("an include section in an unusual letter case"));
        }
        if let Some(condition) = header.subsection_name() {
            let pattern = condition.splitn(2, |&b| b == b':').nth(1).unwrap_or_default();
            if condition.starts_with(b"hasconfig:") || (condition.starts_with(b"gitdir") && odd_path(pattern))
            {
                return Err(Unsupported::new("an includeIf condition this reader does not evaluate"));
            }
        }
        let base = section.meta().path.as_deref().and_then(Path::parent);
        for path in section.values("path") {
            let resolved = base.map(|b| b.join(std::str::from_utf8(&path).unwrap_or_default()));
            let not_a_file = resolved.is_some_and(|p| p.exists() && !p.is_file());
            if odd_path(&path) || not_a_file || std::str::from_utf8(&path).is_err() {
                return Err(Unsupported::new("an include path this reader does not follow"));
            }
        }
    }
    Ok(())
}

/// Offer every `SECTION.*` entry of one file, section by section in file order.
fn collect_file(
    config: &gix_config::File,
    section: &str,
    request: &urlmatch::UrlInfo,
    scope: Scope,
    matches: &mut Matches,
) {
    for found in config.sections() {
        let header = found.header();
        if !header.name().eq_ignore_ascii_case(section.as_bytes()) {
            continue;
        }
        let subsection = header.subsection_name().map(|s| s.to_vec());
        let mut seen = Vec::new();
        for name in found.value_names().map(|n| n.to_ascii_lowercase()) {
            if seen.contains(&name) {
                continue;
            }
            // Within one section every entry matches alike: the last value of a name wins.
            let value = found.value_implicit(&name).map(|v| v.map(|v| v.to_vec()));
            seen.push(name.clone());
            if let Some(value) = value {
                offer(matches, &subsection, request, name, value, scope);
            }
        }
    }
}

/// git's `urlmatch_config_entry`: keep the value unless an earlier one matched better.
fn offer(
    matches: &mut Matches,
    subsection: &Option<Vec<u8>>,
    request: &urlmatch::UrlInfo,
    name: String,
    value: Option<Vec<u8>>,
    scope: Scope,
) {
    let specificity = match subsection {
        None => Specificity::default(),
        Some(url) => match urlmatch::normalize(url, true).and_then(|pattern| pattern.matches(request)) {
            Some(specificity) => specificity,
            None => return,
        },
    };
    if matches.get(&name).is_some_and(|(best, _, _)| specificity < *best) {
        return;
    }
    matches.insert(name, (specificity, value, scope));
}
