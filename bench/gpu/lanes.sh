#!/usr/bin/env bash
# Issue 20's acceptance on a machine with two GPUs (device kind nvidia-h200-x2), results in $1:
#   one.db / two.db   examples/gpu-matmul.toml as it is (one trial at a time, GPU 0) and with
#                     `lanes = { gpus = [0, 1], isolation = ISO }`: wall time of each run,
#                     verdicts, the lane effect and the isolation check in the reports
#   kill.db           a short two-lane run (numa = true) killed with -9 while both lanes are
#                     busy, then resumed: exactly the planned trials, leftover trials stopped
#   ./lanes.sh OUT    (from the repository root, target/release/rigor built)
# ISO=N alone trials (default 2), COOLDOWN=… overrides the example's cooldown for the
# two-lane run, SKIP_ONE=1 / SKIP_KILL=1 leave out the one-lane run / the kill test.
set -uo pipefail
cd "$(dirname "$0")/../.."
W=${1:?results directory}; mkdir -p "$W"
R=$PWD/target/release/rigor
ISO=${ISO:-2}
now() { date +%s.%N; }
nvidia-smi -L
nvidia-smi topo -m 2>/dev/null | head -5
"$R" env | head -40 > "$W/env.txt"

# Two lanes first: it is the new part. Same file, one line added to [experiment].
sed "0,/^order = /s/^order = .*/&\nlanes = { gpus = [0, 1], isolation = $ISO }/" \
  examples/gpu-matmul.toml > "$W/two.toml"
sed -i 's/^name = "gpu-matmul"/name = "gpu-matmul-lanes"/' "$W/two.toml"
# COOLDOWN=0s: lanes never idle between trials, so every trial runs beside a busy lane.
[ -n "${COOLDOWN:-}" ] && sed -i "s/^cooldown = .*/cooldown = \"$COOLDOWN\"/" "$W/two.toml"
"$R" plan "$W/two.toml" --show 12
t0=$(now); "$R" run "$W/two.toml" --store "$W/two.db" --progress lines > "$W/two.log" 2>&1; rc2=$?; t1=$(now)
echo "two lanes: rc $rc2, $(python3 -c "print(round($t1 - $t0, 1))") s"
tail -25 "$W/two.log"

if [ "${SKIP_ONE:-0}" != 1 ]; then
  t0=$(now); "$R" run examples/gpu-matmul.toml --store "$W/one.db" --progress lines > "$W/one.log" 2>&1; rc1=$?; t1=$(now)
  echo "one lane: rc $rc1, $(python3 -c "print(round($t1 - $t0, 1))") s"
  tail -12 "$W/one.log"
fi

# Kill -9 while both lanes run, then resume.
if [ "${SKIP_KILL:-0}" != 1 ]; then
cat > "$W/kill.toml" <<'TOML'
[experiment]
name = "lanes-kill"
seed = 3
trials = 4
warmup = 1
lanes = { gpus = [0, 1], numa = true, isolation = 2 }
[telemetry]
interval = "10ms"
gpu = true
[[workload]]
name = "matmul"
kind = "gemm"
m = 8192
n = 8192
k = 8192
iterations = 200
params.dtype = ["bf16", "fp16"]
TOML
"$R" plan "$W/kill.toml" --show 20
"$R" run "$W/kill.toml" --store "$W/kill.db" --progress none > "$W/kill1.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  n=$(python3 -c "import sqlite3;print(sqlite3.connect('$W/kill.db').execute('select count(*) from trial').fetchone()[0])" 2>/dev/null || echo 0)
  [ "$n" -ge 6 ] && break; sleep 0.1
done
sleep 0.5
echo "before kill: $n trials stored; trials running:"; ps -eo pid,pgid,args | grep "[p]robe gemm" | head
kill -9 $pid; wait $pid 2>/dev/null
"$R" run "$W/kill.toml" --store "$W/kill.db" --progress lines > "$W/kill2.log" 2>&1; echo "resume rc $?"
grep -i "stopped process\|resuming" "$W/kill2.log"
python3 - "$W/kill.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
q = lambda s: db.execute(s).fetchone()[0]
print("planned", q("select planned_trials from run"), "final", q("select count(*) from trial where final=1"),
      "rows", q("select count(*) from trial"), "distinct", q("select count(*) from (select distinct cell_key, phase, idx from trial)"),
      "status", q("select status from run"))
for r in db.execute("select lane, lane_device, count(*) from trial group by lane"): print(r)
PY
fi
for s in two one kill; do
  [ -f "$W/$s.db" ] && "$R" report "$W/$s.db" --format md,json --out "$W/report-$s" > /dev/null 2>&1
done
echo "=== lanes done"
