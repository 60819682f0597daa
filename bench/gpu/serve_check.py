"""Cross-checks of rigor's load generator on a real GPU inference server (issues 14, 17):
`transformers serve --continuous-batching` with a Llama-3.1-8B-shaped model, started once.

1. recordings of its streams for the replay tests (tests/fixtures/streams);
2. what rigor detects about it, and its notes;
3. at 1, 16 and 64 clients: rigor, vLLM's benchmark request function and an independent
   standard-library client on the same server, one after another, medians side by side,
   and rigor's CPU time per request;
4. a sustained load near saturation: failures, send lag, rigor's memory over time;
5. the requests the server logged against the requests rigor sent.
With --paired, only a cross-check with rigor and vLLM's client running at the same time.

    python3 serve_check.py RIGOR MODEL_DIR OUT_DIR VLLM_FUNC_PY [--sustain SECONDS]
Writes OUT_DIR/serve.json and OUT_DIR/serve.md, and recordings under OUT_DIR/streams/.
"""

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
p = argparse.ArgumentParser()
p.add_argument("rigor")
p.add_argument("model")
p.add_argument("out")
p.add_argument("vllm_func")
p.add_argument("--sustain", type=float, default=120)
p.add_argument("--stdlib", action="store_true", help="also the standard-library client")
p.add_argument("--levels", default="1:24,16:192,64:384")
p.add_argument("--paired", action="store_true",
               help="only the cross-check, with rigor and vLLM's client running at the same time, "
                    "each with the level's clients and requests, so both see the same server")
p.add_argument("--output-len", type=int, default=64)
p.add_argument("--input-words", type=int, default=128)
p.add_argument("--alone", metavar="TOML",
               help="first, `rigor run` this experiment (bench/gpu/clients-alone.toml) against the server, "
                    "its @PY@, @ROOT@, @RIGOR@, @URL@, @MODEL@ and @VLLM@ filled in; report in OUT/alone")
p.add_argument("--sustain-only", action="store_true", help="skip the recordings, detection and levels")
p.add_argument("--rate", type=float, help="the sustained load's rate (default: 90%% of the 64-client throughput)")
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)
# The server is pinned to the model it was started with: requests must name it (or none).
EXACT = json.dumps({"model": a.model,
                    "generation_config": '{"min_new_tokens": {max_tokens}, "max_new_tokens": {max_tokens}}'})
results = {"levels": {}}


def log(*x):
    print(*x, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


port = free_port()
URL = f"http://127.0.0.1:{port}"
server_log = open(os.path.join(a.out, "server.log"), "w")
t0 = time.time()
# `transformers serve MODEL --continuous-batching`, started through its class so that the
# CLI's update check (a network call) is skipped; nothing outside the machine is reachable.
env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", TRANSFORMERS_OFFLINE="1")
server = subprocess.Popen(
    [sys.executable, "-c",
     "import sys; from transformers.cli.serve import Serve; "
     "Serve(sys.argv[1], continuous_batching=True, host='127.0.0.1', port=int(sys.argv[2]), log_level='info')",
     a.model, str(port)],
    stdout=server_log, stderr=subprocess.STDOUT, env=env)
while True:
    if server.poll() is not None:
        sys.exit(f"transformers serve exited ({server.returncode}); see {a.out}/server.log")
    try:
        if urllib.request.urlopen(URL + "/health", timeout=2).status == 200:
            break
    except Exception:
        pass
    if time.time() - t0 > 600:
        sys.exit("transformers serve was not ready within 600 s")
    time.sleep(1)
results["server_ready_s"] = round(time.time() - t0, 1)
log(f"server ready in {results['server_ready_s']} s on {URL}")


def run(cmd, timeout=3000):
    """Runs a client; returns (stdout, CPU seconds it used)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode not in (0, 1):
        log("client failed:", cmd[:3], out.stderr[-2000:])
    return out.stdout, cpu, out.stderr


def rigor(n, c, extra=()):
    cmd = [a.rigor, "serve-bench", URL, "--json", "--endpoint", "chat", "--model", a.model, "--concurrency", str(c),
           "--requests", str(n), "--input-len", str(a.input_words), "--output-len", str(a.output_len),
           *extra]
    out, cpu, err = run(cmd)
    try:
        d = json.loads(out)
    except Exception:
        log("rigor printed no JSON:", err[-2000:])
        return None, cpu
    return d, cpu


def rigor_row(n, c):
    d, cpu = rigor(n, c)
    if not d:
        return {"error": "rigor gave no summary"}
    s = d["summary"]
    r = {"ok": s["ok"], "failed": s["failed"], "retries": s["retries"],
         "ttft_ms": s["ttft_ms"]["median"] if s["ttft_ms"] else None,
         "itl_ms": s["itl_ms"]["median"] if s["itl_ms"] else None,
         "tpot_ms": s["tpot_ms"]["median"] if s["tpot_ms"] else None,
         "e2e_ms": s["e2e_ms"]["median"] if s["e2e_ms"] else None,
         "output_tok_s": s["output_tok_s"], "req_s": s["req_s"],
         "cpu_ms_per_request": 1e3 * cpu / max(n, 1), "notes": s["notes"],
         "connections": s.get("connections")}
    # The vLLM-style variants from rigor's stored timestamps: E2E to the last content
    # chunk (vLLM's latency).
    reqs = [q for q in d["requests"] if not q.get("error") and q.get("chunks_s")]
    if reqs:
        import statistics
        r["e2e_last_token_ms"] = statistics.median((q["chunks_s"][-1] - q["sent_s"]) * 1e3 for q in reqs)
    return r


def client_row(script, n, c):
    out, cpu, err = run([sys.executable, os.path.join(HERE, script), *([a.vllm_func] if script == "vllm_check.py" else []),
                         URL, str(n), str(c), str(a.output_len), str(a.input_words), EXACT])
    try:
        return json.loads(out)
    except Exception:
        return {"error": err[-1000:]}



# Warm-up (CUDA kernels, the KV cache), not measured.
rigor(16, 16)

if a.paired:
    # Rigor and vLLM's client at once, each with c clients: the server holds 2c requests at a
    # time from start to end and both clients meet the same batches, so a difference between
    # them is the clients', not the server's drift from one run to the next (which reached 25%
    # between rounds run one after another).
    for level in a.levels.split(","):
        c, n = (int(x) for x in level.split(":"))
        got = {}
        def go_rigor():
            got["rigor"] = rigor_row(n, c)
        def go_vllm():
            got["vllm"] = client_row("vllm_check.py", n, c)
        ts = [threading.Thread(target=go_rigor), threading.Thread(target=go_vllm)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        results["levels"][f"{c}+{c}"] = got
        log(f"clients {c}+{c}:", json.dumps(got))
        json.dump(results, open(os.path.join(a.out, "paired.json"), "w"), indent=1)
    md = ["| clients (rigor + vLLM) | client | ok / failed | TTFT ms | ITL ms | TPOT ms | E2E ms | output tok/s |",
          "|---:|---|---|---:|---:|---:|---:|---:|"]
    f = lambda v: f"{v:.2f}" if isinstance(v, (int, float)) else "—"
    for c, row in results["levels"].items():
        for who, r in row.items():
            md.append(f"| {c} | {who} | {r.get('ok', '—')} / {r.get('failed', '—')} | {f(r.get('ttft_ms'))} | "
                      f"{f(r.get('itl_ms'))} | {f(r.get('tpot_ms'))} | {f(r.get('e2e_ms'))} | {f(r.get('output_tok_s'))} |")
    open(os.path.join(a.out, "paired.md"), "w").write("\n".join(md) + "\n")
    log("\n".join(md))
    server.terminate()
    sys.exit(0)

if a.alone:
    # Each client alone on the server, in randomised rounds: rigor's own runner and report.
    exp = open(a.alone).read()
    for k, v in {"PY": sys.executable, "ROOT": ROOT, "RIGOR": a.rigor, "URL": URL, "MODEL": a.model,
                 "VLLM": os.path.abspath(a.vllm_func)}.items():
        exp = exp.replace(f"@{k}@", v)
    d = os.path.join(a.out, "alone")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "clients-alone.toml"), "w").write(exp)
    t = time.time()
    subprocess.run([a.rigor, "run", os.path.join(d, "clients-alone.toml"), "--store", os.path.join(d, "alone.db"),
                    "--progress", "lines"], timeout=int(os.environ.get("ALONE_LIMIT", "400")))
    subprocess.run([a.rigor, "report", os.path.join(d, "alone.db"), "--format", "md,json", "--out",
                    os.path.join(d, "report")])
    results["alone_s"] = round(time.time() - t, 1)
    log(f"clients alone: {results['alone_s']} s")

if a.sustain_only:
    a.levels = ""

# 1. Recordings, with the command that made each (as tests/fixtures/streams/record.py notes it).
rec_dir = os.path.join(a.out, "streams")
os.makedirs(rec_dir, exist_ok=True)
ver = subprocess.run([sys.executable, "-c", "import transformers; print(transformers.__version__)"],
                     capture_output=True, text=True).stdout.strip()
for name, args in [] if a.sustain_only else [
    ("transformers-chat-stream", ["--endpoint", "chat", "--stream"]),
    ("transformers-completions-stream", ["--endpoint", "completions", "--stream"]),
    ("transformers-chat-full", ["--endpoint", "chat"]),
]:
    body = json.dumps({"model": a.model, "generation_config": '{"min_new_tokens": 16, "max_new_tokens": 16}'})
    cmd = [sys.executable, os.path.join(ROOT, "tests/fixtures/streams/record.py"), URL,
           os.path.join(rec_dir, name + ".jsonl"), *args, "--body", body,
           "--note", f"transformers serve {ver} --continuous-batching on an NVIDIA H200, a Llama-3.1-8B-shaped "
                     f"model with random weights (bench/gpu/make_llama.py); bench/gpu/serve_check.py ran "
                     f"tests/fixtures/streams/record.py URL {name}.jsonl {' '.join(args)} --body '{body}'"]
    log(subprocess.run(cmd, capture_output=True, text=True).stdout.strip())

# 2. Detection and notes, with exact lengths asked for in the default way.
d, _ = (None, 0) if a.sustain_only else rigor(8, 8)
if d:
    results["detected"] = d["summary"].get("server")
    results["notes"] = d["summary"].get("notes")
    results["detect_failed"] = d["summary"]["failed"]
    log("detected:", results["detected"], "notes:", results["notes"], "failed:", d["summary"]["failed"])

# 3. Clients at each level on the same server, alternating (rigor, vLLM's, rigor, vLLM's)
# so that a server still warming up or drifting shows as a difference between rounds of
# one client rather than between clients. The standard-library client with --stdlib.
for level in filter(None, a.levels.split(",")):
    c, n = (int(x) for x in level.split(":"))
    row = {}
    for rnd in (1, 2):
        row[f"rigor{rnd}"] = rigor_row(n, c)
        row[f"vllm{rnd}"] = client_row("vllm_check.py", n, c)
        log(f"clients {c} round {rnd}:", json.dumps({k: row[k] for k in (f"rigor{rnd}", f"vllm{rnd}")}))
    row["rigor"], row["vllm"] = row["rigor2"], row["vllm2"]
    if a.stdlib:
        row["stdlib"] = client_row("stdlib_client.py", n, c)
    results["levels"][c] = row
    # Kept as it grows: a device call that ends early still brings the levels back.
    json.dump(results, open(os.path.join(a.out, "serve.json"), "w"), indent=1)
    log(f"clients {c}:", json.dumps(row))

# 4. Sustained load near saturation: a Poisson rate at ~90% of the 64-client throughput.
sat = results["levels"].get(64, {}).get("rigor", {}).get("req_s") or 2.0
rate = a.rate or round(0.9 * sat, 2)
cmd = [a.rigor, "serve-bench", URL, "--json", "--endpoint", "chat", "--model", a.model, "--rate", str(rate),
       "--max-concurrency", "256",
       "--duration", f"{int(a.sustain)}s", "--grace", "60s", "--requests", "0",
       "--input-len", str(a.input_words), "--output-len", str(a.output_len)]
rss = []
before = resource.getrusage(resource.RUSAGE_CHILDREN)
proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
stop = threading.Event()


def watch():
    while not stop.is_set():
        try:
            for line in open(f"/proc/{proc.pid}/status"):
                if line.startswith("VmRSS:"):
                    rss.append(int(line.split()[1]) / 1024)
        except Exception:
            pass
        stop.wait(2)


w = threading.Thread(target=watch)
w.start()
out, err = proc.communicate(timeout=int(a.sustain) + 600)
stop.set()
w.join()
after = resource.getrusage(resource.RUSAGE_CHILDREN)
try:
    d = json.loads(out)
    s = d["summary"]
    lags = sorted((r["sent_s"] - r["scheduled_s"]) * 1e3 for r in d["requests"] if not r.get("warmup"))
    pct = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))] if lags else None
    results["sustained"] = {
        "rate": rate, "seconds": a.sustain, "requests": s["requests"], "ok": s["ok"], "failed": s["failed"],
        "cancelled": s["cancelled"], "retries": s["retries"], "errors": s["errors"],
        "send_lag_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": lags[-1] if lags else None},
        "rss_mib": {"first": rss[0] if rss else None, "last": rss[-1] if rss else None,
                    "max": max(rss) if rss else None, "samples": len(rss), "every_2s": rss},
        "cpu_ms_per_request": 1e3 * ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
        / max(s["requests"], 1),
        "ttft_ms_p50": s["ttft_ms"]["median"] if s["ttft_ms"] else None,
        "output_tok_s": s["output_tok_s"],
    }
except Exception as e:
    results["sustained"] = {"error": f"{e}: {err[-1500:]}"}
log("sustained:", json.dumps(results["sustained"]))

# 5. What the server logged.
server.terminate()
try:
    server.wait(30)
except Exception:
    server.kill()
server_log.close()
logged = sum(1 for l in open(os.path.join(a.out, "server.log")) if "[Request received]" in l)
results["server_logged_requests"] = logged
json.dump(results, open(os.path.join(a.out, "serve.json"), "w"), indent=1)

# The table.
md = ["| clients | client | ok / failed | TTFT ms | ITL ms | TPOT ms | E2E ms | output tok/s | CPU ms/request |",
      "|---:|---|---|---:|---:|---:|---:|---:|---:|"]
f = lambda v: f"{v:.2f}" if isinstance(v, (int, float)) else "—"
for c, row in results["levels"].items():
    for who in ["rigor1", "vllm1", "rigor2", "vllm2", "stdlib"]:
        if who not in row:
            continue
        r = row[who]
        md.append(f"| {c} | {who} | {r.get('ok', '—')} / {r.get('failed', '—')} | {f(r.get('ttft_ms'))} | "
                  f"{f(r.get('itl_ms'))} | {f(r.get('tpot_ms'))} | {f(r.get('e2e_ms'))} | {f(r.get('output_tok_s'))} | "
                  f"{f(r.get('cpu_ms_per_request'))} |")
open(os.path.join(a.out, "serve.md"), "w").write("\n".join(md) + "\n")
log("\n".join(md))
