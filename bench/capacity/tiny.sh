#!/usr/bin/env bash
# Issue 19's acceptance for `rigor capacity`, on this machine: SEARCHES repeated searches
# against the tiny llama.cpp model (tests/llm/setup.sh builds it), then a longer fixed-rate
# sweep (RATES rates × SWEEP_TRIALS serve-bench trials, in random order) whose capacity, by
# the same definition (the rate where the geometric mean of the trials' TTFT p99 meets the
# limit, on the isotonic fit), each search's interval should contain.
#   bench/capacity/tiny.sh [OUT_DIR]      (after cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/capacity-tiny}
RIGOR=${RIGOR:-target/release/rigor}
SEARCHES=${SEARCHES:-3}
RATES=${RATES:-8}
SWEEP_TRIALS=${SWEEP_TRIALS:-8}
LIMIT=${LIMIT:-100}
LOAD=(--requests "${REQUESTS:-150}" --input-len 64 --output-len 64)
mkdir -p "$OUT"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target/llm/bin/llama-server -m target/llm/tiny.gguf --port "$port" --host 127.0.0.1 -c 4096 -np 4 \
  >"$OUT/llama.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
url=http://127.0.0.1:$port
for _ in $(seq 1 120); do curl -sf "$url/health" >/dev/null && break; sleep 1; done
t0=$(date +%s)
for i in $(seq 1 "$SEARCHES"); do
  "$RIGOR" capacity "$url" --objective "ttft_ms.p99<=$LIMIT" --start 8 "${LOAD[@]}" --seed "$i" \
    --journal "$OUT/search-$i.jsonl" --json >"$OUT/search-$i.json" 2>"$OUT/search-$i.log"
done
t1=$(date +%s)
python3 - "$OUT" "$RIGOR" "$url" "$SEARCHES" "$RATES" "$SWEEP_TRIALS" "$LIMIT" "${LOAD[@]}" <<'PY'
import json, math, random, subprocess, sys
out, rigor, url, searches, rates, reps, limit = sys.argv[1:8]
load = sys.argv[8:]
searches, rates, reps, limit = int(searches), int(rates), int(reps), float(limit)
res = [json.load(open(f"{out}/search-{i}.json"))["outcome"] for i in range(1, searches + 1)]
los = [r["lower"]["level"] for r in res if r["lower"]]
his = [r["upper"]["level"] for r in res if r["upper"]]
a, b = 0.8 * min(los), 1.2 * max(his)
grid = [round(a + (b - a) * k / (rates - 1), 2) for k in range(rates)]
order = [g for g in grid for _ in range(reps)]
random.Random(19).shuffle(order)
p99 = {g: [] for g in grid}
with open(f"{out}/sweep.jsonl", "w") as j:
    for n, g in enumerate(order):
        r = subprocess.run([rigor, "serve-bench", url, "--rate", str(g), "--json", *load],
                           capture_output=True, text=True)
        s = json.loads(r.stdout)["summary"]
        v = (s.get("ttft_ms") or {}).get("p99")
        p99[g].append(v)
        j.write(json.dumps({"rate": g, "ttft_p99": v, "ok": s["ok"], "failed": s["failed"]}) + "\n")
        j.flush()
        subprocess.run(["sleep", "1"])
def pava(y, w):
    blocks = []
    for v, wt in zip(y, w):
        blocks.append([v, wt, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop(); v1, w1, c1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return [v for v, _, c in blocks for _ in range(c)]
z = [sum(math.log(v / limit) if v else math.log(100) for v in p99[g]) / len(p99[g]) for g in grid]
fit = pava(z, [len(p99[g]) for g in grid])
cross = None
for i in range(1, len(grid)):
    if fit[i] > 0 >= fit[i - 1]:
        cross = grid[i - 1] + (grid[i] - grid[i - 1]) * (0 - fit[i - 1]) / (fit[i] - fit[i - 1])
        break
print(f"sweep: {rates} rates × {reps} trials = {rates * reps} trials, {grid[0]}–{grid[-1]} req/s")
print("| rate | TTFT p99 geo. mean ms | mean z | isotonic z |")
print("|---:|---:|---:|---:|")
for g, zz, f in zip(grid, z, fit):
    print(f"| {g} | {math.exp(zz) * limit:.1f} | {zz:+.3f} | {f:+.3f} |")
print(f"sweep capacity (TTFT p99 ≤ {limit:g} ms): {cross}")
print("| search | estimate | interval | contains the sweep's | trials |")
print("|---:|---:|---|---|---:|")
for i, r in enumerate(res, 1):
    lo = r["lower"]["level"] if r["lower"] else None
    hi = r["upper"]["level"] if r["upper"] else None
    inside = cross is not None and (lo is None or lo <= cross) and (hi is None or cross <= hi)
    print(f"| {i} | {r['estimate']} | [{lo}, {hi}] | {'yes' if inside else 'NO'} | {len(r['trials'])} |")
PY
t2=$(date +%s)
echo "searches: $((t1 - t0)) s; sweep: $((t2 - t1)) s"
