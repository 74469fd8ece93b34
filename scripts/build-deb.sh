#!/usr/bin/env bash
# Build the Debian package with cargo-deb:
#   scripts/build-deb.sh      -> target/debian/git-credential-bitbucket_VERSION-1_ARCH.deb
# The last line printed on stdout is the .deb's path. See docs/install.md.
#
# It builds the release binary, generates from it what the package ships besides the binary
# (man pages, bash/zsh/fish completions, the Debian copyright file) into target/packaging/,
# then runs `cargo deb --no-build`, which reads [package.metadata.deb] in Cargo.toml.
# Nothing generated here is committed.
#
# Environment, all optional:
#   BITBUCKET_BUILTIN_OAUTH_CLIENT_ID, BITBUCKET_BUILTIN_OAUTH_CLIENT_SECRET
#                      a packager's own Bitbucket Cloud OAuth consumer, compiled into the binary
#                      (passed through to cargo unchanged; never printed)
#   DEBFULLNAME, DEBEMAIL   the package's Maintainer field (Debian's usual variables)
#   GIT_CREDENTIAL_BITBUCKET_COMMIT   the commit --version names, when building outside git
#   CARGO_TARGET_DIR   where cargo builds, as usual
# Needs cargo, and cargo-deb (installed with `cargo install cargo-deb --locked` when missing),
# dpkg-dev (dpkg-shlibdeps, for the shared libraries the binary needs).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "build-deb: $*" >&2; exit 1; }
command -v cargo >/dev/null || die "cargo is not installed; install Rust first (https://rustup.rs)"
command -v dpkg-shlibdeps >/dev/null || die "dpkg-shlibdeps is missing: apt-get install dpkg-dev"
if ! cargo deb --version >/dev/null 2>&1; then
  echo "build-deb: installing cargo-deb 3 (cargo install cargo-deb --locked)" >&2
  cargo install cargo-deb --version '^3.8' --locked --quiet || die "cargo install cargo-deb failed"
fi

if [[ -n ${BITBUCKET_BUILTIN_OAUTH_CLIENT_ID:-} ]]; then
  [[ -n ${BITBUCKET_BUILTIN_OAUTH_CLIENT_SECRET:-} ]] ||
    die "BITBUCKET_BUILTIN_OAUTH_CLIENT_ID is set but BITBUCKET_BUILTIN_OAUTH_CLIENT_SECRET is not"
  echo "build-deb: compiling in the OAuth consumer $BITBUCKET_BUILTIN_OAUTH_CLIENT_ID" >&2
else
  echo "build-deb: no built-in OAuth consumer (people configure their own; docs/configuration.md)" >&2
fi

echo "build-deb: building the release binary" >&2
cargo build --release --locked -p git-credential-bitbucket >&2
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
bin=$target_dir/release/git-credential-bitbucket
[[ -x $bin ]] || die "$bin was not built"

# Paths as in [package.metadata.deb] assets: relative to the repository, whatever the target dir.
gen=target/packaging
rm -rf "$gen"
mkdir -p "$gen/man" "$gen/completions"
"$bin" generate-man "$gen/man" 2>/dev/null || die "$bin generate-man failed"
"$bin" completions bash >"$gen/completions/git-credential-bitbucket"
"$bin" completions zsh >"$gen/completions/_git-credential-bitbucket"
"$bin" completions fish >"$gen/completions/git-credential-bitbucket.fish"

# Debian's machine-readable copyright file: MIT text in full, Apache-2.0 from common-licenses.
{
  cat <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: git-credential-bitbucket
Source: https://github.com/git-credential-bitbucket/git-credential-bitbucket

Files: *
Copyright: 2026 The git-credential-bitbucket developers
License: MIT or Apache-2.0
Comment: The binary also contains Rust crates under their own permissive licenses (MIT,
 Apache-2.0, BSD, ISC and similar); Cargo.lock in the source names them.

License: MIT
EOF
  # Skip the title and copyright lines; a blank line is " ." in this format.
  sed -n '/^Permission/,$p' LICENSE-MIT | sed -e 's/^$/./' -e 's/^/ /'
  cat <<'EOF'

License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0, is in
 /usr/share/common-licenses/Apache-2.0 (and in LICENSE-APACHE in the source).
EOF
} >"$gen/copyright"

maintainer=()
maintainer_line=$(sed -n 's/^maintainer = "\(.*\)"$/\1/p' Cargo.toml)
if [[ -n ${DEBFULLNAME:-} && -n ${DEBEMAIL:-} ]]; then
  maintainer=(--maintainer "$DEBFULLNAME <$DEBEMAIL>")
  maintainer_line="$DEBFULLNAME <$DEBEMAIL>"
fi
[[ -n $maintainer_line ]] || die "no maintainer in [package.metadata.deb] of Cargo.toml"

# The Debian changelog (policy 12.7; Cargo.toml's `changelog`): one entry for this package
# version, signed by the Maintainer, dated by the commit (or SOURCE_DATE_EPOCH) so that two
# builds of one commit give the same file. What changed upstream is in changelog.gz.
version=$(cargo metadata --format-version 1 --no-deps --locked |
  grep -o '"name":"git-credential-bitbucket","version":"[^"]*"' | cut -d'"' -f8)
[[ -n $version ]] || die "cargo metadata named no version"
if [[ -n ${SOURCE_DATE_EPOCH:-} ]]; then
  when=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
elif when=$(git log -1 --format=%cD 2>/dev/null) && [[ -n $when ]]; then
  :
else
  when=$(date -u -R)
fi
cat >"$gen/changelog.Debian" <<EOF
git-credential-bitbucket ($version-1) unstable; urgency=medium

  * Package of upstream version $version; its changes are in changelog.gz
    beside this file.

 -- $maintainer_line  $when
EOF
echo "build-deb: packaging with cargo deb" >&2
deb=$(cargo deb --no-build --locked -p git-credential-bitbucket "${maintainer[@]}" | tail -n 1)
[[ -f $deb ]] || die "cargo deb did not report a .deb (got: $deb)"
echo "$deb"
