"""rigor's own memory during a sustained open-loop load (issue 17): runs `serve-bench` at a
fixed rate for a duration against a server, reads its resident set every second, and prints
the growth per request after the first quarter (start-up and connections excluded).

    python3 bench/llm/memory.py RIGOR URL SECONDS [RATE]

Measured against the tests' llama.cpp server (tiny.gguf, -np 16) at 40 req/s for 40 s,
1,651 requests: 3.79 KiB per request before finished requests were collected as the load
went on, 0.62 KiB after (the requests' own records).
"""

import json
import subprocess
import sys
import tempfile
import time

rigor, url, secs = sys.argv[1], sys.argv[2], sys.argv[3]
rate = sys.argv[4] if len(sys.argv) > 4 else "40"
with tempfile.TemporaryFile("w+") as out:
    # stdout to a file: a pipe nobody reads would block rigor's final JSON.
    p = subprocess.Popen([rigor, "serve-bench", url, "--json", "--endpoint", "chat", "--rate", rate,
                          "--max-concurrency", "64", "--duration", secs + "s", "--requests", "0",
                          "--input-len", "32", "--output-len", "16"], stdout=out, stderr=subprocess.DEVNULL)
    rss = []
    while p.poll() is None:
        try:
            for line in open(f"/proc/{p.pid}/status"):
                if line.startswith("VmRSS:"):
                    rss.append(int(line.split()[1]) / 1024)
        except OSError:
            pass
        time.sleep(1)
    out.seek(0)
    s = json.load(out)["summary"]
n, q = s["requests"], len(rss) // 4
print(f"requests {n} ok {s['ok']} failed {s['failed']}; rss {rss[q]:.1f} MiB at a quarter, {rss[-2]:.1f} at the end; "
      f"{(rss[-2] - rss[q]) * 1024 / (n * 0.75):.2f} KiB per request after the first quarter")
