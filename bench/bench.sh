#!/usr/bin/env bash
# Benchmark of `git-credential-bitbucket get` against git's own helpers, in one run:
#   ours (credentialStore=keyring)     vs  git-credential-libsecret (git 2.47.3 contrib)
#   ours (credentialStore=plaintext)   vs  git credential-store --file F
# all answering the same 2,625-byte secret from the same fresh gnome-keyring (or file), with a
# fake Bitbucket configured as the host's Cloud endpoints that counts any request made.
#
#   bench/bench.sh            (from any directory; no stdin needed; see docs/performance.md)
#
# How: every helper's `get` and a few pieces of ours (start-up, a lone `git config` call, ...)
# run BENCH_N rounds in a shuffled order, each run a whole process spawned without a shell with
# stdin from a file (bench/timing.py); medians, p90 and ratios are printed. hyperfine, when
# installed, times the same gets again as a cross-check (hyperfine < 1.17 has no --input, so
# there `sh` redirects stdin and hyperfine subtracts its start-up).
#
# Environment: BENCH_N (timed runs per command, default 200), BENCH_WARMUP (default 10),
# BENCH_PRIORITY (rt, the default when root: chrt --fifo 10; nice: nice -n -10; none),
# BENCH_CROSSCHECK=0 to skip hyperfine, BENCH_PROBE=1 to also build and run
# bench/keyring-probe (the pieces of one Secret Service look-up), BENCH_STRICT=1 to also exit
# non-zero when a speed target or the no-child-process rule is missed, GIT_TEST_SUITE_SCRIPT
# (default scripts/git-test-suite.sh of this clone, which builds git 2.47.3's tree once).
#
# Exits non-zero when a build or a helper fails, when a helper does not answer the stored
# secret, or when the fake Bitbucket saw any request.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
N=${BENCH_N:-200}
WARMUP=${BENCH_WARMUP:-10}
CROSSCHECK=${BENCH_CROSSCHECK:-1}
STRICT=${BENCH_STRICT:-0}

say() { printf '%s\n' "$*"; }
note() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------------------
# Outer part: tools, builds, then re-run this script inside a private keyring session.
# ---------------------------------------------------------------------------------------------
if [[ -z ${BENCH_INNER:-} ]]; then
  apt_install() {
    [[ $(id -u) == 0 ]] && have apt-get || return 1
    note "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2 ||
      { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2; }
  }
  need() { # need COMMAND PACKAGE: required tool
    have "$1" || apt_install "$2" || die "$1 is missing (Debian package $2)"
  }
  want() { # want COMMAND PACKAGE: optional tool
    have "$1" || apt_install "$2" || note "$1 is missing (Debian package $2): that part is skipped"
  }
  need python3 python3
  need cargo cargo
  need make make
  need gcc gcc
  need pkg-config pkg-config
  need dbus-run-session dbus
  need dbus-send dbus-bin
  need gnome-keyring-daemon gnome-keyring
  pkg-config --exists libsecret-1 || apt_install libsecret-1-dev || die "libsecret-1-dev is missing"
  want hyperfine hyperfine
  [[ -x /usr/bin/time ]] || apt_install time || note "/usr/bin/time is missing (package time): no peak RSS"
  want strace strace

  cd "$root"
  note "building the helper and the fake Bitbucket (release)"
  cargo build --release -p git-credential-bitbucket >&2
  cargo build --release -p bitbucket-test-support --bin fake-bitbucket >&2
  target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  helper=$target_dir/release/git-credential-bitbucket
  fake=$target_dir/release/fake-bitbucket
  [[ -x $helper && -x $fake ]] || die "release binaries not found under $target_dir/release"

  probe=
  if [[ ${BENCH_PROBE:-0} == 1 ]]; then
    note "building bench/keyring-probe (release)"
    cargo build --release --manifest-path "$here/keyring-probe/Cargo.toml" \
      --target-dir "$target_dir/keyring-probe" >&2
    probe=$target_dir/keyring-probe/release/keyring-probe
  fi

  note "building git 2.47.3's contrib/credential/libsecret"
  # The project's own script (cached in ~/.cache/git-test-suite): works from any clone.
  suite_script=${GIT_TEST_SUITE_SCRIPT:-$root/scripts/git-test-suite.sh}
  [[ -f $suite_script ]] || die "$suite_script not found"
  tdir=$(bash "$suite_script" | tail -n 1)
  libsecret_dir=$(cd "$tdir/../contrib/credential/libsecret" && pwd)
  make -C "$libsecret_dir" >&2
  libsecret=$libsecret_dir/git-credential-libsecret
  [[ -x $libsecret ]] || die "$libsecret was not built"

  work=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # Other work on the machine (builds, fuzzers) skews millisecond timings. When root, run the
  # whole measurement, gnome-keyring and dbus-daemon included, ahead of it: BENCH_PRIORITY=rt
  # (default: chrt --fifo 10, as on an idle machine; other work waits while a measured process
  # runs, within the kernel's real-time throttling), nice (nice -n -10), or none.
  prio=()
  case ${BENCH_PRIORITY:-rt} in
    rt | nice)
      if [[ ${BENCH_PRIORITY:-rt} == rt ]] && have chrt && chrt --fifo 10 true 2>/dev/null; then
        prio=(chrt --fifo 10)
      elif nice -n -10 true 2>/dev/null && [[ $(id -u) == 0 ]]; then
        prio=(nice -n -10)
      fi ;;
    none) ;;
    *) die "BENCH_PRIORITY must be nice, rt or none" ;;
  esac
  status=0
  BENCH_INNER=1 BENCH_WORK=$work BENCH_HELPER=$helper BENCH_FAKE=$fake \
    BENCH_LIBSECRET=$libsecret BENCH_PROBE_BIN=$probe \
    "${prio[@]}" "$root/scripts/with-keyring.sh" bash "$here/$(basename "${BASH_SOURCE[0]}")" || status=$?
  exit "$status"
fi

# ---------------------------------------------------------------------------------------------
# Inner part: inside the private D-Bus session with an unlocked gnome-keyring.
# ---------------------------------------------------------------------------------------------
work=$BENCH_WORK
helper=$BENCH_HELPER
libsecret=$BENCH_LIBSECRET
timing=$here/timing.py
fake_pid=

cleanup() {
  if [[ -n $fake_pid ]] && kill -0 "$fake_pid" 2>/dev/null; then
    kill -TERM "$fake_pid" 2>/dev/null || true
    wait "$fake_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# Nothing from the caller's environment may change what the helpers do.
for var in $(compgen -e); do
  case $var in
    GIT_BITBUCKET_* | BITBUCKET_* | bitbucketKey | bitbucketSecret | GIT_CONFIG* | GIT_TRACE* | \
      GIT_DIR | GIT_WORK_TREE | GIT_ASKPASS | SSH_ASKPASS | GIT_TERMINAL_PROMPT) unset "$var" ;;
  esac
done
mkdir -p "$work/home" "$work/run" "$work/json" "$work/plain" "$work/strace"
export HOME=$work/home XDG_CONFIG_HOME=$work/home/.config XDG_DATA_HOME=$work/home/.local/share
export GIT_CONFIG_NOSYSTEM=1 GIT_CEILING_DIRECTORIES=$work GIT_TERMINAL_PROMPT=0
cd "$work/run" # not inside any repository

# The secret: 2,625 URL-safe characters, the size of today's Bitbucket access tokens.
secret=$(python3 -c 'import secrets,string; a=string.ascii_letters+string.digits+"-_"; print("".join(secrets.choice(a) for _ in range(2625)))')
[[ ${#secret} == 2625 ]] || die "secret generation failed"

# The fake Bitbucket: any request a helper made would be counted here.
"$BENCH_FAKE" --user "alice:alice@example.com:$secret" --counts-file "$work/counts" --until-signal \
  >"$work/fake.out" 2>"$work/fake.err" </dev/null &
fake_pid=$!
base_url=
for _ in $(seq 100); do
  base_url=$(sed -n 's/^base_url=//p' "$work/fake.out" 2>/dev/null | head -n 1)
  [[ -n $base_url ]] && break
  kill -0 "$fake_pid" 2>/dev/null || die "fake-bitbucket exited: $(cat "$work/fake.err")"
  sleep 0.05
done
[[ -n $base_url ]] || die "fake-bitbucket printed no base_url"
base_url=${base_url%/}
hostport=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).netloc)' "$base_url")
url=http://$hostport

# Our helper's configuration: the fake's host is Bitbucket Cloud, with the fake as its Cloud
# and API URLs. One file per store; GIT_CONFIG_GLOBAL picks one.
cfg_keyring=$work/home/gitconfig-keyring
cfg_plain=$work/home/gitconfig-plaintext
for cfg in "$cfg_keyring" "$cfg_plain"; do
  git config --file "$cfg" "credential.$url.provider" bitbucket
  git config --file "$cfg" "credential.$url.bitbucketDeployment" cloud
  git config --file "$cfg" "credential.$url.bitbucketCloudUrl" "$base_url"
  git config --file "$cfg" "credential.$url.bitbucketCloudApiUrl" "$base_url"
  git config --file "$cfg" "credential.$url.interactive" false
done
git config --file "$cfg_keyring" "credential.$url.credentialStore" keyring
git config --file "$cfg_plain" "credential.$url.credentialStore" plaintext
git config --file "$cfg_plain" "credential.$url.plaintextStorePath" "$work/plain/credentials.json"
export GIT_CONFIG_GLOBAL=$cfg_keyring

store_file=$work/git-credentials
get_input=$work/get.in
store_input=$work/store.in
printf 'protocol=http\nhost=%s\nusername=alice\n' "$hostport" >"$get_input"
printf 'protocol=http\nhost=%s\nusername=alice\npassword=%s\n\n' "$hostport" "$secret" >"$store_input"

names=("ours(keyring)" "ours(plaintext)" "git credential-store" "git-credential-libsecret")
declare -A cfg_of=(
  ["ours(keyring)"]=$cfg_keyring ["ours(plaintext)"]=$cfg_plain
  ["git credential-store"]=$cfg_keyring ["git-credential-libsecret"]=$cfg_keyring)
argv_of() { # argv_of NAME: sets the array argv to the helper's command before the operation
  case $1 in
    "ours(keyring)" | "ours(plaintext)") argv=("$helper") ;;
    "git credential-store") argv=(git credential-store --file "$store_file") ;;
    "git-credential-libsecret") argv=("$libsecret") ;;
    *) die "unknown helper $1" ;;
  esac
}
run_op() { # run_op NAME OPERATION < input
  local argv
  argv_of "$1"
  GIT_CONFIG_GLOBAL=${cfg_of[$1]} "${argv[@]}" "$2"
}

# Store the same secret with each helper, then check each answers it (not timed).
for name in "${names[@]}"; do
  run_op "$name" store <"$store_input" >/dev/null || die "$name: store failed"
done
for name in "${names[@]}"; do
  answer=$(run_op "$name" get <"$get_input") || die "$name: get failed"
  grep -qxF "password=$secret" <<<"$answer" || die "$name: get did not answer the stored password"
done
# The same look-ups as git makes them: `git credential fill` with only that helper configured
# (git starts the helper through sh, and `git credential-store` is git itself).
fill_input=$work/fill.in
printf 'protocol=http\nhost=%s\nusername=alice\n\n' "$hostport" >"$fill_input"
helper_value() { # helper_value NAME: its credential.helper value
  case $1 in
    "ours(keyring)" | "ours(plaintext)") printf '%s' "$helper" ;;
    "git credential-store") printf 'store --file %s' "$store_file" ;;
    "git-credential-libsecret") printf '%s' "$libsecret" ;;
  esac
}
fill_argv() { # fill_argv NAME: sets the array argv to a `git credential fill` using that helper
  argv=(git -c credential.helper= -c "credential.helper=$(helper_value "$1")" credential fill)
}
for name in "${names[@]}"; do
  fill_argv "$name"
  answer=$(GIT_CONFIG_GLOBAL=${cfg_of[$name]} "${argv[@]}" <"$fill_input") || die "$name: git credential fill failed"
  grep -qxF "password=$secret" <<<"$answer" || die "$name: git credential fill did not answer the stored password"
done
counts_after_store=$(cat "$work/counts")

# How many processes one `get` of ours starts, and whether it opens an internet socket.
strace_report=()
children_total=0
if have strace; then
  for name in "ours(keyring)" "ours(plaintext)"; do
    rm -rf "$work/strace" && mkdir "$work/strace"
    GIT_CONFIG_GLOBAL=${cfg_of[$name]} strace -f -ff -qq -e trace=process,network -o "$work/strace/t" \
      "$helper" get <"$get_input" >/dev/null
    # -ff: one file per thread or process; a child process is one that execs something.
    line=$(python3 - "$work/strace" "$helper" <<'PY'
import os, re, sys
d, helper = sys.argv[1], sys.argv[2]
threads = children = git = config = failed = inet = 0
argvs = []
for f in sorted(os.listdir(d)):
    text = open(os.path.join(d, f)).read()
    ok = re.findall(r'^execve\("([^"]*)", \[(.*?)\].*= 0$', text, re.M)
    failed += len(re.findall(r'^execve\(.*= -1 ', text, re.M))
    inet += len(re.findall(r'^socket\(AF_INET6?,', text, re.M))
    if any(path == helper for path, _ in ok):
        continue
    if not ok:
        threads += 1
        continue
    children += 1
    for path, argv in ok:
        argvs.append(argv.replace('"', "").replace(",", ""))
        if os.path.basename(path) == "git":
            git += 1
            config += '"config"' in argv
print(children, f"{children} child process(es), {git} of them git, {config} 'git config' "
      f"[{'; '.join(argvs)}]; {threads} other thread(s); {failed} failed execve while searching PATH; "
      f"{inet} internet socket(s)")
PY
)
    strace_report+=("$name: ${line#* }")
    children_total=$((children_total + ${line%% *}))
  done
fi

git_version=$(git --version)
say "== git-credential-bitbucket get benchmark"
say "date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "machine:   $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), scheduling $(ps -o cls=,ni=,rtprio= -p $$ | awk '{print $1" nice="$2" rtprio="$3}')"
say "helper:    $("$helper" --version) ($helper)"
say "baselines: $git_version ($(command -v git) credential-store --file F); git-credential-libsecret built from git 2.47.3's contrib"
say "secret:    ${#secret} URL-safe bytes, stored with each helper's own 'store'; $(gnome-keyring-daemon --version 2>/dev/null | head -n 1) in a private D-Bus session"
say "fake:      $base_url as Bitbucket Cloud (provider=bitbucket, bitbucketDeployment=cloud, bitbucketCloudUrl/ApiUrl)"
say "timing:    bench/timing.py: $N rounds (+ $WARMUP warm-up) of every command below in a shuffled order, each"
say "           run spawned without a shell (posix_spawn), stdin from the request file, timed spawn to reap"
say ""

# Time N sequential `get`s of each helper, the whole process, and the pieces of ours, all
# interleaved round by round.
spec=$work/spec.jsonl
: >"$spec"
for name in "${names[@]}"; do
  argv_of "$name"
  python3 "$timing" add "$spec" "$name" get "$get_input" 0 "GIT_CONFIG_GLOBAL=${cfg_of[$name]}" -- "${argv[@]}" get
done
for name in "${names[@]}"; do
  fill_argv "$name"
  python3 "$timing" add "$spec" "fill: $name" fill "$fill_input" 0 "GIT_CONFIG_GLOBAL=${cfg_of[$name]}" -- "${argv[@]}"
done
request_url="http://alice@$hostport/"
python3 "$timing" add "$spec" "exec floor: /bin/true" piece /dev/null 0 -- /bin/true
python3 "$timing" add "$spec" "ours --version" piece /dev/null 0 -- "$helper" --version
python3 "$timing" add "$spec" "ours get < /dev/null (exits before any request)" piece /dev/null 0 \
  "GIT_CONFIG_GLOBAL=$cfg_keyring" -- "$helper" get
python3 "$timing" add "$spec" "git --version" piece /dev/null 0 -- git --version
python3 "$timing" add "$spec" "git config --null --get-urlmatch credential URL" piece /dev/null 0 \
  "GIT_CONFIG_GLOBAL=$cfg_keyring" -- git config --null --get-urlmatch credential "$request_url"
if have secret-tool; then
  # the item git-credential-libsecret stored, by its attributes
  python3 "$timing" add "$spec" "secret-tool lookup (same item)" piece /dev/null 0 -- \
    secret-tool lookup protocol http server "${hostport%:*}" port "${hostport##*:}" user alice
fi
if have dbus-send; then
  # a process that connects to the session bus and makes one call to gnome-keyring
  python3 "$timing" add "$spec" "dbus-send Peer.Ping to gnome-keyring" piece /dev/null 0 -- \
    dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
    org.freedesktop.DBus.Peer.Ping
fi
python3 "$timing" rounds "$spec" --runs "$N" --warmup "$WARMUP" --json "$work/json/rounds.json"

say "== get: whole process, $N runs each (wall clock, ms)"
python3 "$timing" table --group get --store "git credential-store" --libsecret "git-credential-libsecret" \
  "$work/json/rounds.json"
declare -A med
while IFS=$'\t' read -r name m _; do med[$name]=$m; done < <(python3 "$timing" stats "$work/json/rounds.json")
ratio() { python3 -c 'import sys; a, b = map(float, sys.argv[1:]); print(f"{a / b:.2f}" if b > 0 else "n/a")' "$1" "$2"; }
verdict() { python3 -c 'import sys; print("met" if float(sys.argv[1]) <= float(sys.argv[2]) else "MISSED")' "$1" "$2"; }
r_keyring=$(ratio "${med[ours(keyring)]}" "${med[git-credential-libsecret]}")
r_plain=$(ratio "${med[ours(plaintext)]}" "${med[git credential-store]}")
r_fill=$(ratio "${med[fill: ours(plaintext)]}" "${med[fill: git credential-store]}")
missed=0
[[ $(verdict "$r_keyring" 0.6) == met ]] || missed=1
[[ $(verdict "$r_plain" 1.3) == met ]] || missed=1
[[ $(verdict "$r_fill" 1.1) == met ]] || missed=1
say ""
say "headline: ours(keyring) / libsecret          = ${r_keyring}x  (target <= 0.6x: $(verdict "$r_keyring" 0.6))"
say "headline: ours(plaintext) / credential-store = ${r_plain}x  (target <= 1.3x: $(verdict "$r_plain" 1.3))"
say "headline: through git credential fill, ours(plaintext) / credential-store = ${r_fill}x  (target <= 1.1x: $(verdict "$r_fill" 1.1))"
say ""
say "== as git sees it: git credential fill with only that helper configured, $N runs each (ms)"
python3 "$timing" table --group fill --store "fill: git credential-store" --libsecret "fill: git-credential-libsecret" \
  "$work/json/rounds.json"

say ""
say "== pieces, timed alone in the same rounds (ms)"
printf '%-50s %9s %7s %7s\n' "command" "median" "p90" "min"
python3 "$timing" stats --group piece "$work/json/rounds.json" |
  awk -F'\t' '{printf "%-50s %9.2f %7.2f %7.2f\n", $1, $2, $3, $4}'
python3 - "${med[ours(keyring)]}" "${med[ours(plaintext)]}" "${med[ours --version]}" \
  "${med[ours get < /dev/null (exits before any request)]}" \
  "${med[git config --null --get-urlmatch credential URL]}" <<'PY'
import sys
keyring, plain, version, empty, urlmatch = map(float, sys.argv[1:6])
print("breakdown of ours' median get (differences of the medians above, ms):")
print(f"  {empty:6.2f}  process start, reading an empty request, exit (get < /dev/null)")
print(f"  {plain - empty:6.2f}  the rest with credentialStore=plaintext (parse, git's config read in the process,"
      f" file read, answer) = {plain:.2f} total")
print(f"  {keyring - empty:6.2f}  the rest with credentialStore=keyring (config, Secret Service look-up, answer)"
      f" = {keyring:.2f} total")
print(f"  ({urlmatch:.2f}  what a git config --null --get-urlmatch child would add: timed alone, not run by a get)")
print(f"  ({version:.2f}  --version, which builds clap's command tree; get, store and erase skip it)")
PY

if ((CROSSCHECK)) && have hyperfine; then
  # hyperfine runs each command in its own block (not interleaved). Before 1.17 it has no
  # --input, so sh does the redirection and hyperfine subtracts its mean start-up time.
  hjsons=()
  for name in "${names[@]}"; do
    argv_of "$name"
    json=$work/json/hyperfine-${#hjsons[@]}.json
    cmd="$(printf '%q ' "${argv[@]}")get"
    if [[ $(hyperfine --help 2>/dev/null) == *--input* ]]; then
      mode="hyperfine -N --input"
      GIT_CONFIG_GLOBAL=${cfg_of[$name]} hyperfine -N --input "$get_input" --warmup "$WARMUP" \
        --runs "$N" --style none --export-json "$json" -n "$name" "$cmd" >/dev/null 2>&1
    else
      mode="hyperfine --shell=sh 'exec CMD < FILE' (shell start-up subtracted)"
      GIT_CONFIG_GLOBAL=${cfg_of[$name]} hyperfine --shell=sh --warmup "$WARMUP" --runs "$N" \
        --style none --export-json "$json" -n "$name" "exec $cmd < $(printf '%q' "$get_input")" >/dev/null 2>&1
    fi
    hjsons+=("$json")
  done
  declare -A hmed
  while IFS=$'\t' read -r name m _; do hmed[$name]=$m; done < <(python3 "$timing" stats "${hjsons[@]}")
  say ""
  say "== cross-check: $mode $(hyperfine --version | awk '{print $2}'), one block of $N runs per helper (ms)"
  python3 "$timing" table --store "git credential-store" --libsecret "git-credential-libsecret" "${hjsons[@]}"
  say "cross-check: ours(keyring) / libsecret = $(ratio "${hmed[ours(keyring)]}" "${hmed[git-credential-libsecret]}")x, ours(plaintext) / credential-store = $(ratio "${hmed[ours(plaintext)]}" "${hmed[git credential-store]}")x"
fi

say ""
say "== peak RSS of one get (KiB, /usr/bin/time -f %M: the largest of the process and the children it waited for)"
if [[ -x /usr/bin/time ]]; then
  for name in "${names[@]}"; do
    argv_of "$name"
    GIT_CONFIG_GLOBAL=${cfg_of[$name]} /usr/bin/time -f %M -o "$work/rss" "${argv[@]}" get \
      <"$get_input" >/dev/null
    rss=$(tail -n 1 "$work/rss")
    printf '%-26s %6s\n' "$name" "$rss"
    if [[ $name == ours* ]] && ((rss > 6144)); then
      say "MISSED: $name peaked above 6 MiB"
      missed=1
    fi
  done
else
  say "skipped: /usr/bin/time is missing (Debian package time)"
fi

say ""
say "== release binary"
size=$(stat -c %s "$helper")
if have strip; then strip -o "$work/stripped" "$helper"; else cp "$helper" "$work/stripped"; fi
ssize=$(stat -c %s "$work/stripped")
python3 -c 'import sys; b, s = int(sys.argv[1]), int(sys.argv[2]); print(f"as built: {b} bytes ({b / 2**20:.2f} MiB); stripped: {s} bytes ({s / 2**20:.2f} MiB)")' "$size" "$ssize"
if ((ssize > 6 * 1024 * 1024)); then
  say "MISSED: the stripped binary is over 6 MiB"
  missed=1
fi
say "--version: median ${med[ours --version]} ms (exec floor /bin/true ${med[exec floor: /bin/true]} ms)"

say ""
say "== processes one get of ours starts (strace -f -e trace=process,network)"
if have strace; then
  printf '%s\n' "${strace_report[@]}"
  if ((children_total > 0)); then
    say "MISSED: a get of ours started $children_total child process(es) (target: none)"
    missed=1
  else
    say "ok: no child process per get"
  fi
else
  say "skipped: strace is missing (Debian package strace)"
fi

if [[ -n ${BENCH_PROBE_BIN:-} ]]; then
  say ""
  say "== bench/keyring-probe: the pieces of one Secret Service look-up (BENCH_PROBE=1)"
  "$BENCH_PROBE_BIN"
fi

say ""
say "== requests seen by the fake Bitbucket"
counts=$(cat "$work/counts")
say "after the stores:        $counts_after_store"
say "after all the get calls: $counts"
bad=$(python3 - "$counts" <<'PY'
import sys
fields = dict(kv.split("=") for kv in sys.argv[1].split()[1:])
print(" ".join(f"{k}={v}" for k, v in fields.items() if int(v) != 0))
PY
)
if [[ -n $bad ]]; then
  say "FAILED: network requests were made ($bad); a get with a fresh stored token must make none"
  exit 1
fi
say "ok: zero requests (git, REST, token, authorize, other)"
if ((STRICT && missed)); then
  say "BENCH_STRICT=1: a target was missed"
  exit 1
fi
