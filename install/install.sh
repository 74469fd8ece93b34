#!/usr/bin/env bash
# Build and install git-credential-bitbucket, then configure git to use it for Bitbucket; or
# remove exactly what it installed.
#
#   install/install.sh [--system] [--url URL]...   build, install, configure
#   install/install.sh --uninstall [--purge]        unconfigure, remove what was installed
#
# Installs into ~/.local (/usr/local when run as root); PREFIX=DIR chooses (for both). The
# options --system and --url go to `git-credential-bitbucket configure` and are remembered,
# so --uninstall runs the matching `unconfigure`. Every file and directory the install
# creates is listed in PREFIX/share/git-credential-bitbucket/install-manifest; --uninstall
# removes those and nothing else. Stored secrets stay unless --purge is given, which first
# runs `logout` for every account `list` shows. See docs/install.md.
#
# Installing needs cargo (Rust >= 1.89); git >= 2.46 is recommended (see README.md).
# BITBUCKET_BUILTIN_OAUTH_CLIENT_ID=KEY BITBUCKET_BUILTIN_OAUTH_CLIENT_SECRET=SECRET compile in
# your own Cloud OAuth consumer (docs/configuration.md#a-built-in-consumer-for-packagers).
set -euo pipefail

usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; }
die() { echo "install: $*" >&2; exit 1; }

mode=install purge=0 configure_args=()
for arg in "$@"; do
  case $arg in
    --uninstall) mode=uninstall ;;
    --purge) purge=1 ;;
    -h | --help) usage; exit 0 ;;
    *) configure_args+=("$arg") ;;
  esac
done
if [[ $mode == uninstall ]] && ((${#configure_args[@]})); then
  die "--uninstall takes only --purge (the configure options given at install time are remembered)"
fi
if [[ $mode == install ]] && ((purge)); then
  die "--purge goes with --uninstall"
fi

if [[ -z ${PREFIX:-} ]]; then
  if [[ $(id -u) == 0 ]]; then PREFIX=/usr/local; else PREFIX=$HOME/.local; fi
fi
PREFIX=$(realpath -m -- "$PREFIX")   # before the cd below, so a relative PREFIX means here
cd "$(dirname "$0")/.."

bin=$PREFIX/bin/git-credential-bitbucket
state_dir=$PREFIX/share/git-credential-bitbucket
manifest=$state_dir/install-manifest
# Manifest lines: `file PATH`, `dir PATH` (a directory the install created), and
# `configure[TAB ARG]...` (one line per distinct set of configure options used).

manifest_entries() { # manifest_entries KIND: the values of that kind, one per line
  [[ -f $manifest ]] || return 0
  local kind=$1 line
  while IFS= read -r line; do
    case $line in
      "$kind "*) printf '%s\n' "${line#"$kind "}" ;;
    esac
  done <"$manifest"
}

# ---------------------------------------------------------------------------------------------
# Uninstall
# ---------------------------------------------------------------------------------------------

# JSON string value of one pretty-printed `"key": "value"` line from `list --json`.
json_field() { # json_field KEY LINE
  local value
  value=$(sed -n 's/^ *"'"$1"'": "\(.*\)",\{0,1\}$/\1/p' <<<"$2")
  value=${value//\\\"/\"}
  value=${value//\\\//\/}
  printf '%s' "${value//\\\\/\\}"
}

purge_accounts() {
  [[ -x $bin ]] || die "--purge needs $bin to sign out the stored accounts, and it is missing"
  local json line url='' user='' count=0
  json=$("$bin" list --json) || die "git-credential-bitbucket list --json failed; nothing was removed"
  while IFS= read -r line; do
    case $line in
      *'"url": '*) url=$(json_field url "$line") ;;
      *'"username": '*)
        user=$(json_field username "$line")
        "$bin" logout "$url" --user "$user" </dev/null ||
          die "could not sign out $user from $url; nothing was removed"
        count=$((count + 1))
        ;;
    esac
  done <<<"$json"
  json=$("$bin" list --json) || die "git-credential-bitbucket list --json failed after signing out"
  [[ $json == "[]" ]] || die "accounts are still stored after signing out (see: $bin list); nothing was removed"
  echo "== signed out $count account(s); their secrets are deleted"
}

unconfigure_all() {
  local line args
  if [[ ! -x $bin ]]; then
    echo "install: $bin is missing, so git's configuration was not changed; remove the" \
      "credential.*.helper entries for git-credential-bitbucket yourself (git config --global --list)" >&2
    return
  fi
  while IFS= read -r line; do
    [[ $line == configure || $line == configure$'\t'* ]] || continue
    args=()
    [[ $line == configure ]] || IFS=$'\t' read -r -a args <<<"${line#configure$'\t'}"
    "$bin" unconfigure "${args[@]}" </dev/null ||
      die "git-credential-bitbucket unconfigure ${args[*]} failed; nothing was removed (fix it and run --uninstall again)"
  done <"$manifest"
}

uninstall() {
  [[ -f $manifest ]] ||
    die "nothing to uninstall: no $manifest (install/install.sh writes it; set PREFIX to the prefix you installed into)"
  echo "== uninstalling from $PREFIX"
  if ((purge)); then purge_accounts; fi
  unconfigure_all
  local path dirs
  # Deepest first: in reverse order, a directory comes before its parent.
  mapfile -t dirs < <(manifest_entries dir | sort -r)
  while IFS= read -r path; do
    rm -f -- "$path"
  done < <(manifest_entries file)
  rm -f -- "$manifest"
  for path in "${dirs[@]}"; do
    if [[ -d $path ]]; then rmdir --ignore-fail-on-non-empty -- "$path"; fi
  done
  if ((purge)); then
    echo "Done. git-credential-bitbucket is removed, and so are its stored secrets."
  else
    echo "Done. git-credential-bitbucket is removed; its stored secrets are kept" \
      "(run --uninstall --purge before removing it to delete them, or reinstall and run logout)."
  fi
}

if [[ $mode == uninstall ]]; then
  uninstall
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# Install
# ---------------------------------------------------------------------------------------------

command -v cargo >/dev/null ||
  die "cargo is not installed; install Rust first (https://rustup.rs), then run this again"

echo "== building (release)"
BITBUCKET_BUILTIN_OAUTH_CLIENT_ID=${BITBUCKET_BUILTIN_OAUTH_CLIENT_ID:-} \
  BITBUCKET_BUILTIN_OAUTH_CLIENT_SECRET=${BITBUCKET_BUILTIN_OAUTH_CLIENT_SECRET:-} \
  cargo build --release --locked --quiet -p git-credential-bitbucket
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
built=$target_dir/release/git-credential-bitbucket
[[ -x $built ]] || die "$built was not built"

new_manifest=$(mktemp)
generated=$(mktemp -d)
trap 'rm -rf "$new_manifest" "$generated"' EXIT

# Directories created now, and those an earlier install created (still ours to remove).
manifest_entries dir | sed 's/^/dir /' >>"$new_manifest"
make_dir() { # make_dir DIR: mkdir -p, recording each directory it creates
  local dir=$1 missing=()
  while [[ ! -d $dir ]]; do
    missing+=("$dir")
    dir=$(dirname -- "$dir")
  done
  mkdir -p -- "$1"
  local created
  for created in "${missing[@]}"; do printf 'dir %s\n' "$created" >>"$new_manifest"; done
}
put() { # put SOURCE DEST MODE
  make_dir "$(dirname -- "$2")"
  install -m "$3" -- "$1" "$2"
  printf 'file %s\n' "$2" >>"$new_manifest"
}

echo "== installing into $PREFIX"
put "$built" "$bin" 0755
"$built" generate-man "$generated/man" 2>/dev/null || die "$built generate-man failed"
for page in "$generated"/man/*.1; do
  put "$page" "$PREFIX/share/man/man1/${page##*/}" 0644
done
"$built" completions bash >"$generated/bash"
"$built" completions zsh >"$generated/zsh"
"$built" completions fish >"$generated/fish"
put "$generated/bash" "$PREFIX/share/bash-completion/completions/git-credential-bitbucket" 0644
put "$generated/zsh" "$PREFIX/share/zsh/site-functions/_git-credential-bitbucket" 0644
put "$generated/fish" "$PREFIX/share/fish/vendor_completions.d/git-credential-bitbucket.fish" 0644

# A file an earlier install wrote and this one did not (a man page of a removed command).
while IFS= read -r old; do
  grep -qxF "file $old" "$new_manifest" || rm -f -- "$old"
done < <(manifest_entries file)

# The configure options of earlier installs stay, so --uninstall undoes them all.
write_manifest() { # write_manifest [EXTRA-LINE]
  {
    echo "# Written by install/install.sh; read by install/install.sh --uninstall."
    { cat "$new_manifest"; grep -E $'^configure(\t|$)' "$manifest" 2>/dev/null || true
      [[ -z ${1:-} ]] || echo "$1"; } | sort -u
  } >"$manifest.tmp"
  mv -f -- "$manifest.tmp" "$manifest"
}
make_dir "$state_dir"
write_manifest

echo "== configuring git"
"$bin" configure "${configure_args[@]}"
# Recorded only once it worked, so that --uninstall never replays a bad option.
this_configure=configure
for arg in "${configure_args[@]}"; do this_configure+=$'\t'$arg; done
write_manifest "$this_configure"

case ":$PATH:" in
  *":$PREFIX/bin:"*) ;;
  *) echo "note: $PREFIX/bin is not on PATH; add it to run git-credential-bitbucket by name (git has its full path)" ;;
esac
"$bin" --version
echo "Done. The next 'git clone https://bitbucket.org/...' signs you in once; see README.md."
echo "To remove it: install/install.sh --uninstall (PREFIX=$PREFIX)."
