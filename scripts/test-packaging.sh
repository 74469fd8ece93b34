#!/usr/bin/env bash
# The ways in and out of a machine, tested as a person would use them (issue 15):
#   1. the Debian package: scripts/build-deb.sh builds it; its control data and files are
#      checked, and lintian finds no error or warning in it; `dpkg -i` installs it into this
#      machine; the installed helper runs `configure` and serves a real `git clone` from the
#      fake Bitbucket; `man git-credential-bitbucket` renders the installed page; `dpkg --purge`
#      removes it and leaves nothing on the machine but the person's own git config and stored
#      credential;
#   2. cargo: `cargo install --locked --path .` from this clone; `cargo package --locked` builds
#      and verifies the crate, and `cargo install` from the unpacked .crate gives a helper that
#      serves the same clone;
#   3. install/install.sh into a temporary PREFIX and HOME, then `--uninstall` (every file it
#      wrote gone, git config back byte for byte, secrets kept) and `--uninstall --purge`
#      (secrets deleted too).
#
#   scripts/test-packaging.sh      (scripts/test.sh runs it after the cargo tests)
#
# Prints `ok N - NAME` / `not ok N - NAME` lines (with `#` lines saying why), and exits
# non-zero when any failed. Installing the .deb needs root (sudo otherwise); the script
# refuses when a git-credential-bitbucket package or /usr/bin file is already there, and a
# trap purges the package again however the script ends.
set -euo pipefail
export LC_ALL=C # one sort order for sort and comm
cd "$(dirname "$0")/.."

as_root=()
[[ $(id -u) == 0 ]] || as_root=(sudo)
work=$(mktemp -d)
fake_pid=
cleanup() {
  # Steps run in subshells, so they leave marks in files: the package this script installed.
  if [[ -e $work/deb-installed ]] &&
    dpkg-query -W -f='${Status}' git-credential-bitbucket 2>/dev/null | grep -q 'install ok'; then
    "${as_root[@]}" dpkg --purge git-credential-bitbucket >/dev/null 2>&1 || true
  fi
  if [[ -n $fake_pid ]]; then kill "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# TAP-like reporting: each step runs a function; its output goes to a log shown only on failure.
# A failed step skips the rest of its section (reported as not ok, so the count stays fixed);
# a failed check does not.
# ---------------------------------------------------------------------------------------------
n=0 failed=0 section_failed=
step() { # step NAME FUNCTION [ARGS...]
  local name=$1 log=$work/step.log
  shift
  n=$((n + 1))
  if [[ -n $section_failed ]]; then
    echo "not ok $n - $name"
    echo "#   not run: '$section_failed' failed"
    failed=$((failed + 1))
    return
  fi
  # A subshell with errexit on (an `if` around it would turn errexit off inside).
  local status
  set +e
  (set -e; "$@") >"$log" 2>&1
  status=$?
  set -e
  if ((status == 0)); then
    echo "ok $n - $name"
  else
    echo "not ok $n - $name"
    tail -n 25 "$log" | sed 's/^/#   /'
    failed=$((failed + 1))
    section_failed=$name
  fi
}
check() { # check NAME FUNCTION [ARGS...]: a step whose failure does not skip the next ones
  local before=$section_failed
  step "$@"
  [[ -n $before ]] || section_failed=
}
section() { section_failed=; echo "# $*"; }
fail() { echo "FAILED: $*" >&2; return 1; }

version=$(cargo metadata --format-version 1 --no-deps --locked |
  grep -o '"name":"git-credential-bitbucket","version":"[^"]*"' | cut -d'"' -f8)
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

# A person's environment: their own HOME and PATH, no system git config, no prompts.
as_person() { # as_person HOME PATH COMMAND...
  local home=$1 path=$2
  shift 2
  env -i HOME="$home" PATH="$path" LANG=C.UTF-8 TERM=dumb USER="${USER:-root}" \
    GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 "$@"
}
# A directory with only the git used for the tests (the first on PATH, >= 2.46), so that the
# helper git finds is the installed one, never one from this repository or /usr/local/bin.
git_only=$work/git-only
mkdir -p "$git_only"
ln -s "$(command -v git)" "$git_only/git"

# ---------------------------------------------------------------------------------------------
# The fake Bitbucket (Cloud) with user alice, her API token, and team/project.
# ---------------------------------------------------------------------------------------------
TOKEN=ATATT-packaging-test-token
cargo build --quiet --locked -p bitbucket-test-support --bin fake-bitbucket
"$target_dir/debug/fake-bitbucket" --user "alice:alice@example.com:$TOKEN" --repo team/project \
  --counts-file "$work/counts" --until-signal >"$work/fake.out" 2>"$work/fake.err" </dev/null &
fake_pid=$!
base_url=
for ((i = 0; i < 200; i++)); do # a bounded wait (20 s) for the line with its address
  base_url=$(sed -n 's/^base_url=//p' "$work/fake.out" 2>/dev/null || true)
  [[ -z $base_url ]] || break
  kill -0 "$fake_pid" 2>/dev/null || { echo "Bail out! fake-bitbucket exited: $(cat "$work/fake.err")"; exit 1; }
  sleep 0.1
done
[[ -n $base_url ]] || { echo "Bail out! fake-bitbucket printed no base_url in 20 s"; exit 1; }
count() { # count KIND: requests of that kind the fake has served so far
  sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$work/counts"
}

# configure with HELPER (found on PATH_FOR_GIT as git-credential-bitbucket), store alice's
# token with `git credential approve`, and `git clone` with it: no REST or token request.
configure_and_clone() { # configure_and_clone HOME PATH_FOR_GIT EXPECTED_HELPER_PATH
  local home=$1 path=$2 expected=$3
  mkdir -p "$home"
  local found
  found=$(as_person "$home" "$path" sh -c 'command -v git-credential-bitbucket') || true
  [[ $found == "$expected" ]] || fail "git would run '$found', not $expected"
  as_person "$home" "$path" git-credential-bitbucket configure --url "$base_url"
  local helpers
  helpers=$(as_person "$home" "$path" git config --global --get-all credential.https://bitbucket.org.helper | paste -sd,)
  [[ $helpers == ",$expected" ]] || fail "configure wrote credential.https://bitbucket.org.helper = '$helpers'"
  local c="credential.$base_url"
  as_person "$home" "$path" git config --global "$c.bitbucketDeployment" cloud
  as_person "$home" "$path" git config --global "$c.bitbucketCloudUrl" "$base_url"
  as_person "$home" "$path" git config --global "$c.bitbucketCloudApiUrl" "$base_url"
  as_person "$home" "$path" git config --global credential.credentialStore plaintext
  as_person "$home" "$path" git config --global credential.interactive false
  printf 'url=%s/team/project.git\nusername=alice\npassword=%s\n\n' "$base_url" "$TOKEN" |
    as_person "$home" "$path" git credential approve
  grep -q '"alice"' "$home/.local/share/git-credential-bitbucket/credentials.json" ||
    fail "git credential approve stored nothing in the plaintext store"
  local rest token git
  rest=$(count rest) token=$(count token) git=$(count git)
  as_person "$home" "$path" git clone --quiet "$base_url/team/project.git" "$home/clone"
  [[ -n $(as_person "$home" "$path" git -C "$home/clone" log --oneline) ]] || fail "the clone has no commit"
  (($(count git) > git)) || fail "the fake served no git request"
  [[ $(count rest) == "$rest" && $(count token) == "$token" ]] ||
    fail "the clone made REST or token requests: $(cat "$work/counts")"
  echo "cloned with $expected: $(cat "$work/counts")"
}

# =============================================================================================
section "the Debian package (scripts/build-deb.sh, dpkg -i, dpkg --purge)"
# =============================================================================================
deb=
build_deb() {
  scripts/build-deb.sh >"$work/deb-path"
  deb=$(tail -n 1 "$work/deb-path")
  [[ -f $deb ]] || fail "scripts/build-deb.sh printed no .deb path"
  echo "$deb"
}
step "scripts/build-deb.sh builds the .deb" build_deb
deb=$(tail -n 1 "$work/deb-path" 2>/dev/null || true)
[[ -f $deb ]] || deb=

check_control() {
  local depends recommends description controls
  depends=$(dpkg-deb -f "$deb" Depends)
  recommends=$(dpkg-deb -f "$deb" Recommends)
  description=$(dpkg-deb -f "$deb" Description | tr -s ' \n' '  ')
  echo "Depends: $depends"
  echo "Recommends: $recommends"
  [[ ", $depends," =~ ,\ git[\ ,] ]] || fail "Depends does not name git"
  [[ $depends == *libc6* ]] || fail "Depends does not name libc6 (dpkg-shlibdeps)"
  [[ $recommends == gnome-keyring ]] || fail "Recommends is not gnome-keyring"
  [[ $(dpkg-deb -f "$deb" Version) == "$version-1" ]] || fail "Version is not $version-1"
  [[ $description == *"git-credential-bitbucket configure"* ]] || fail "the description does not say to run configure"
  [[ $description == *2.46* ]] || fail "the description does not recommend git 2.46"
  # No maintainer script: installing must change nobody's git config.
  controls=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t | sed 's|^\./||' | grep -v '^$' | sort | paste -sd' ')
  echo "control files: $controls"
  [[ " $controls " == *" control "* ]] || fail "no control file"
  ! grep -qwE 'preinst|postinst|prerm|postrm|config|templates|triggers' <<<"$controls" ||
    fail "the package has maintainer scripts: $controls"
}
check "the .deb depends on git, recommends gnome-keyring, has no maintainer scripts" check_control

check_contents() {
  dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$work/deb-files"
  cat "$work/deb-files"
  local expected
  for expected in /usr/bin/git-credential-bitbucket \
    /usr/share/man/man1/git-credential-bitbucket.1.gz \
    /usr/share/man/man1/git-credential-bitbucket-configure.1.gz \
    /usr/share/bash-completion/completions/git-credential-bitbucket \
    /usr/share/zsh/vendor-completions/_git-credential-bitbucket \
    /usr/share/fish/vendor_completions.d/git-credential-bitbucket.fish \
    /usr/share/doc/git-credential-bitbucket/copyright \
    /usr/share/doc/git-credential-bitbucket/changelog.gz \
    /usr/share/doc/git-credential-bitbucket/changelog.Debian.gz; do
    grep -qxF "$expected" "$work/deb-files" || fail "the .deb has no $expected"
  done
  dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/doc/git-credential-bitbucket/copyright |
    grep -q '^License: MIT or Apache-2.0' || fail "the copyright file names no license"
}
check "the .deb holds the binary, man pages, completions, copyright and changelog" check_contents

# Debian's own checker. --fail-on error,warning makes any error or warning fail the step.
# The package's overrides, each with its reason, are scripts/lintian-overrides.
check_lintian() {
  command -v lintian >/dev/null || fail "lintian is not installed (apt-get install lintian)"
  local out status=0
  # lintian warns once that it runs as root; that line is about the test machine, not the package.
  out=$(lintian --fail-on error,warning "$deb" 2>&1) || status=$?
  out=$(grep -v '^running with root privileges is not recommended!$' <<<"$out" || true)
  echo "lintian: ${out:-no tags}"
  ((status == 0)) || fail "lintian found errors or warnings (exit $status): $out"
  ! grep -qE '^[EW]: ' <<<"$out" || fail "lintian reported: $out"
}
check "lintian reports no error and no warning on the .deb" check_lintian

install_deb() {
  if dpkg-query -W -f='${Status}' git-credential-bitbucket 2>/dev/null | grep -q 'install ok installed'; then
    fail "a git-credential-bitbucket package is already installed here; this test would replace it"
  fi
  [[ ! -e /usr/bin/git-credential-bitbucket ]] || fail "/usr/bin/git-credential-bitbucket exists already"
  find /usr /etc /var/lib/dpkg/info -xdev 2>/dev/null | sort >"$work/system-before"
  touch "$work/deb-installed"
  "${as_root[@]}" dpkg -i "$deb"
  dpkg-query -W -f='${Status}\n' git-credential-bitbucket | grep -qx 'install ok installed'
  local v
  v=$(/usr/bin/git-credential-bitbucket --version | head -n1)
  echo "$v"
  [[ $v == "git-credential-bitbucket $version (commit $commit)" ]] || fail "--version says '$v'"
}
step "dpkg -i installs it; the installed binary names version $version and commit $commit" install_deb

deb_home=$work/deb-home
deb_clone() {
  configure_and_clone "$deb_home" "$git_only:/usr/bin:/bin" /usr/bin/git-credential-bitbucket
}
check "the installed helper: configure, then git clone from the fake Bitbucket with a stored token" deb_clone

# The git a Debian machine has (2.39 on Debian 12), which sends helpers less (README.md).
debian_git_clone() {
  local v
  v=$(/usr/bin/git --version)
  echo "$v"
  local rest token
  rest=$(count rest) token=$(count token)
  as_person "$deb_home" /usr/bin:/bin git clone --quiet "$base_url/team/project.git" "$work/debian-git-clone"
  [[ $(count rest) == "$rest" && $(count token) == "$token" ]] ||
    fail "the clone made REST or token requests: $(cat "$work/counts")"
}
check "the installed helper serves Debian's own /usr/bin/git ($(/usr/bin/git --version 2>/dev/null | awk '{print $3}')) too" debian_git_clone

man_page() {
  local where text
  where=$(as_person "$deb_home" /usr/bin:/bin man -w git-credential-bitbucket)
  [[ $where == /usr/share/man/man1/git-credential-bitbucket.1.gz ]] || fail "man finds '$where'"
  text=$(as_person "$deb_home" /usr/bin:/bin env MANPAGER=cat MANWIDTH=80 man git-credential-bitbucket)
  grep -q 'NAME' <<<"$text" || fail "no NAME section"
  grep -q 'credential helper for Bitbucket' <<<"$text" || fail "the page does not describe the helper"
  grep -q 'configure' <<<"$text" || fail "the page lists no configure command"
  # Read whole outputs before matching: `producer | grep -q` under pipefail fails whenever grep
  # exits before the producer's last write.
  text=$(as_person "$deb_home" /usr/bin:/bin env MANPAGER=cat man git-credential-bitbucket-configure)
  grep -q 'configure' <<<"$text" || fail "the configure page does not render"
}
check "man git-credential-bitbucket renders the installed page" man_page

purge_deb() {
  local configured=0
  if [[ -f $deb_home/.gitconfig ]]; then cp "$deb_home/.gitconfig" "$work/person-gitconfig"; configured=1; fi
  "${as_root[@]}" dpkg --purge git-credential-bitbucket
  ! dpkg-query -W -f='${Status}' git-credential-bitbucket 2>/dev/null | grep -q 'installed' ||
    fail "dpkg still lists the package"
  find /usr /etc /var/lib/dpkg/info -xdev 2>/dev/null | sort >"$work/system-after"
  local left
  left=$(comm -13 "$work/system-before" "$work/system-after")
  [[ -z $left ]] || fail "left on the machine after dpkg --purge: $left"
  # The person's config and credential are theirs: the package never touches them.
  ((configured)) || fail "no person's config to compare (the clone step failed)"
  cmp "$deb_home/.gitconfig" "$work/person-gitconfig" || fail "the person's .gitconfig changed"
  grep -q '"alice"' "$deb_home/.local/share/git-credential-bitbucket/credentials.json" ||
    fail "the stored credential is gone"
  echo "after dpkg --purge: no new path under /usr /etc /var/lib/dpkg/info; ~/.gitconfig and the store kept"
}
step "dpkg --purge leaves nothing but the person's git config and credential" purge_deb

# =============================================================================================
section "cargo install from the clone and from the crate (cargo package)"
# =============================================================================================
install_from_clone() {
  # The workspace's target dir and release profile: the release build above is reused.
  cargo install --quiet --locked --path . --root "$work/clone-root"
  local v
  v=$("$work/clone-root/bin/git-credential-bitbucket" --version | head -n1)
  echo "$v"
  [[ $v == "git-credential-bitbucket $version (commit $commit)" ]] || fail "--version says '$v'"
}
check "cargo install --locked --path . from the clone installs the helper" install_from_clone

crate=$target_dir/package/git-credential-bitbucket-$version.crate
package_crate() {
  local dirty=()
  [[ -z $(git status --porcelain --untracked-files=no 2>/dev/null) ]] || dirty=(--allow-dirty)
  cargo package --locked -p git-credential-bitbucket "${dirty[@]}"
  [[ -f $crate ]] || fail "no $crate"
  tar -tzf "$crate" | sort >"$work/crate-files"
  ! grep -E '/(tests|bench|fuzz|scripts|target)/' "$work/crate-files" || fail "the crate holds test or build files"
  local expected
  for expected in Cargo.toml Cargo.lock build.rs src/main.rs LICENSE-MIT LICENSE-APACHE .cargo_vcs_info.json; do
    grep -qxF "git-credential-bitbucket-$version/$expected" "$work/crate-files" || fail "the crate has no $expected"
  done
  echo "$(wc -l <"$work/crate-files") files in $crate"
}
step "cargo package --locked builds and verifies the crate (no test-support crate in it)" package_crate

crate_root=$work/crate-root
install_from_crate() {
  tar -xzf "$crate" -C "$work"
  # cargo package verified the crate in the workspace's target dir: the same dependencies,
  # built the same way, so only the crate itself is compiled again.
  CARGO_TARGET_DIR=$target_dir cargo install --quiet --locked --debug \
    --path "$work/git-credential-bitbucket-$version" --root "$crate_root"
  local v
  v=$("$crate_root/bin/git-credential-bitbucket" --version | head -n1)
  echo "$v"
  # The packaged crate has no .git: the commit comes from .cargo_vcs_info.json.
  [[ $v == "git-credential-bitbucket $version (commit $commit)" ]] || fail "--version says '$v'"
  configure_and_clone "$work/crate-home" "$crate_root/bin:$git_only:/bin" "$crate_root/bin/git-credential-bitbucket"
}
step "cargo install from the unpacked .crate gives a helper that serves git clone" install_from_crate

# =============================================================================================
section "install/install.sh and --uninstall (temporary PREFIX and HOME)"
# =============================================================================================
prefix=$work/prefix
inst_home=$work/install-home
store=$inst_home/.local/share/git-credential-bitbucket/credentials.json
inst_path="$prefix/bin:$git_only:$(dirname "$(command -v cargo)"):/usr/bin:/bin"
installer() { # installer ARGS...: install/install.sh as the person, with this machine's Rust
  as_person "$inst_home" "$inst_path" PREFIX="$prefix" \
    CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" \
    ${CARGO_TARGET_DIR:+CARGO_TARGET_DIR="$CARGO_TARGET_DIR"} install/install.sh "$@"
}
listing() { # listing: every path under the prefix and the home, and the git config's hash
  {
    (cd "$work" && find prefix install-home 2>/dev/null)
    echo "gitconfig sha256 $(sha256sum "$inst_home/.gitconfig" | cut -d' ' -f1)"
  } | sort
}

install_script() {
  # A prefix with someone else's files, and a person with their own git config.
  mkdir -p "$prefix/bin" "$prefix/share/man/man1" "$inst_home"
  echo '#!/bin/sh' >"$prefix/bin/other-tool"
  echo '.TH OTHER 1' >"$prefix/share/man/man1/other-tool.1"
  printf '[user]\n\tname = Alice\n[credential]\n\tcredentialStore = plaintext\n\tinteractive = false\n' \
    >"$inst_home/.gitconfig"
  as_person "$inst_home" "$inst_path" git config --global "credential.$base_url.bitbucketDeployment" cloud
  as_person "$inst_home" "$inst_path" git config --global "credential.$base_url.bitbucketCloudUrl" "$base_url"
  as_person "$inst_home" "$inst_path" git config --global "credential.$base_url.bitbucketCloudApiUrl" "$base_url"
  listing >"$work/install-before"
  installer --url "$base_url"
  local file
  for file in bin/git-credential-bitbucket share/man/man1/git-credential-bitbucket.1 \
    share/bash-completion/completions/git-credential-bitbucket \
    share/zsh/site-functions/_git-credential-bitbucket \
    share/fish/vendor_completions.d/git-credential-bitbucket.fish \
    share/git-credential-bitbucket/install-manifest; do
    [[ -f $prefix/$file ]] || fail "install.sh did not write $prefix/$file"
  done
  as_person "$inst_home" "$inst_path" git config --global --get "credential.$base_url.provider" | grep -qx bitbucket ||
    fail "install.sh did not run configure --url"
  # A credential stored through git: the person's secret, which uninstalling keeps.
  printf 'url=%s/team/project.git\nusername=alice\npassword=%s\n\n' "$base_url" "$TOKEN" |
    as_person "$inst_home" "$inst_path" git credential approve
  grep -q '"alice"' "$store" || fail "nothing stored through the installed helper"
  as_person "$inst_home" "$inst_path" git clone --quiet "$base_url/team/project.git" "$work/install-clone"
}
step "install/install.sh installs, configures git, and the helper serves git clone" install_script

uninstall_script() {
  installer --uninstall
  listing >"$work/install-after"
  # What install.sh wrote is gone, the other files stay, the git config is back byte for byte;
  # the only new paths are what using the helper made: its data under ~/.local (the person's
  # credential store) and its refresh lock files under ~/.cache.
  local new
  new=$(comm -13 "$work/install-before" "$work/install-after" |
    grep -v '^install-home/\(\.local\|\.cache\)\(/\|$\)' || true)
  [[ -z $new ]] || fail "left after --uninstall: $new"
  [[ -z $(comm -23 "$work/install-before" "$work/install-after") ]] ||
    fail "gone after --uninstall (or git config changed): $(comm -23 "$work/install-before" "$work/install-after")"
  [[ -f $prefix/bin/other-tool && -f $prefix/share/man/man1/other-tool.1 ]] || fail "another tool's file was removed"
  grep -q "$TOKEN" "$store" || fail "--uninstall without --purge deleted the stored secret"
  echo "after --uninstall: $(wc -l <"$work/install-after") paths, as before plus the credential store and lock files"
}
check "install.sh --uninstall removes every file it wrote, restores git config, keeps secrets" uninstall_script

purge_script() {
  installer --url "$base_url" >/dev/null
  [[ $("$prefix/bin/git-credential-bitbucket" --version | head -n1) == *"(commit $commit)" ]] || fail "reinstall failed"
  local accounts
  accounts=$(as_person "$inst_home" "$inst_path" git-credential-bitbucket list --json)
  grep -q '"username": "alice"' <<<"$accounts" || fail "list --json does not show alice before --purge"
  installer --uninstall --purge
  [[ ! -e $prefix/bin/git-credential-bitbucket ]] || fail "the binary is still there"
  ! grep -q "$TOKEN" "$store" || fail "--purge left the secret in the store"
  ! grep -q '"alice"' "$store" || fail "--purge left alice's account in the store"
  listing >"$work/purge-after"
  [[ -z $(comm -23 "$work/install-before" "$work/purge-after") ]] || fail "git config or other files changed"
}
step "install.sh --uninstall --purge signs every account out before removing the helper" purge_script

echo "# packaging: $((n - failed)) of $n passed"
((failed == 0))
