#!/usr/bin/env bash
# Per-trial overhead of two (or more) rigor binaries, interleaved so that a noisy machine
# treats them alike: REPS rounds, each running every binary on 2×N `true` trials with host
# telemetry on and with telemetry off (MODES="on off nopcie" adds GPU telemetry without the
# PCIe counters, `[telemetry] pcie = false`). Overhead per trial = (wall time of the whole
# `rigor run`, start-up and final report included − the sum of the trials' own wall times)
# / trials. Prints each binary's median over the rounds, and every round.
#   bench/overhead-ab.sh REPS N OLD_RIGOR NEW_RIGOR
# e.g. bench/overhead-ab.sh 5 500 /tmp/rigor-before target/release/rigor
set -euo pipefail
REPS=$1
N=$2
shift 2
MODES=${MODES:-on off}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
printf '[experiment]\nname = "off"\ntrials = %s\n[telemetry]\nhost = false\ngpu = false\n[[variant]]\nname = "a"\n[[variant]]\nname = "b"\n[[workload]]\nname = "t"\nkind = "command"\ncommand = "true"\n' "$N" >"$d/off.toml"
sed 's/host = false/host = true/; /^gpu = false$/d' "$d/off.toml" >"$d/on.toml"
sed 's/host = false/host = true\npcie = false/; /^gpu = false$/d' "$d/off.toml" >"$d/nopcie.toml"
for _ in $(seq "$REPS"); do
  for b in "$@"; do
    for m in $MODES; do
      rm -f "$d"/x.db*
      t0=$(date +%s%N)
      "$b" run "$d/$m.toml" --store "$d/x.db" --progress none >/dev/null 2>&1
      t1=$(date +%s%N)
      s=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT sum(wall_s) FROM trial").fetchone()[0])' "$d/x.db")
      echo "$b $m $((t1 - t0)) $s" >>"$d/res"
    done
  done
done
python3 - "$d/res" "$N" <<'PY'
import collections, statistics, sys
res = collections.defaultdict(list)
trials = 2 * int(sys.argv[2])
for line in open(sys.argv[1]):
    b, m, t, s = line.split()
    res[(b, m)].append((int(t) / 1e9 - float(s)) / trials * 1e6)
for (b, m), v in sorted(res.items()):
    print(f"{b:<32} telemetry {m:<4} median {statistics.median(v):6.0f} µs/trial  rounds {[round(x) for x in v]}")
PY
