"""vLLM's benchmark client against any OpenAI-compatible server: `vllm bench serve`'s own
request function for chat completions (vllm/benchmarks/lib/endpoint_request_func.py,
taken from the vLLM wheel by bench/gpu/bundle.sh; it needs only aiohttp), driven as
serve.py drives it with --max-concurrency C. Metrics as serve.py computes them: TTFT,
TPOT = (latency − TTFT) / (output tokens − 1), ITL pooled, E2E = latency (to the last
token chunk). Prints one JSON line of medians.

    python3 vllm_check.py ENDPOINT_FUNC_PY URL N CONCURRENCY OUTPUT_LEN PROMPT_WORDS EXTRA_BODY_JSON
"""

import asyncio
import importlib.util
import json
import os
import random
import statistics
import sys
import time

import aiohttp

func_py, url, n, conc, out_len, words_n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
extra = json.loads(sys.argv[7]) if len(sys.argv) > 7 else {}
extra = {k: (v.replace("{max_tokens}", str(out_len)) if isinstance(v, str) else v) for k, v in extra.items()}
spec = importlib.util.spec_from_file_location("erf", func_py)
erf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(erf)
words = [w.strip() for w in open(os.path.join(os.path.dirname(__file__), "words.txt")) if w.strip()]
rng = random.Random(11)


async def main():
    connector = aiohttp.TCPConnector(limit=conc, limit_per_host=conc, ttl_dns_cache=300, use_dns_cache=True,
                                     keepalive_timeout=60, enable_cleanup_closed=True, force_close=False, ssl=False)
    inputs = [erf.RequestFuncInput(prompt=" ".join(rng.choice(words) for _ in range(words_n)),
                                   api_url=url + "/v1/chat/completions", prompt_len=words_n, output_len=out_len,
                                   model="default", extra_body=extra) for _ in range(n)]
    sem = asyncio.Semaphore(conc)
    async with aiohttp.ClientSession(connector=connector, trust_env=True,
                                     timeout=aiohttp.ClientTimeout(total=6 * 3600)) as s:
        async def one(i):
            async with sem:
                return await erf.async_request_openai_chat_completions(i, s)
        t0 = time.perf_counter()
        outs = await asyncio.gather(*(one(i) for i in inputs))
        wall = time.perf_counter() - t0
    ok = [o for o in outs if o.success]
    med = lambda xs: statistics.median(xs) * 1e3 if xs else None
    tpot = [(o.latency - o.ttft) / (o.output_tokens - 1) for o in ok if o.output_tokens and o.output_tokens > 1]
    print(json.dumps({"client": "vllm", "requests": n, "ok": len(ok), "failed": n - len(ok),
                      "errors": sorted({o.error[:200] for o in outs if not o.success})[:3],
                      "ttft_ms": med([o.ttft for o in ok]), "itl_ms": med([g for o in ok for g in o.itl]),
                      "tpot_ms": med(tpot), "e2e_ms": med([o.latency for o in ok]),
                      "output_tok_s": sum(o.output_tokens or 0 for o in ok) / wall, "duration_s": wall}))


asyncio.run(main())
