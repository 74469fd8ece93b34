#!/usr/bin/env python3
"""Timing loop and report for bench/bench.sh (standard library only).

  timing.py add SPEC NAME GROUP STDIN OK_CODES [VAR=VALUE...] -- CMD [ARGS...]
      Append a command to the spec file SPEC (JSON lines). STDIN is a file or /dev/null;
      OK_CODES the exit codes that count as success (e.g. 0 or 0,1); VAR=VALUE are
      environment overrides for that command only.
  timing.py rounds SPEC --runs N --warmup W --json OUT
      Run every command of SPEC once per round, in a shuffled order each round (W warm-up
      rounds, then N timed ones), so that load from other processes falls on all of them
      alike. Each run is started with posix_spawn (no shell), stdin from its file, stdout and
      stderr to /dev/null, and timed by the wall clock from spawn to reap. A run that exits
      with another code than OK_CODES stops everything. Writes hyperfine's JSON layout (results[].times in seconds),
      plus "group".
  timing.py stats [--group G] JSON...
      Print "name<TAB>median_ms<TAB>p90_ms<TAB>min_ms" for each result.
  timing.py table --group G --store NAME --libsecret NAME JSON...
      Print the comparison table of group G: median, p90, min, ratios to the two baselines.
"""

import json
import os
import random
import shutil
import statistics
import sys
import time


def percentile(values, q):
    """Linear-interpolated percentile, q in [0, 100]."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def add(args):
    spec, name, group, stdin, ok = args[:5]
    rest = args[5:]
    split = rest.index("--")
    env = dict(kv.split("=", 1) for kv in rest[:split])
    argv = rest[split + 1:]
    with open(spec, "a") as f:
        f.write(json.dumps({"name": name, "group": group, "stdin": stdin, "env": env, "argv": argv,
                            "ok": [int(code) for code in ok.split(",")]}) + "\n")


def options(args, defaults):
    opts = dict(defaults)
    for i in range(0, len(args), 2):
        opts[args[i]] = args[i + 1]
    return opts


def rounds(args):
    spec = args[0]
    opts = options(args[1:], {"--runs": "200", "--warmup": "10"})
    runs, warmup = int(opts["--runs"]), int(opts["--warmup"])
    with open(spec) as f:
        commands = [json.loads(line) for line in f if line.strip()]
    devnull = os.open(os.devnull, os.O_WRONLY)
    for c in commands:
        path = c["argv"][0]
        c["path"] = path if "/" in path else (shutil.which(path) or path)
        c["environ"] = {**os.environ, **c["env"]}
        c["times"] = []
    rng = random.Random(20260101)
    order = list(range(len(commands)))
    for r in range(warmup + runs):
        rng.shuffle(order)
        for i in order:
            c = commands[i]
            stdin = os.open(c["stdin"], os.O_RDONLY)
            actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
                       (os.POSIX_SPAWN_DUP2, devnull, 2)]
            start = time.perf_counter()
            pid = os.posix_spawn(c["path"], c["argv"], c["environ"], file_actions=actions)
            _, status = os.waitpid(pid, 0)
            elapsed = time.perf_counter() - start
            os.close(stdin)
            code = os.waitstatus_to_exitcode(status)
            if code not in c["ok"]:
                sys.exit(f"timing.py: {c['name']} ({' '.join(c['argv'])}) exited with {code}")
            if r >= warmup:
                c["times"].append(elapsed)
    results = []
    for c in commands:
        t = c["times"]
        results.append({
            "command": c["name"], "group": c["group"],
            "mean": statistics.fmean(t), "stddev": statistics.stdev(t) if len(t) > 1 else 0.0,
            "median": statistics.median(t), "min": min(t), "max": max(t),
            "times": t, "exit_codes": [0] * len(t),
        })
    with open(opts["--json"], "w") as f:
        json.dump({"results": results}, f)


def load(files, group=None):
    results = {}
    for name in files:
        with open(name) as f:
            for r in json.load(f)["results"]:
                if group is None or r.get("group", group) == group:
                    results[r["command"]] = r
    return results


def stats(args):
    group = None
    if args and args[0] == "--group":
        group, args = args[1], args[2:]
    for name, r in load(args, group).items():
        print(f"{name}\t{r['median'] * 1e3:.3f}\t{percentile(r['times'], 90) * 1e3:.3f}\t{r['min'] * 1e3:.3f}")


def table(args):
    opts, files, i = {}, [], 0
    while i < len(args):
        if args[i] in ("--group", "--store", "--libsecret"):
            opts[args[i]] = args[i + 1]
            i += 2
        else:
            files.append(args[i])
            i += 1
    results = load(files, opts.get("--group"))
    base_store = results[opts["--store"]]["median"]
    base_libsecret = results[opts["--libsecret"]]["median"]
    header = (f"{'helper':<34} {'median ms':>9} {'p90 ms':>7} {'min ms':>7} {'runs':>5}"
              f" {'vs credential-store':>19} {'vs libsecret':>12}")
    print(header)
    print("-" * len(header))
    def ratio(value, base, width):
        return f"{value / base:>{width}.2f}x" if base > 0 else f"{'n/a':>{width + 1}}"

    for name, r in results.items():
        med = r["median"]
        print(f"{name:<34} {med * 1e3:>9.2f} {percentile(r['times'], 90) * 1e3:>7.2f} {r['min'] * 1e3:>7.2f}"
              f" {len(r['times']):>5} {ratio(med, base_store, 18)} {ratio(med, base_libsecret, 11)}")


def main():
    commands = {"add": add, "rounds": rounds, "stats": stats, "table": table}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
