"""Greedy decoding with a Llama-shaped model (issue 18; the seeds' 002 and 003 studies), as a
rigor `command` workload: the model is loaded outside the measurement window, then

    {"event": "begin"}  decode steps 2..T (the first token's prefill is timed as ttft_ms)
    {"event": "end"}

so that every telemetry metric over the window (`window.gpu.energy_j`, PCIe bytes, power)
is about decoding alone, not about the 5-15 s of loading before it.

Where the weights live (--mode):
  resident      on the GPU (`device_map="cuda"`);
  offload       in host memory, each module's weights copied to the GPU when it runs
                (Accelerate's `cpu_offload`, the seed's weight-streaming baseline);
  offload-half  the first half of the layers (and embeddings, head) on the GPU, the second
                half streamed from host memory (a `device_map` with "cpu" entries, which
                Accelerate's `dispatch_model` offloads);
  pcie          no model: the bytes `offload` moves per step, tensor by tensor, from pinned
                host memory with asynchronous copies on one stream: the link's bound for the
                same traffic, against which the streaming variants are claimed.

Prints rigor JSON metrics: ttft_ms, step_ms, decode_tok_s, stream_gbs (bytes the mode
moves per step × steps / decode time; missing for resident), generated_tokens and
decode_tokens (exact counts).

    python3 decode.py MODEL_DIR --mode resident --batch 1 --tokens 64 [--attn sdpa]
"""

import argparse
import glob
import json
import os
import sys
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("model")
p.add_argument("--mode", default="resident", choices=["resident", "offload", "offload-half", "pcie"])
p.add_argument("--batch", type=int, default=1)
p.add_argument("--tokens", type=int, default=64, help="tokens generated per sequence (≥ 2)")
p.add_argument("--prompt", type=int, default=32, help="prompt tokens per sequence")
p.add_argument("--attn", default="sdpa")
a = p.parse_args()
if a.tokens < 2:
    sys.exit("--tokens must be at least 2: the first is the prefill's, the window holds the rest")


def metric(name, value, unit, better, **kw):
    print(json.dumps({"metric": name, "value": value, "unit": unit, "better": better, **kw}), flush=True)


def marker(event):
    print(json.dumps({"event": event}), flush=True)


dev = torch.device("cuda:0")
bf16 = torch.bfloat16
t_load = time.perf_counter()


def tensors_on_cpu():
    from safetensors.torch import load_file

    out = {}
    for f in sorted(glob.glob(os.path.join(a.model, "*.safetensors"))):
        out.update(load_file(f, device="cpu"))
    return out


if a.mode == "pcie":
    # Exactly the tensors `offload` moves each step, in the same order and sizes, from
    # pinned memory, asynchronously on one stream: what the link allows for that traffic.
    host = [t.contiguous().pin_memory() for t in tensors_on_cpu().values()]
    per_step = sum(t.numel() * t.element_size() for t in host)
    dst = torch.empty(max(t.numel() * t.element_size() for t in host), dtype=torch.uint8, device=dev)
    views = [t.view(-1).view(torch.uint8) for t in host]

    def step():
        for v in views:
            dst[: v.numel()].copy_(v, non_blocking=True)

    def prefill():
        step()
        return None
else:
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(a.model)
    kw = dict(dtype=bf16, attn_implementation=a.attn)
    per_step = 0
    if a.mode == "resident":
        model = AutoModelForCausalLM.from_pretrained(a.model, device_map="cuda", **kw)
    elif a.mode == "offload":
        from accelerate import cpu_offload

        model = AutoModelForCausalLM.from_pretrained(a.model, **kw)
        per_step = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        cpu_offload(model, execution_device=dev)
    else:
        n = cfg.num_hidden_layers
        dm = {"model.embed_tokens": 0, "model.norm": 0, "model.rotary_emb": 0, "lm_head": 0}
        dm.update({f"model.layers.{i}": (0 if i < n // 2 else "cpu") for i in range(n)})
        model = AutoModelForCausalLM.from_pretrained(a.model, device_map=dm, **kw)
        # What the hooks move each step: the parameters of the layers mapped to the CPU.
        from safetensors import safe_open

        streamed = tuple(f"model.layers.{i}." for i in range(n // 2, n))
        for f in glob.glob(os.path.join(a.model, "*.safetensors")):
            with safe_open(f, "pt") as fh:
                for k in fh.keys():
                    if k.startswith(streamed):
                        per_step += fh.get_tensor(k).numel() * 2  # bf16
    model.eval()
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, cfg.vocab_size, (a.batch, a.prompt), generator=gen).to(dev)
    state = {}

    def prefill():
        out = model(input_ids=ids, use_cache=True)
        state["past"] = out.past_key_values
        state["next"] = out.logits[:, -1:].argmax(-1)
        return state["next"]

    def step():
        out = model(input_ids=state["next"], past_key_values=state["past"], use_cache=True)
        state["past"] = out.past_key_values
        state["next"] = out.logits[:, -1:].argmax(-1)

with torch.inference_mode():
    # One untimed prefill and step: CUDA kernels chosen and loaded, host pages touched.
    prefill()
    step()
    torch.cuda.synchronize()
    print(f"loaded and warmed in {time.perf_counter() - t_load:.1f} s; {per_step / 1e9:.3f} GB moved per step",
          file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    prefill()
    torch.cuda.synchronize()
    ttft = time.perf_counter() - t0
    marker("begin")
    t1 = time.perf_counter()
    for _ in range(a.tokens - 1):
        step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t1
    marker("end")

steps = a.tokens - 1
metric("ttft_ms", ttft * 1e3, "ms", "lower")
metric("step_ms", dt / steps * 1e3, "ms", "lower")
metric("decode_tok_s", a.batch * steps / dt, "tok/s", "higher")
if per_step:
    metric("stream_gbs", per_step * steps / dt / 1e9, "GB/s", "higher")
else:
    print(json.dumps({"metric": "stream_gbs", "missing": "the weights are resident: nothing is streamed"}), flush=True)
metric("generated_tokens", a.batch * a.tokens, "tokens", "higher")
metric("decode_tokens", a.batch * steps, "tokens", "higher")
