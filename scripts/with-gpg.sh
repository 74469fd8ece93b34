#!/bin/sh
# Run a command with a throwaway GnuPG key (no passphrase, so no pinentry) in a temporary
# GNUPGHOME and a `pass` store initialised for it in a temporary PASSWORD_STORE_DIR, both
# exported; then stop the gpg-agent the key started and remove both. Used by scripts/test.sh
# for git's own helper tests with credentialStore=gpg. Needs: gnupg, pass.
#   scripts/with-gpg.sh COMMAND [ARGS...]
set -eu
state=$(mktemp -d)
GNUPGHOME=$state/gnupg
PASSWORD_STORE_DIR=$state/password-store
export GNUPGHOME PASSWORD_STORE_DIR
cleanup() {
  gpgconf --kill gpg-agent 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'with-gpg <with-gpg@example.invalid>' default default never 2>/dev/null
pass init with-gpg@example.invalid >/dev/null
"$@"
