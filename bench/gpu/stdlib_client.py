"""An independent client for cross-checks: the Python standard library only, a fresh
connection per request (as a plain script would), threads for concurrency, times from
time.perf_counter on the receive path. Sends N streamed chat completions of PROMPT_WORDS
random words (rigor's word list) and prints one JSON line of medians. TTFT: the first
chunk with content; ITL: gaps between content chunks; E2E: the end of the stream.

    python3 stdlib_client.py URL N CONCURRENCY OUTPUT_LEN PROMPT_WORDS EXTRA_BODY_JSON
"""

import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.parse

url, n, conc, out_len, words_n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
extra = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}
u = urllib.parse.urlparse(url)
words = [w.strip() for w in open(os.path.join(os.path.dirname(__file__), "words.txt")) if w.strip()]
rng = random.Random(7)
prompts = [" ".join(rng.choice(words) for _ in range(words_n)) for _ in range(n)]
results, lock, next_i = [], threading.Lock(), [0]


def body(prompt):
    b = {"model": "default", "messages": [{"role": "user", "content": prompt}], "max_tokens": out_len,
         "stream": True, "stream_options": {"include_usage": True}}
    for k, v in extra.items():
        b[k] = v.replace("{max_tokens}", str(out_len)) if isinstance(v, str) else v
    return json.dumps(b)


def one(prompt):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", "/v1/chat/completions", body(prompt), {"Content-Type": "application/json"})
    r = c.getresponse()
    chunks, tokens, buf = [], None, b""
    while True:
        line = r.fp.readline()
        if not line:
            break
        now = time.perf_counter()
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        ev = json.loads(data)
        if any((ch.get("delta") or {}).get("content") for ch in ev.get("choices") or []):
            chunks.append(now)
        if ev.get("usage"):
            tokens = ev["usage"].get("completion_tokens")
    end = time.perf_counter()
    c.close()
    if r.status != 200 or not chunks:
        return None
    return {"ttft": chunks[0] - t0, "e2e": end - t0, "itl": [b - a for a, b in zip(chunks, chunks[1:])],
            "tokens": tokens}


def worker():
    while True:
        with lock:
            i = next_i[0]
            next_i[0] += 1
        if i >= n:
            return
        res = one(prompts[i])
        with lock:
            results.append(res)


t0 = time.perf_counter()
ts = [threading.Thread(target=worker) for _ in range(conc)]
for t in ts:
    t.start()
for t in ts:
    t.join()
dur = time.perf_counter() - t0
ok = [r for r in results if r]
itl = [g for r in ok for g in r["itl"]]
tpot = [(r["e2e"] - r["ttft"]) / (r["tokens"] - 1) for r in ok if r["tokens"] and r["tokens"] > 1]
ms = lambda xs: statistics.median(xs) * 1e3 if xs else None
print(json.dumps({"client": "stdlib", "requests": n, "ok": len(ok), "failed": n - len(ok),
                  "ttft_ms": ms([r["ttft"] for r in ok]), "itl_ms": ms(itl), "tpot_ms": ms(tpot),
                  "e2e_ms": ms([r["e2e"] for r in ok]),
                  "output_tok_s": sum(r["tokens"] or 0 for r in ok) / dur, "duration_s": dur}))
