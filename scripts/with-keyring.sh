#!/bin/sh
# Run a command inside a private D-Bus session with a fresh, unlocked gnome-keyring (the real
# Secret Service), then tear both down. Used by .ci/run for git's own helper tests and by the
# benchmark. Needs: dbus (dbus-run-session), gnome-keyring, dbus-x11 or dbus-send.
#   scripts/with-keyring.sh COMMAND [ARGS...]
set -eu
if [ -z "${WITH_KEYRING_INNER:-}" ]; then
  WITH_KEYRING_INNER=1 exec dbus-run-session -- "$0" "$@"
fi
unset WITH_KEYRING_INNER
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
mkdir -m 700 "$state/run"
# A private keyring directory: a keyring left by an earlier run with another password would
# unlock "successfully" and then refuse writes.
printf 'with-keyring' | HOME=$state XDG_DATA_HOME=$state/data XDG_RUNTIME_DIR=$state/run \
  gnome-keyring-daemon --unlock --components=secrets >/dev/null
# --unlock returns before the daemon owns the bus name: wait for it (bounded).
i=0
until dbus-send --session --dest=org.freedesktop.DBus --print-reply /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true; do
  i=$((i + 1))
  if [ "$i" -gt 200 ]; then
    echo "with-keyring: gnome-keyring did not come up on the session bus" >&2
    exit 1
  fi
  sleep 0.05
done
"$@"
