"""PyTorch reference for bench/gpu.sh: the same operations as `rigor probe gemm|copy`,
timed the same way (one CUDA event before the first and after every timed iteration,
after untimed warm-ups), in a fresh process per call. Prints one JSON object."""
import json
import sys

import torch


def gemm(m, n, k, dtype, iterations, warmup):
    dt = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]
    a = (torch.rand(m, k, device="cuda") * 2 - 1).to(dt)
    b = (torch.rand(k, n, device="cuda") * 2 - 1).to(dt)
    for _ in range(warmup):
        a @ b
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(iterations + 1)]
    torch.cuda.synchronize()
    ev[0].record()
    for e in ev[1:]:
        a @ b
        e.record()
    torch.cuda.synchronize()
    times = [ev[i].elapsed_time(ev[i + 1]) for i in range(iterations)]
    tflops = 2 * m * n * k * iterations / (sum(times) / 1e3) / 1e12
    return {"tflops": tflops, "times_ms": times}


def copy_h2d(size, iterations, warmup):
    h = torch.empty(size, dtype=torch.uint8, pin_memory=True)
    h.fill_(7)
    d = torch.empty(size, dtype=torch.uint8, device="cuda")
    for _ in range(warmup):
        d.copy_(h, non_blocking=True)
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(iterations + 1)]
    torch.cuda.synchronize()
    ev[0].record()
    for e in ev[1:]:
        d.copy_(h, non_blocking=True)
        e.record()
    torch.cuda.synchronize()
    times = [ev[i].elapsed_time(ev[i + 1]) for i in range(iterations)]
    gbs = size / (sum(times) / iterations / 1e3) / 1e9
    return {"gbs": gbs, "times_ms": times}


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "gemm":
        m, n, k = (int(x) for x in sys.argv[2:5])
        print(json.dumps(gemm(m, n, k, sys.argv[5], int(sys.argv[6]), int(sys.argv[7]))))
    elif what == "copy":
        print(json.dumps(copy_h2d(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))
    else:
        sys.exit(f"unknown operation {what}")
