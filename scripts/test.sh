#!/usr/bin/env bash
# The whole test suite, as the README's second set-up command runs it:
#   formatting and lints, unit + integration + doc tests (real gnome-keyring, real git over
#   git http-backend, real headless Chromium), then git's own credential-helper tests
#   (t0303) against the helper with the plaintext, keyring, gpg and cache stores, then the
#   packaging tests (scripts/test-packaging.sh: the .deb installed with dpkg and purged, the
#   packaged crate, install/install.sh --uninstall).
# Installs missing Debian packages first (scripts/packages.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r pkg; do
  [[ -z $pkg || $pkg == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done < scripts/packages.txt
if ((${#missing[@]})); then
  echo "== installing Debian packages: ${missing[*]}"
  sudo=(); [[ $(id -u) == 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

git_version=$(git --version | awk '{print $3}')
if [[ $(printf '%s\n2.46\n' "$git_version" | sort -V | head -1) != 2.46 ]]; then
  echo "git $git_version is first on PATH; the tests need git >= 2.46 (capability[]=authtype)" >&2
  exit 1
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "== cargo test (workspace: unit, integration, doc tests)"
# --nocapture: every test's own output goes into the log, which is scanned for leaks below.
cargo test --workspace -- --nocapture 2>&1 | tee "$log"

echo "== git's own helper tests (t0303-credential-external.sh)"
cargo build --quiet
helper=$PWD/target/debug/git-credential-bitbucket
t=$(scripts/git-test-suite.sh)
# t0303 STORE [MORE SETUP]: git's tests with credentialStore=STORE; test-lib.sh resets
# HOME and GNUPGHOME, so store-specific set-up goes into the setup commands.
t0303() {
  (cd "$t" && GIT_TEST_CREDENTIAL_HELPER=$helper \
    GIT_TEST_CREDENTIAL_HELPER_SETUP="git config --global credential.provider bitbucket && git config --global credential.credentialStore $1${2:+ && $2}" \
    ./t0303-credential-external.sh)
}
echo "-- plaintext store"
t0303 plaintext | tee -a "$log"
echo "-- keyring store (gnome-keyring in a private D-Bus session)"
scripts/with-keyring.sh bash -c "$(declare -f t0303); t=$t helper=$helper; t0303 keyring" | tee -a "$log"
echo "-- gpg store (a throwaway key and pass store)"
scripts/with-gpg.sh bash -c "$(declare -f t0303); t=$t helper=$helper;
  t0303 gpg \"export GNUPGHOME='\$GNUPGHOME' PASSWORD_STORE_DIR='\$PASSWORD_STORE_DIR'\"" | tee -a "$log"
echo "-- cache store (git credential-cache on a private socket, stopped afterwards)"
cache_dir=$(mktemp -d)
# The daemon that git credential-cache starts inherits t0303's output descriptors: into a
# pipe they would keep `tee` waiting until the daemon's timeout. So: a file, stop the
# daemon, then show the file.
cache_status=0
t0303 cache "git config --global credential.cacheOptions '--socket $cache_dir/socket'" \
  > "$cache_dir/t0303.out" 2>&1 || cache_status=$?
git credential-cache --socket "$cache_dir/socket" exit || true
tee -a "$log" < "$cache_dir/t0303.out"
rm -rf "$cache_dir"

echo "== packaging: the Debian package, the crate, install.sh --uninstall (scripts/test-packaging.sh)"
# Its `ok N -` / `not ok N -` lines are counted below; a failure still reaches the summary.
packaging_status=0
scripts/test-packaging.sh </dev/null 2>&1 | tee -a "$log" || packaging_status=$?

echo "== scanning all test output for the fake Bitbucket's secrets"
# Every token, refresh token and code the fake issues starts with this mark.
leaks=$(grep -c 'fakeSECRET_' "$log" || true)
if [[ $leaks != 0 ]]; then
  echo "SECRET LEAK: $leaks line(s) of test output hold a token issued by the fake (lines: $(grep -n 'fakeSECRET_' "$log" | cut -d: -f1 | head -20 | tr '\n' ' '))" >&2
  exit 1
fi
echo "no secret found in $(wc -l < "$log") lines of output"

count() { grep -cE "$1" "$log" || true; }
sum() { { grep -oE "$1" "$log" || true; } | awk '{s+=$'"$2"'} END {print s+0}'; }
passed=$(( $(sum 'test result: ok\. [0-9]+ passed' 4) + $(count '^ok [0-9]+ - ') ))
failed=$(( $(sum '[0-9]+ failed;' 1) + $(count '^not ok [0-9]+ - ') ))
echo "summary: $passed passed, $failed failed"
if [[ $packaging_status != 0 && $failed == 0 ]]; then
  echo "scripts/test-packaging.sh exited with status $packaging_status before reporting a failure" >&2
fi
if [[ $cache_status != 0 && $failed == 0 ]]; then
  echo "t0303 with the cache store exited with status $cache_status before reporting a failure" >&2
fi
[[ $failed == 0 && $packaging_status == 0 && $cache_status == 0 ]]
