#!/usr/bin/env bash
# Harness overhead per run: `rigor compare 'true' 'true' -n N` against
# `hyperfine -N --runs N true`, measured in the same invocation on the same machine.
#
# For each harness:
#   total       wall time of the whole harness invocation (start-up and store included)
#   measured    mean time the harness reports for `true` itself
#   overhead    (total - sum of measured times) / number of runs: what each run costs
#               beyond the timed region (spawn bookkeeping, logs, store commits, output)
# Run from the repository root after `cargo build --release`.
set -euo pipefail
RUNS=${RUNS:-200}
ROUNDS=${ROUNDS:-3}
RIGOR=${RIGOR:-target/release/rigor}
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
[ -x "$RIGOR" ] || { echo "build first: cargo build --release" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
now() { date +%s%N; }

printf 'runs per command: %s, rounds: %s (alternating harnesses)\n' "$RUNS" "$ROUNDS"
for round in $(seq 1 "$ROUNDS"); do
  t0=$(now)
  hyperfine -N --runs "$RUNS" --export-json "$tmp/h$round.json" true >/dev/null 2>&1
  t1=$(now)
  "$RIGOR" compare true true -n "$RUNS" --store "$tmp/r$round.db" --progress none >/dev/null 2>&1
  t2=$(now)
  "$RIGOR" report "$tmp/r$round.db" --format json >"$tmp/r$round.json"
  echo "$round $((t1 - t0)) $((t2 - t1))" >>"$tmp/totals"
done

python3 - "$tmp" "$RUNS" <<'PY'
import json, sys, statistics
tmp, runs = sys.argv[1], int(sys.argv[2])
rows = []
for line in open(f"{tmp}/totals"):
    rnd, th, tr = line.split()
    h = json.load(open(f"{tmp}/h{rnd}.json"))["results"][0]["times"]
    r = json.load(open(f"{tmp}/r{rnd}.json"))
    rw = [v for c in r["analysis"]["cells"] for v in c["metrics"]["wall_time"]["values"]]
    assert len(h) == runs and len(rw) == 2 * runs, (len(h), len(rw))
    th, tr = int(th) / 1e9, int(tr) / 1e9
    rows.append((th, statistics.mean(h), (th - sum(h)) / len(h), tr, statistics.mean(rw), (tr - sum(rw)) / len(rw)))
med = lambda i: statistics.median(x[i] for x in rows)
print(f"{'harness':<12}{'total s':>10}{'measured true':>16}{'overhead/run':>15}")
print(f"{'hyperfine':<12}{med(0):>10.3f}{med(1)*1e6:>13.0f} µs{med(2)*1e6:>12.0f} µs")
print(f"{'rigor':<12}{med(3):>10.3f}{med(4)*1e6:>13.0f} µs{med(5)*1e6:>12.0f} µs")
print(f"ratio rigor/hyperfine: overhead per run {med(5)/med(2):.2f}x, measured time of `true` {med(4)/med(1):.2f}x (medians of {len(rows)} rounds)")
PY
