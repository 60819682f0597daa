#!/usr/bin/env bash
# Issue 19's acceptance for `rigor capacity`, on this machine: SEARCHES repeated searches
# against the tiny llama.cpp model (tests/llm/setup.sh builds it), then a longer fixed-rate
# sweep (RATES rates × SWEEP_TRIALS serve-bench trials, in random order) whose capacity, by
# the same definition (the rate where the geometric mean of the trials' TTFT p99 meets the
# limit, on the isotonic fit), each search's interval should contain. Every trial, of the
# searches and of the sweep, gets a fresh server: a llama-server that has run for a while
# answers more slowly (in a first version sharing one server, TTFT p99 at 11 req/s rose
# from 64 to 295 ms over the sweep's 12 minutes), which no comparison across time survives.
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
SERVER="$PWD/target/llm/bin/llama-server -m $PWD/target/llm/tiny.gguf --host 127.0.0.1 -c 4096 -np 4"
t0=$(date +%s)
for i in $(seq 1 "$SEARCHES"); do
  "$RIGOR" capacity --server-command "$SERVER --port {port}" --objective "ttft_ms.p99<=$LIMIT" \
    --start 8 "${LOAD[@]}" --seed "$((i * 1000))" \
    --journal "$OUT/search-$i.jsonl" --json >"$OUT/search-$i.json" 2>"$OUT/search-$i.log"
done
t1=$(date +%s)
python3 - "$OUT" "$RIGOR" "$SERVER" "$SEARCHES" "$RATES" "$SWEEP_TRIALS" "$LIMIT" "${LOAD[@]}" <<'PY'
import json, math, random, shlex, socket, subprocess, sys, time, urllib.request
out, rigor, server, searches, rates, reps, limit = sys.argv[1:8]
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
def fresh():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    p = subprocess.Popen(shlex.split(server) + ["--port", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1); break
        except Exception:
            time.sleep(0.1)
    return p, f"http://127.0.0.1:{port}"
with open(f"{out}/sweep.jsonl", "w") as j:
    for n, g in enumerate(order):
        # A fresh server, and each trial its own prompts and arrivals, as capacity's own.
        proc, url = fresh()
        r = subprocess.run([rigor, "serve-bench", url, "--rate", str(g), "--seed", str(100000 + n), "--json", *load],
                           capture_output=True, text=True)
        proc.kill(); proc.wait()
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
