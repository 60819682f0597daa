"""One client's run against a running server, as a rigor `command` workload (issue 17):
rigor's `serve-bench` or vLLM's benchmark request function (bench/gpu/vllm_check.py), alone
on the server, with C clients and 4·C requests (at least 16) of 128 words and 16 output
tokens. Prints each client's medians as rigor metrics, so that `rigor run` alternates the
two clients in randomised rounds and reports their ratios with intervals:

  ttft_ms        each client's TTFT: the first chunk with content (rigor; vLLM 0.33's
                 `_choice_has_streamed_output`)
  ttft_event_ms  rigor: the first event of the stream, a role-only chunk included (what
                 older vLLM clients timed); vLLM: its TTFT again, having no other
  itl_ms, tpot_ms, e2e_ms, output_tok_s

    python3 one_client.py rigor|vllm RIGOR URL MODEL VLLM_FUNC_PY CLIENTS
"""

import json
import os
import subprocess
import sys

who, rigor, url, model, vllm_func, c = sys.argv[1:7]
c = int(c)
n = max(16, 4 * c)
out_len, words = 16, 128
here = os.path.dirname(os.path.abspath(__file__))


def metric(name, value, unit, better):
    if value is None:
        print(json.dumps({"metric": name, "missing": f"{who} gave no {name}"}))
    else:
        print(json.dumps({"metric": name, "value": value, "unit": unit, "better": better}))


if who == "rigor":
    out = subprocess.run([rigor, "serve-bench", url, "--json", "--endpoint", "chat", "--model", model,
                          "--concurrency", str(c), "--requests", str(n), "--input-len", str(words),
                          "--output-len", str(out_len)], capture_output=True, text=True)
    s = json.loads(out.stdout)["summary"]
    med = lambda d: s[d]["median"] if s.get(d) else None
    r = {"ok": s["ok"], "failed": s["failed"], "ttft_ms": med("ttft_ms"), "ttft_event_ms": med("ttft_first_event_ms"),
         "itl_ms": med("itl_ms"), "tpot_ms": med("tpot_ms"), "e2e_ms": med("e2e_ms"), "output_tok_s": s["output_tok_s"]}
else:
    exact = json.dumps({"model": model,
                        "generation_config": '{"min_new_tokens": {max_tokens}, "max_new_tokens": {max_tokens}}'})
    out = subprocess.run([sys.executable, os.path.join(here, "vllm_check.py"), vllm_func, url, str(n), str(c),
                          str(out_len), str(words), exact], capture_output=True, text=True)
    r = json.loads(out.stdout)
    r["ttft_event_ms"] = r["ttft_ms"]
sys.stderr.write(out.stderr[-3000:])
if r["failed"] or not r["ok"]:
    sys.exit(f"{who}: {r['failed']} of {n} requests failed")
metric("ttft_ms", r["ttft_ms"], "ms", "lower")
metric("ttft_event_ms", r["ttft_event_ms"], "ms", "lower")
metric("itl_ms", r["itl_ms"], "ms", "lower")
metric("tpot_ms", r["tpot_ms"], "ms", "lower")
metric("e2e_ms", r["e2e_ms"], "ms", "lower")
metric("output_tok_s", r["output_tok_s"], "tok/s", "higher")
