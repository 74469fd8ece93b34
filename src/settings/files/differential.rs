//! The proof that the in-process reader answers as git does: configurations built from every
//! construct it supports (system, XDG, global and repository files, `config.worktree`,
//! includes and conditional includes, `git -c` through `GIT_CONFIG_PARAMETERS` and
//! `GIT_CONFIG_COUNT`, URL patterns with wildcards, ports, paths and users, conflicting values)
//! are given to the real `git config --null --get-urlmatch` and to [`super::get_urlmatch`],
//! for many request URLs, in an isolated `HOME`; the bytes must be equal. A fixed corpus
//! covers each construct by name; a proptest mixes them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;

/// One isolated world: a temporary directory with a home, a repository and its worktree.
struct World {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
    cwd: PathBuf,
    /// The git compared with (`git` on `PATH` unless a test picks another).
    git: PathBuf,
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

impl World {
    /// A home, `repo` (branch `main`, one commit) and its linked worktree `wt` (branch `side`).
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        for sub in ["home/.config/git", "etc", "elsewhere"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        git(&root, &["init", "-q", "-b", "main", "repo"]);
        git(&root.join("repo"), &["commit", "-q", "--allow-empty", "-m", "x"]);
        git(&root.join("repo"), &["worktree", "add", "-q", "-b", "side", "../wt"]);
        std::fs::create_dir_all(root.join("repo/sub/dir")).unwrap();
        let mut env = BTreeMap::new();
        env.insert("HOME".into(), root.join("home").display().to_string());
        env.insert("GIT_CONFIG_NOSYSTEM".into(), "1".into());
        env.insert("GIT_CEILING_DIRECTORIES".into(), root.display().to_string());
        env.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
        World { cwd: root.join("elsewhere"), dir, env, git: PathBuf::from("git") }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn append(&self, rel: &str, text: &str) {
        let old = std::fs::read_to_string(self.path(rel)).unwrap_or_default();
        self.write(rel, &format!("{old}{text}"));
    }

    fn set_env(&mut self, name: &str, value: &str) {
        self.env.insert(name.into(), value.into());
    }

    fn run_git(&self, section: &str, url: &str) -> Result<Vec<u8>, String> {
        let out = Command::new(&self.git)
            .args(["config", "--null", "--get-urlmatch", section, url])
            .current_dir(&self.cwd)
            .env_clear()
            .envs(&self.env)
            .output()
            .unwrap();
        match out.status.code() {
            Some(0 | 1) => Ok(out.stdout),
            _ => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        }
    }

    /// Compare for every URL and both sections; returns how many answers the reader gave
    /// (the rest it declined, leaving them to git).
    fn compare(&self, urls: &[&str]) -> usize {
        let env = |name: &str| self.env.get(name).cloned();
        let mut answered = 0;
        for section in ["credential", "http"] {
            for url in urls {
                let ours =
                    super::get_urlmatch(section, url, &env, &self.cwd).map(|m| m.to_git_output(section));
                let theirs = self.run_git(section, url);
                match (&ours, &theirs) {
                    (Ok(ours), Ok(theirs)) => {
                        assert_eq!(
                            String::from_utf8_lossy(ours),
                            String::from_utf8_lossy(theirs),
                            "{section} {url} in {}\n{}",
                            self.cwd.display(),
                            self.describe()
                        );
                        answered += 1;
                    }
                    (Err(_), _) => {}
                    (Ok(_), Err(e)) => panic!(
                        "git failed ({e}) where the reader answered: {section} {url}\n{}",
                        self.describe()
                    ),
                }
            }
        }
        answered
    }

    fn describe(&self) -> String {
        let mut text =
            format!("env: {:?}\n", self.env.iter().filter(|(k, _)| *k != "PATH").collect::<Vec<_>>());
        for rel in [
            "etc/gitconfig",
            "home/.gitconfig",
            "home/.config/git/config",
            "repo/.git/config",
            "repo/.git/worktrees/wt/config.worktree",
            "inc/a",
            "inc/b",
        ] {
            if let Ok(t) = std::fs::read_to_string(self.path(rel)) {
                text.push_str(&format!("--- {rel}\n{t}"));
            }
        }
        text
    }
}

const URLS: &[&str] = &[
    "https://bitbucket.org/",
    "https://alice@bitbucket.org/team/repo.git",
    "https://bob@bitbucket.org/",
    "https://git.example.com/scm/p/r.git",
    "https://alice@git.example.com:8443/scm/p/r.git",
    "https://git.example.com:8443/",
    "http://127.0.0.1:7990/scm/x.git",
    "http://me%40x.com@127.0.0.1:7990/",
    "https://a.b.example.com/team",
    "https://bitbucket.org/team/repo.git/info",
    "https://bitbucket.org/teams/",
];

/// Values as written after `=`, meant to trip a parser: quotes, escapes, comments,
/// continuation lines, empty and value-less keys.
const VALUES: &[Option<&str>] = &[
    Some("plain"),
    Some("\"two  words\""),
    Some("two words ; a comment"),
    Some("\"in \\\"quotes\\\"\" # comment"),
    Some("tab\\there"),
    Some("\"#not a comment\""),
    Some("line\\\n  continued"),
    Some(""),
    None,
    Some("  spaced  "),
    Some("true"),
];

const PATTERNS: &[Option<&str>] = &[
    None,
    Some("https://bitbucket.org"),
    Some("https://bitbucket.org/"),
    Some("https://alice@bitbucket.org"),
    Some("https://bitbucket.org/team"),
    Some("https://bitbucket.org/team/"),
    Some("https://Bitbucket.ORG:443/team/repo.git"),
    Some("https://*.example.com"),
    Some("https://git.example.com:8443"),
    Some("https://*.*.example.com/team"),
    Some("http://127.0.0.1:7990"),
    Some("http://me%40x.com@127.0.0.1:7990/"),
    Some("https://bitbucket.org/tea"),
    Some("https://alice@*.example.com/scm/"),
    Some("not a url"),
    Some("https://bitbucket.org/./team/../team"),
];

const KEYS: &[&str] = &[
    "helper",
    "Provider",
    crate::settings::defs::key::CREDENTIAL_STORE,
    crate::settings::defs::key::NAMESPACE,
    crate::settings::defs::key::INTERACTIVE,
    "proxy",
    "sslVerify",
];

/// One setting: (pattern, key, value) indices into the tables above.
type Setting = (usize, usize, usize);

fn section_text(section: &str, settings: &[Setting]) -> String {
    let mut text = String::new();
    for (i, &(pattern, key, value)) in settings.iter().enumerate() {
        let header = match PATTERNS[pattern] {
            None => format!("[{section}]\n"),
            Some(url) if i % 2 == 0 => format!("[{section} \"{url}\"]\n"),
            Some(url) => format!("[{} \"{url}\"]\n", section.to_ascii_uppercase()),
        };
        let line = match VALUES[value] {
            Some(v) => format!("\t{} = {v}\n", KEYS[key]),
            None => format!("\t{}\n", KEYS[key]),
        };
        text.push_str(&header);
        text.push_str(&line);
    }
    text
}

/// Where a generated file goes.
const FILES: &[&str] =
    &["etc/gitconfig", "home/.gitconfig", "home/.config/git/config", "repo/.git/config", "inc/a"];

fn build(world: &mut World, files: &[(usize, bool, Vec<Setting>)], params: &[Setting], use_count: bool) {
    for (file, http, settings) in files {
        let section = if *http { "http" } else { "credential" };
        world.append(FILES[*file], &section_text(section, settings));
    }
    world.set_env("GIT_CONFIG_SYSTEM", &world.path("etc/gitconfig").display().to_string());
    world.env.remove("GIT_CONFIG_NOSYSTEM");
    world.append("home/.gitconfig", &format!("[include]\n\tpath = {}\n", world.path("inc/a").display()));
    let quoted: Vec<String> = params
        .iter()
        .filter_map(|&(pattern, key, value)| {
            let url = PATTERNS[pattern].map(|u| format!("{u}.")).unwrap_or_default();
            Some(format!(
                "'credential.{url}{}'='{}'",
                KEYS[key],
                VALUES[value]?.replace('\n', " ").replace('\'', "")
            ))
        })
        .collect();
    if use_count {
        world.set_env("GIT_CONFIG_COUNT", &quoted.len().to_string());
        for (i, q) in quoted.iter().enumerate() {
            let (k, v) = q.split_once("'='").unwrap();
            world.set_env(&format!("GIT_CONFIG_KEY_{i}"), k.trim_start_matches('\''));
            world.set_env(&format!("GIT_CONFIG_VALUE_{i}"), v.trim_end_matches('\''));
        }
    } else if !quoted.is_empty() {
        world.set_env("GIT_CONFIG_PARAMETERS", &quoted.join(" "));
    }
}

fn setting() -> impl Strategy<Value = Setting> {
    (0..PATTERNS.len(), 0..KEYS.len(), 0..VALUES.len())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_configurations_match_git(
        files in prop::collection::vec((0..FILES.len(), any::<bool>(), prop::collection::vec(setting(), 1..6)), 1..6),
        params in prop::collection::vec(setting(), 0..4),
        use_count in any::<bool>(),
        in_repo in any::<bool>(),
    ) {
        let mut world = World::new();
        build(&mut world, &files, &params, use_count);
        if in_repo {
            world.cwd = world.path("repo/sub/dir");
        }
        let answered = world.compare(URLS);
        prop_assert_eq!(answered, 2 * URLS.len(), "every generated case is one the reader supports");
    }
}

/// A fixed world exercising one construct; `expect_all` says the reader must answer every URL.
fn check(world: &World, expect_all: bool) {
    let answered = world.compare(URLS);
    if expect_all {
        assert_eq!(answered, 2 * URLS.len(), "{}", world.describe());
    }
}

#[test]
fn every_file_git_reads_counts_in_its_order() {
    let mut world = World::new();
    world.write("etc/gitconfig", "[credential]\n\thelper = system\n\tnamespace = system\n");
    world.write("home/.config/git/config", "[credential]\n\thelper = xdg\n\tprovider = xdg\n");
    world.write("home/.gitconfig", "[credential]\n\thelper = global\n");
    world.append(
        "repo/.git/config",
        "[credential \"https://bitbucket.org\"]\n\tinteractive = repo\n[credential]\n\thelper = repo\n",
    );
    world.set_env("GIT_CONFIG_SYSTEM", &world.path("etc/gitconfig").display().to_string());
    world.env.remove("GIT_CONFIG_NOSYSTEM");
    check(&world, true);
    world.cwd = world.path("repo/sub/dir");
    check(&world, true);
    world.set_env("XDG_CONFIG_HOME", &world.path("nowhere").display().to_string());
    check(&world, true);
    world.set_env("GIT_CONFIG_GLOBAL", &world.path("home/.config/git/config").display().to_string());
    world.set_env("GIT_CONFIG_NOSYSTEM", "true");
    check(&world, true);
}

#[test]
fn the_repository_is_found_as_git_finds_it_below_its_ceilings() {
    let mut world = World::new();
    world.append("repo/.git/config", "[credential]\n\thelper = repo\n");
    world.cwd = world.path("repo/sub/dir");
    let root = world.path("").display().to_string();
    let repo = world.path("repo").display().to_string();
    for ceilings in [format!("/nonexistent/x:{root}"), format!("{root}/repo/sub"), format!("relative:{repo}")]
    {
        world.set_env("GIT_CEILING_DIRECTORIES", &ceilings);
        check(&world, true);
    }
}

#[test]
fn worktree_config_gitdir_and_onbranch_includes_match_git() {
    let mut world = World::new();
    let wt_gitdir = world.path("repo/.git/worktrees/wt");
    world.append("repo/.git/config", "[extensions]\n\tworktreeConfig = true\n");
    world.write("repo/.git/worktrees/wt/config.worktree", "[credential]\n\tprovider = worktree\n");
    world.write("inc/a", "[credential]\n\thelper = from-gitdir\n");
    world.write("inc/b", "[credential]\n\tnamespace = from-onbranch\n[http]\n\tproxy = from-onbranch\n");
    let repo_git = world.path("repo/.git");
    world.write(
        "home/.gitconfig",
        &format!(
            "[includeIf \"gitdir:{}/\"]\n\tpath = ../inc/a\n[includeIf \"gitdir/i:{}\"]\n\tpath = ../inc/a\n[includeIf \"onbranch:side\"]\n\tpath = {}\n[includeIf \"onbranch:ma*\"]\n\tpath = ~/../inc/b\n[includeIf \"gitdir:**/nothing/\"]\n\tpath = ../inc/missing\n",
            world.path("repo").display(),
            wt_gitdir.display().to_string().to_uppercase(),
            world.path("inc/b").display()
        ),
    );
    let expected = [
        ("elsewhere", ""),
        ("repo", "credential.helper\nfrom-gitdir\0credential.namespace\nfrom-onbranch\0"),
        ("repo/sub/dir", "credential.helper\nfrom-gitdir\0credential.namespace\nfrom-onbranch\0"),
        (
            "wt",
            "credential.helper\nfrom-gitdir\0credential.namespace\nfrom-onbranch\0credential.provider\nworktree\0",
        ),
    ];
    for (cwd, git_says) in expected {
        world.cwd = world.path(cwd);
        assert_eq!(
            world.run_git("credential", "https://bitbucket.org/").unwrap(),
            git_says.as_bytes(),
            "{cwd}"
        );
        check(&world, true);
    }
    world.cwd = world.path("elsewhere");
    world.set_env("GIT_DIR", &repo_git.display().to_string());
    check(&world, true);
}

#[test]
fn command_line_configuration_comes_last_in_both_forms() {
    let mut world = World::new();
    world.write(
        "home/.gitconfig",
        "[credential \"https://bitbucket.org\"]\n\thelper = file\n[credential]\n\tnamespace = file\n",
    );
    world.set_env("GIT_CONFIG_COUNT", "2");
    world.set_env("GIT_CONFIG_KEY_0", "credential.https://bitbucket.org.helper");
    world.set_env("GIT_CONFIG_VALUE_0", "count");
    world.set_env("GIT_CONFIG_KEY_1", "Credential.Interactive");
    world.set_env("GIT_CONFIG_VALUE_1", "");
    world.set_env("GIT_CONFIG_PARAMETERS", "'credential.namespace'='params' 'credential.https://alice@bitbucket.org.helper=old style' 'http.sslVerify'=");
    check(&world, true);
}

#[test]
fn what_the_reader_declines_git_answers() {
    let world = World::new();
    world.write(
        "home/.gitconfig",
        "[includeIf \"hasconfig:remote.*.url:https://**\"]\n\tpath = x\n[credential]\n\thelper = h\n",
    );
    assert_eq!(world.compare(URLS), 0, "hasconfig: is left to git");
    world.write("home/.gitconfig", "[include]\n\tpath = ~nobody/x\n");
    assert_eq!(world.compare(URLS), 0, "~user is left to git");
    world.write("home/.gitconfig", "[credential]\n\thelper = \"unterminated\n");
    assert_eq!(world.compare(URLS), 0, "a file git refuses is left to git");
}

#[test]
fn the_system_file_is_where_the_git_on_path_reads_it() {
    let world = World::new();
    let out = Command::new("git")
        .args(["config", "--system", "--edit"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_EDITOR", "echo")
        .current_dir(world.path("elsewhere"))
        .output()
        .unwrap();
    let git_says = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let env = |name: &str| (name == "PATH").then(|| std::env::var("PATH").unwrap_or_default());
    let ours = super::locate::system_file(&env).unwrap().unwrap();
    assert_eq!(ours, PathBuf::from(git_says));
}

#[test]
fn unusual_syntax_and_repository_shapes_match_git() {
    let mut world = World::new();
    git(&world.path(""), &["init", "-q", "--bare", "bare.git"]);
    world.write("inc/a", "\u{feff}[credential]\r\n\thelper = from-bom-crlf\r\n");
    world.write(
        "home/.gitconfig",
        "[include]\n\tpath = ../inc/a\n\tpath = ~/../inc/b\n\
         [credential \"https://bitbucket.org/te\\\"am\"]\n\tprovider = quoted\n\
         [credential \"https://bitbucket.org/team\"] namespace = same-line\n\
         [credential]\n\tinteractive = \"a\\\\b\" ; trailing\n",
    );
    world.write("inc/b", "[http \"https://*.example.com\"]\n\tsslVerify\n[http]\n\tsslVerify = false\n");
    world.append("bare.git/config", "[credential]\n\tcredentialStore = bare\n");
    world.cwd = world.path("bare.git");
    let git_says =
        String::from_utf8(world.run_git("credential", "https://bitbucket.org/team/x").unwrap()).unwrap();
    for expected in ["from-bom-crlf", "namespace\nsame-line", "credentialstore\nbare", "interactive\na\\b"] {
        assert!(git_says.contains(expected), "{expected:?} in {git_says:?}");
    }
    for cwd in ["elsewhere", "bare.git", "repo/.git", "repo/.git/refs"] {
        world.cwd = world.path(cwd);
        check(&world, true);
    }
    world.cwd = world.path("repo");
    world.set_env("GIT_DIR", "../bare.git");
    check(&world, true);
}

/// The gits to compare the planted shapes with: the one on `PATH`, and the others where
/// issue 22 asks for them (git 2.47 in `/usr/local/bin`, Debian's 2.39 in `/usr/bin`), each
/// version once.
fn gits() -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for candidate in ["git", "/usr/local/bin/git", "/usr/bin/git"] {
        let Ok(out) = Command::new(candidate).arg("--version").output() else { continue };
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && !found.iter().any(|(v, _)| *v == version) {
            found.push((version, PathBuf::from(candidate)));
        }
    }
    assert!(!found.is_empty(), "no git to compare with");
    found
}

/// Two URLs are enough here: what varies is the repository, not the matching.
const FEW_URLS: &[&str] = &["https://bitbucket.org/", "http://127.0.0.1:7990/scm/x.git"];

/// Compare in `cwd`; `must_answer` says the reader may not decline; `git_says` is what git's
/// own `credential.helper` answer must contain there (proof that the row means what it
/// says), or `None` when git must fail there.
fn expect(world: &mut World, cwd: &str, must_answer: bool, git_says: Option<&str>, row: &str) {
    world.cwd = world.path(cwd);
    let git = world.run_git("credential", "https://bitbucket.org/");
    match (git_says, &git) {
        (Some(value), Ok(out)) => {
            let out = String::from_utf8_lossy(out);
            assert!(
                out.contains(&format!("credential.helper\n{value}\0")),
                "{row} in {cwd}: git says {out:?}"
            );
        }
        (None, Err(_)) => {}
        (expected, got) => panic!("{row} in {cwd}: git was expected to say {expected:?}, got {got:?}"),
    }
    let answered = world.compare(FEW_URLS);
    if must_answer {
        assert_eq!(answered, 2 * FEW_URLS.len(), "{row} in {cwd}: the reader declined");
    }
}

/// A file planted in `repo/tools`: a `HEAD`, `objects` or `refs` of some shape.
enum Planted {
    Text(Vec<u8>),
    Link(&'static str),
    Dir,
    File(u32),
    Missing,
}

fn plant(path: &Path, what: &Planted) {
    match what {
        Planted::Text(bytes) => std::fs::write(path, bytes).unwrap(),
        Planted::Link(target) => symlink(target, path),
        Planted::Dir => std::fs::create_dir_all(path).unwrap(),
        Planted::File(mode) => {
            std::fs::write(path, "").unwrap();
            set_mode(path, *mode);
        }
        Planted::Missing => {}
    }
}

#[cfg(unix)]
fn symlink(target: &str, path: &Path) {
    std::os::unix::fs::symlink(target, path).unwrap();
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Issue 22's table: a directory planted in a project (`repo/tools`, with a `config` of its
/// own) is a git directory exactly when git's `is_git_directory` says so — `HEAD` validated
/// as `validate_headref` does (a link into `refs/`, `ref:` and optional white space and
/// `refs/`, or an object id, in the first 255 bytes), `objects` and `refs` that git can
/// search — seen from inside it, from below it and through a `.git` file naming it.
#[cfg(unix)]
#[test]
fn planted_git_directories_are_judged_as_git_judges_them() {
    let hex = "0123456789abcdef0123456789abcdef01234567";
    let mut far_ref = b"ref:".to_vec();
    far_ref.extend(std::iter::repeat_n(b' ', 260));
    far_ref.extend(b"refs/heads/main\n");
    let symref = || Planted::Text(b"ref: refs/heads/main\n".to_vec());
    let text = |t: &str| Planted::Text(t.as_bytes().to_vec());
    let rows: Vec<(&str, Planted, Planted, Planted, bool)> = vec![
        ("HEAD junk", text("junk\n"), Planted::Dir, Planted::Dir, false),
        ("HEAD empty", text(""), Planted::Dir, Planted::Dir, false),
        ("HEAD a symlink elsewhere", Planted::Link("../.git/HEAD"), Planted::Dir, Planted::Dir, false),
        ("HEAD a symlink into refs/", Planted::Link("refs/heads/main"), Planted::Dir, Planted::Dir, true),
        (
            "HEAD a symlink through refs/",
            Planted::Link("refs/../../.git/HEAD"),
            Planted::Dir,
            Planted::Dir,
            true,
        ),
        ("HEAD a directory", Planted::Dir, Planted::Dir, Planted::Dir, false),
        ("no HEAD", Planted::Missing, Planted::Dir, Planted::Dir, false),
        ("HEAD a symbolic ref", symref(), Planted::Dir, Planted::Dir, true),
        ("HEAD ref: without a space", text("ref:refs/heads/main"), Planted::Dir, Planted::Dir, true),
        ("HEAD ref: and git's white space", text("ref:\t\r\n refs/x"), Planted::Dir, Planted::Dir, true),
        ("HEAD ref: and a vertical tab", text("ref:\x0brefs/heads/main"), Planted::Dir, Planted::Dir, false),
        ("HEAD ref: outside refs/", text("ref: heads/main\n"), Planted::Dir, Planted::Dir, false),
        ("HEAD ref: past 255 bytes", Planted::Text(far_ref), Planted::Dir, Planted::Dir, false),
        (
            "HEAD a NUL first",
            Planted::Text(b"\0ref: refs/heads/main\n".to_vec()),
            Planted::Dir,
            Planted::Dir,
            false,
        ),
        ("HEAD an object id", text(&format!("{hex}\n")), Planted::Dir, Planted::Dir, true),
        ("HEAD an upper-case object id", text(&hex.to_uppercase()), Planted::Dir, Planted::Dir, true),
        ("HEAD an object id and junk", text(&format!("{hex}junk")), Planted::Dir, Planted::Dir, true),
        ("HEAD a SHA-256 object id", text(&format!("{hex}{}", &hex[..24])), Planted::Dir, Planted::Dir, true),
        ("HEAD a short object id", text(&format!("{}\n", &hex[..39])), Planted::Dir, Planted::Dir, false),
        ("objects/ a file", symref(), Planted::File(0o644), Planted::Dir, false),
        ("objects/ an executable file", symref(), Planted::File(0o755), Planted::Dir, true),
        ("objects/ missing", symref(), Planted::Missing, Planted::Dir, false),
        ("refs/ a file", symref(), Planted::Dir, Planted::File(0o644), false),
    ];
    for (version, program) in gits() {
        eprintln!("comparing with {version} ({})", program.display());
        let mut world = World::new();
        world.git = program;
        world.append("repo/.git/config", "[credential]\n\thelper = repo\n");
        for (row, head, objects, refs, valid) in &rows {
            let tools = world.path("repo/tools");
            let _ = std::fs::remove_dir_all(&tools);
            std::fs::create_dir_all(tools.join("sub")).unwrap();
            plant(&tools.join("HEAD"), head);
            plant(&tools.join("objects"), objects);
            plant(&tools.join("refs"), refs);
            world.write("repo/tools/config", "[credential]\n\thelper = planted\n");
            world.write("repo/gitfile/.git", "gitdir: ../tools\n");
            let found = if *valid { "planted" } else { "repo" };
            let row = format!("{row} ({version})");
            expect(&mut world, "repo/tools", true, Some(found), &row);
            expect(&mut world, "repo/tools/sub", true, Some(found), &row);
            // A .git file naming a directory git does not take for one is fatal to git.
            expect(&mut world, "repo/gitfile", *valid, valid.then_some("planted"), &row);
        }
    }
}

/// Issue 22's table: an embedded bare repository (`repo/vendor/lib.git`) found by walking up
/// is used or ignored as `safe.bareRepository` says, read as git reads it — from the system,
/// global and command-line configuration only (with includes, without `includeIf "gitdir:"`,
/// which has no repository to match then), the last value winning, any other value fatal —
/// while one named by a `.git` file is always used. Inside the `.git` directory of a project
/// (and its `worktrees/`), git 2.39 refuses what git 2.45 and later allow under `explicit`:
/// the reader declines there, leaving it to the git at hand.
#[cfg(unix)]
#[test]
fn embedded_bare_repositories_follow_safe_bare_repository_as_git_does() {
    // (row, global config, system config, command line, what git uses in lib.git)
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        Option<(&'static str, &'static str)>,
        Option<&'static str>,
    );
    let rows: Vec<Row> = vec![
        ("unset", "", "", None, Some("bare")),
        ("global all", "[safe]\n\tbareRepository = all\n", "", None, Some("bare")),
        ("global explicit", "[safe]\n\tbareRepository = explicit\n", "", None, Some("global")),
        ("global explicit, quoted", "[SAFE]\n\tBareRepository = \"explicit\"\n", "", None, Some("global")),
        ("system explicit", "", "[safe]\n\tbareRepository = explicit\n", None, Some("global")),
        (
            "system explicit, global all",
            "[safe]\n\tbareRepository = all\n",
            "[safe]\n\tbareRepository = explicit\n",
            None,
            Some("bare"),
        ),
        (
            "global explicit, -c all",
            "[safe]\n\tbareRepository = explicit\n",
            "",
            Some(("PARAMETERS", "all")),
            Some("bare"),
        ),
        (
            "global all, GIT_CONFIG_COUNT explicit",
            "[safe]\n\tbareRepository = all\n",
            "",
            Some(("COUNT", "explicit")),
            Some("global"),
        ),
        ("explicit in an include", "[include]\n\tpath = ../inc/a\n", "", None, Some("global")),
        (
            "explicit in an includeIf gitdir:",
            "[includeIf \"gitdir:**/lib.git\"]\n\tpath = ../inc/a\n",
            "",
            None,
            Some("bare"),
        ),
        ("global bogus", "[safe]\n\tbareRepository = bogus\n", "", None, None),
        ("global Explicit", "[safe]\n\tbareRepository = Explicit\n", "", None, None),
        (
            "global bogus, then all",
            "[safe]\n\tbareRepository = bogus\n\tbareRepository = all\n",
            "",
            None,
            None,
        ),
        ("in a subsection", "[safe \"x\"]\n\tbareRepository = explicit\n", "", None, Some("bare")),
    ];
    for (version, program) in gits() {
        eprintln!("comparing with {version} ({})", program.display());
        for (row, global, system, command_line, in_bare) in &rows {
            let mut world = World::new();
            world.git = program.clone();
            git(&world.path("repo"), &["init", "-q", "--bare", "vendor/lib.git"]);
            // The repository's own word does not count: git reads the setting only from
            // protected configuration.
            world.append(
                "repo/vendor/lib.git/config",
                "[credential]\n\thelper = bare\n[safe]\n\tbareRepository = explicit\n",
            );
            world.append(
                "repo/.git/config",
                "[credential]\n\thelper = repo\n[safe]\n\tbareRepository = explicit\n",
            );
            world.write("repo/gitfile/.git", "gitdir: ../vendor/lib.git\n");
            world.write("inc/a", "[safe]\n\tbareRepository = explicit\n");
            world.write("home/.gitconfig", &format!("[credential]\n\thelper = global\n{global}"));
            world.write("etc/gitconfig", system);
            world.set_env("GIT_CONFIG_SYSTEM", &world.path("etc/gitconfig").display().to_string());
            world.env.remove("GIT_CONFIG_NOSYSTEM");
            match command_line {
                Some(("PARAMETERS", value)) => {
                    world.set_env("GIT_CONFIG_PARAMETERS", &format!("'safe.bareRepository'='{value}'"))
                }
                Some((_, value)) => {
                    world.set_env("GIT_CONFIG_COUNT", "1");
                    world.set_env("GIT_CONFIG_KEY_0", "safe.bareRepository");
                    world.set_env("GIT_CONFIG_VALUE_0", value);
                }
                None => {}
            }
            let row = format!("{row} ({version})");
            let explicit = *in_bare == Some("global");
            expect(&mut world, "repo/vendor/lib.git", in_bare.is_some(), *in_bare, &row);
            expect(&mut world, "repo/vendor/lib.git/refs/heads", in_bare.is_some(), *in_bare, &row);
            // A .git file names it: discovered, not a bare repository found by walking up.
            expect(&mut world, "repo/gitfile", true, Some("bare"), &row);
            // GIT_DIR names it: always used.
            world.set_env("GIT_DIR", &world.path("repo/vendor/lib.git").display().to_string());
            expect(&mut world, "elsewhere", true, Some("bare"), &row);
            world.env.remove("GIT_DIR");
            // A project's own .git directory, and a linked worktree's: git's versions differ.
            for cwd in ["repo/.git", "repo/.git/refs", "repo/.git/worktrees/wt"] {
                world.cwd = world.path(cwd);
                let answered = world.compare(FEW_URLS);
                if in_bare.is_some() && !explicit {
                    assert_eq!(answered, 2 * FEW_URLS.len(), "{row} in {cwd}: the reader declined");
                }
            }
        }
    }
}

/// A `.git` that is a symbolic link (to a git directory, or to a `gitdir:` file) is followed,
/// as git's `stat` follows it; `includeIf "gitdir:"` matches the link's path and the real one.
#[cfg(unix)]
#[test]
fn a_dot_git_that_is_a_symbolic_link_is_followed_as_git_follows_it() {
    for (version, program) in gits() {
        let mut world = World::new();
        world.git = program;
        std::fs::create_dir_all(world.path("store")).unwrap();
        git(&world.path(""), &["init", "-q", "--separate-git-dir", "store/real.git", "linked"]);
        world.append("store/real.git/config", "[credential]\n\thelper = linked\n");
        world.write(
            "home/.gitconfig",
            &format!(
                "[includeIf \"gitdir:{}\"]\n\tpath = ../inc/a\n",
                world.path("store/real.git").display()
            ),
        );
        world.write("inc/a", "[credential]\n\tnamespace = real\n");
        std::fs::remove_file(world.path("linked/.git")).unwrap();
        symlink("../store/real.git", &world.path("linked/.git"));
        let row = format!("a .git link to a directory ({version})");
        expect(&mut world, "linked", true, Some("linked"), &row);
        world.write("store/gitfile", "gitdir: real.git\n");
        std::fs::remove_file(world.path("linked/.git")).unwrap();
        symlink("../store/gitfile", &world.path("linked/.git"));
        // git reads the link's target, but resolves a relative gitdir: from the link's place.
        let row = format!("a .git link to a gitdir: file ({version})");
        expect(&mut world, "linked", false, None, &row);
        world.write("store/gitfile", &format!("gitdir: {}\n", world.path("store/real.git").display()));
        expect(&mut world, "linked", true, Some("linked"), &row);
    }
}

/// Each value's scope, in the process, is the one git names (`--show-scope`); the listing the
/// `git config` fallback reads (`--get-regexp`), URL-matched here, gives the same answer; and
/// the protected answer is the one git gives without the repository (`--global` alone here).
#[test]
fn scopes_match_git_and_the_fallbacks_listing_gives_the_same_answer() {
    use super::super::{Scope, key};
    let mut world = World::new();
    world.write("inc/a", "[credential]\n\tbitbucketCloudUrl = https://included.example\n");
    world.write(
        "home/.gitconfig",
        "[credential]\n\tnamespace = mine\n\tbitbucketCloudUrl = https://mine.example\n[credential \"https://bitbucket.org\"]\n\tprovider = bitbucket\n",
    );
    world.append(
        "repo/.git/config",
        &format!(
            "[credential \"https://bitbucket.org/\"]\n\tnamespace = planted\n[credential]\n\thelper = repo\n[include]\n\tpath = {}\n[extensions]\n\tworktreeConfig = true\n",
            world.path("inc/a").display()
        ),
    );
    world.write("repo/.git/config.worktree", "[credential]\n\tcredentialStore = plaintext\n");
    world.set_env("GIT_CONFIG_PARAMETERS", "'credential.interactive'='never'");
    world.cwd = world.path("repo/sub/dir");
    let env = |name: &str| world.env.get(name).cloned();
    let url = "https://bitbucket.org/team/x.git";
    let ours = super::get_urlmatch("credential", url, &env, &world.cwd).unwrap();
    let scope = |name: &str| ours.best.get(name).map(|f| f.scope);
    assert_eq!(scope(key::NAMESPACE), Some(Scope::Local));
    assert_eq!(scope("bitbucketcloudurl"), Some(Scope::Local), "an include has its includer's scope");
    assert_eq!(scope("credentialstore"), Some(Scope::Worktree));
    assert_eq!(scope(key::INTERACTIVE), Some(Scope::Command));
    assert_eq!(scope(key::PROVIDER), Some(Scope::Global));
    let protected = |name: &str| ours.protected.get(name).map(|f| (f.value.clone().unwrap(), f.scope));
    assert_eq!(protected(key::NAMESPACE), Some((b"mine".to_vec(), Scope::Global)));
    assert_eq!(protected("bitbucketcloudurl"), Some((b"https://mine.example".to_vec(), Scope::Global)));
    assert_eq!(protected("credentialstore"), None);
    assert_eq!(protected(key::INTERACTIVE), Some((b"never".to_vec(), Scope::Command)));

    let git_out = |git: &Path, args: &[&str]| {
        let out = Command::new(git)
            .args(args)
            .current_dir(&world.cwd)
            .env_clear()
            .envs(&world.env)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        out.stdout
    };
    // Every git at hand (2.47 and Debian's 2.39) lists the same scopes.
    for (version, git) in gits() {
        let listing = git_out(&git, &["config", "--null", "--show-scope", "--get-regexp", "^credential\\."]);
        assert_eq!(super::match_listing("credential", url, &listing), Some(ours.clone()), "{version}");
    }
    // git 2.47 names the scopes of `--get-urlmatch` too (2.39 says `unknown` for each).
    let named =
        git_out(&world.git, &["config", "--null", "--show-scope", "--get-urlmatch", "credential", url]);
    let fields: Vec<&[u8]> = named.split(|&b| b == 0).filter(|f| !f.is_empty()).collect();
    for pair in fields.chunks(2) {
        let (scope, entry) = (std::str::from_utf8(pair[0]).unwrap(), String::from_utf8_lossy(pair[1]));
        let name = entry.split('\n').next().unwrap().trim_start_matches("credential.").to_owned();
        if scope != "unknown" {
            assert_eq!(Scope::parse(scope), ours.best[&name].scope, "{name}");
        }
    }
}
