"""Hashes a deterministic buffer and reports how fast: the quickstart's workload.

Prints one JSON metric line (read by rigor's JSON-lines parser) and one plain-text line
(read by a regex declared in quickstart.toml), to show both ways of reporting metrics.
"""
import argparse
import hashlib
import json
import random
import time

parser = argparse.ArgumentParser()
parser.add_argument("--algo", required=True)
parser.add_argument("--mb", type=int, required=True)
args = parser.parse_args()

data = random.Random(42).randbytes(args.mb * 1024 * 1024)
start = time.perf_counter()
digest = hashlib.new(args.algo, data).hexdigest()
elapsed = time.perf_counter() - start

print(f"{args.algo} of {args.mb} MiB: {digest[:16]}...")
print(f"hash time: {elapsed * 1e3:.4f} ms")
print(json.dumps({"metric": "throughput", "value": args.mb / elapsed, "unit": "MiB/s", "better": "higher"}))
