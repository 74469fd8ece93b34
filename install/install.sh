#!/usr/bin/env bash
# Build and install git-credential-bitbucket, then configure git to use it for Bitbucket.
#   install/install.sh            installs into ~/.local (or /usr/local when run as root)
#   PREFIX=/opt/x install/install.sh
# Needs cargo (Rust >= 1.89) and git >= 2.46.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "install: cargo is not installed; install Rust first (https://rustup.rs), then run this again" >&2
  exit 1
fi
if [[ -z ${PREFIX:-} ]]; then
  if [[ $(id -u) == 0 ]]; then PREFIX=/usr/local; else PREFIX=$HOME/.local; fi
fi

echo "== building (release)"
cargo build --release --locked --quiet
bin=target/release/git-credential-bitbucket

echo "== installing into $PREFIX"
install -D -m 0755 "$bin" "$PREFIX/bin/git-credential-bitbucket"
if "$bin" generate-man --help >/dev/null 2>&1; then
  mkdir -p "$PREFIX/share/man/man1" "$PREFIX/share/bash-completion/completions" \
           "$PREFIX/share/zsh/site-functions" "$PREFIX/share/fish/vendor_completions.d"
  "$bin" generate-man "$PREFIX/share/man/man1"
  "$bin" completions bash > "$PREFIX/share/bash-completion/completions/git-credential-bitbucket"
  "$bin" completions zsh > "$PREFIX/share/zsh/site-functions/_git-credential-bitbucket"
  "$bin" completions fish > "$PREFIX/share/fish/vendor_completions.d/git-credential-bitbucket.fish"
fi

echo "== configuring git"
"$PREFIX/bin/git-credential-bitbucket" configure "$@"

case ":$PATH:" in
  *":$PREFIX/bin:"*) ;;
  *) echo "note: $PREFIX/bin is not on PATH; git was configured with the helper's full path" ;;
esac
"$PREFIX/bin/git-credential-bitbucket" --version
echo "Done. The next 'git clone https://bitbucket.org/...' signs you in once; see README.md."
