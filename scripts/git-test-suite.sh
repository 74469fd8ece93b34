#!/usr/bin/env bash
# Build git 2.47.3's test tree (just enough to run t0303-credential-external.sh, git's tests
# for credential helpers) and print the path of its t/ directory on stdout.
#
# The source comes from Debian's source package through a private apt state directory (the
# system's apt sources are not changed); the build is cached in $GIT_TEST_SUITE_DIR
# (default ~/.cache/git-test-suite), so a second run only prints the path.
set -euo pipefail
version=2.47.3
cache=${GIT_TEST_SUITE_DIR:-$HOME/.cache/git-test-suite}
tree=$cache/git-$version
if [[ -x $tree/git && -f $tree/t/t0303-credential-external.sh ]]; then
  echo "$tree/t"
  exit 0
fi

mkdir -p "$cache/apt/lists/partial" "$cache/apt/sources"
# Use the Debian mirror this machine is already configured with.
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
if [[ -z $mirror ]]; then
  mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
[[ -n $mirror ]] || { echo "git-test-suite: no Debian mirror configured" >&2; exit 1; }
printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
  "$mirror" > "$cache/apt/sources/git-src.sources"
apt_private=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$cache/apt/sources"
             -o "Dir::State::Lists=$cache/apt/lists")
apt-get "${apt_private[@]}" update >&2
(cd "$cache" && apt-get "${apt_private[@]}" source --download-only "git=1:$version-0+deb13u1" >&2)

rm -rf "$tree"
mkdir -p "$tree"
tar -xf "$cache/git_$version.orig.tar.xz" -C "$tree" --strip-components=1
make -C "$tree" -j"$(nproc)" NO_CURL=1 NO_TCLTK=1 NO_GETTEXT=1 NO_EXPAT=1 NO_OPENSSL=1 NO_PERL=1 NO_PYTHON=1 >&2
echo "$tree/t"
