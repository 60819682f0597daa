"""vLLM's benchmark client without vLLM: `vllm bench serve`'s own request function
(vllm/benchmarks/lib/endpoint_request_func.py, taken from the vLLM sdist on PyPI; it needs
only aiohttp, regex and tqdm) driven the way serve.py drives it at an infinite request rate
with --max-concurrency C: one aiohttp session with serve.py's connector settings, every
request created up front behind a semaphore. The full `vllm` package needs torch (about 3 GB),
so bench/llm.sh runs this instead.

    python vllm_client.py ENDPOINT_FUNC_PY URL REQUESTS CONCURRENCY OUTPUT_LEN

Prints one JSON line: req_s, chunks_s (output tokens per second as vLLM counts them),
median TTFT in µs, and the number of failed requests.
"""

import asyncio
import importlib.util
import json
import statistics
import sys
import time

import aiohttp


def load(path):
    spec = importlib.util.spec_from_file_location("endpoint_request_func", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


async def main(func_py, url, n, concurrency, output_len):
    erf = load(func_py)
    # serve.py's make_session(limit), as of vLLM 0.33.0.
    connector = aiohttp.TCPConnector(
        limit=concurrency,
        limit_per_host=concurrency,
        ttl_dns_cache=300,
        use_dns_cache=True,
        keepalive_timeout=60,
        enable_cleanup_closed=True,
        force_close=False,
        ssl=False,
    )
    inp = erf.RequestFuncInput(
        prompt="one two three",
        api_url=url + "/v1/completions",
        prompt_len=3,
        output_len=output_len,
        model="m",
        ignore_eos=True,
    )
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(
        connector=connector,
        trust_env=True,
        timeout=aiohttp.ClientTimeout(total=6 * 60 * 60),
    ) as session:

        async def one():
            async with sem:
                return await erf.async_request_openai_completions(inp, session)

        await one()  # serve.py's initial single prompt test run
        t0 = time.perf_counter()
        outs = await asyncio.gather(*(one() for _ in range(n)))
        wall = time.perf_counter() - t0
    ok = [o for o in outs if o.success]
    print(
        json.dumps(
            {
                "req_s": len(ok) / wall,
                "chunks_s": sum(o.output_tokens for o in ok) / wall,
                "ttft_median_us": statistics.median(o.ttft for o in ok) * 1e6 if ok else None,
                "failed": len(outs) - len(ok),
            }
        )
    )


if __name__ == "__main__":
    a = sys.argv
    asyncio.run(main(a[1], a[2], int(a[3]), int(a[4]), int(a[5])))
