#!/usr/bin/env bash
# Harness overhead per run: `rigor compare 'true' 'true' -n N` (host telemetry on, the
# default) and the same two commands with telemetry off (rigor-notel), against
# `hyperfine -N --runs N true`, measured in the same invocation on the same machine.
#
# For each harness:
#   total       wall time of the whole harness invocation (start-up and store included)
#   measured    mean time the harness reports for `true` itself
#   overhead    (total - sum of measured times) / number of runs: what each run costs
#               beyond the timed region (spawn bookkeeping, logs, store commits, output)
# and, from a second invocation with LONG times as many runs, the split of that overhead
# into a per-run (marginal) part and a fixed part (start-up, final store sync, report).
# rigor runs 2 commands, so its runs are 2N trials.
# Run from the repository root after `cargo build --release`.
set -euo pipefail
RUNS=${RUNS:-200}
LONG=${LONG:-4}
ROUNDS=${ROUNDS:-3}
RIGOR=${RIGOR:-target/release/rigor}
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
[ -x "$RIGOR" ] || { echo "build first: cargo build --release" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
now() { date +%s%N; }

printf 'runs per command: %s and %s, rounds: %s (alternating harnesses)\n' "$RUNS" "$((RUNS * LONG))" "$ROUNDS"
for round in $(seq 1 "$ROUNDS"); do
  for n in "$RUNS" "$((RUNS * LONG))"; do
    t0=$(now)
    hyperfine -N --runs "$n" --export-json "$tmp/h$round-$n.json" true >/dev/null 2>&1
    t1=$(now)
    "$RIGOR" compare true true -n "$n" --store "$tmp/r$round-$n.db" --progress none >/dev/null 2>&1
    t2=$(now)
    printf '[experiment]\nname = "overhead-off"\ntrials = %s\n[telemetry]\nhost = false\ngpu = false\n[[variant]]\nname = "a"\n[[variant]]\nname = "b"\n[[workload]]\nname = "t"\nkind = "command"\ncommand = "true"\n' "$n" >"$tmp/off.toml"
    t3=$(now)
    "$RIGOR" run "$tmp/off.toml" --store "$tmp/o$round-$n.db" --progress none >/dev/null 2>&1
    t4=$(now)
    "$RIGOR" report "$tmp/r$round-$n.db" --format json >"$tmp/r$round-$n.json"
    "$RIGOR" report "$tmp/o$round-$n.db" --format json >"$tmp/o$round-$n.json"
    echo "$round $n $((t1 - t0)) $((t2 - t1)) $((t4 - t3))" >>"$tmp/totals"
  done
done

python3 - "$tmp" "$RUNS" "$((RUNS * LONG))" <<'PY'
import json, sys, statistics
tmp, short, long_ = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
res = {}  # (harness, n) -> list of (total s, mean measured s, overhead s)
for line in open(f"{tmp}/totals"):
    rnd, n, th, tr, to = line.split()
    n = int(n)
    h = json.load(open(f"{tmp}/h{rnd}-{n}.json"))["results"][0]["times"]
    walls = lambda f: [v for c in json.load(open(f))["analysis"]["cells"] for v in c["metrics"]["wall_time"]["values"]]
    rw, ow = walls(f"{tmp}/r{rnd}-{n}.json"), walls(f"{tmp}/o{rnd}-{n}.json")
    assert len(h) == n and len(rw) == 2 * n and len(ow) == 2 * n, (len(h), len(rw), len(ow))
    for name, total, times in (("hyperfine", int(th) / 1e9, h), ("rigor", int(tr) / 1e9, rw),
                               ("rigor-notel", int(to) / 1e9, ow)):
        res.setdefault((name, n), []).append((total, statistics.mean(times), total - sum(times), len(times)))
med = lambda name, n, i: statistics.median(x[i] for x in res[(name, n)])
print(f"{'harness':<13}{'total s':>10}{'measured true':>16}{'overhead/run':>15}{'per-run part':>15}{'fixed part':>13}")
out = {}
for name in ("hyperfine", "rigor", "rigor-notel"):
    k = res[(name, short)][0][3]           # timed runs in the short invocation
    kl = res[(name, long_)][0][3]
    marginal = (med(name, long_, 2) - med(name, short, 2)) / (kl - k)
    fixed = med(name, short, 2) - marginal * k
    out[name] = (med(name, short, 2) / k, marginal, med(name, short, 1))
    print(f"{name:<13}{med(name, short, 0):>10.3f}{med(name, short, 1)*1e6:>13.0f} µs"
          f"{med(name, short, 2)/k*1e6:>12.0f} µs{marginal*1e6:>12.0f} µs{fixed*1e3:>10.1f} ms")
for r in ("rigor", "rigor-notel"):
    print(f"ratio {r}/hyperfine at {short} runs: overhead per run {out[r][0]/out['hyperfine'][0]:.2f}x, "
          f"per-run part {out[r][1]/out['hyperfine'][1]:.2f}x, "
          f"measured time of `true` {out[r][2]/out['hyperfine'][2]:.2f}x (medians of {len(res[(r, short)])} rounds)")
PY
