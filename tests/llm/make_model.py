"""Builds a tiny llama-architecture GGUF with random weights for tests: no model hub is
reachable, and the tests need a real llama.cpp server doing real (if meaningless) work.

The vocabulary and tokenizer come from a vocab-only GGUF that ships with llama.cpp's
sources; the weights are seeded normal draws, so the file is the same on every machine.

usage: python3 make_model.py VOCAB.gguf OUT.gguf [WIDTH LAYERS]   (llama.cpp's gguf-py on PYTHONPATH)"""
import sys

import gguf
import numpy as np

vocab_path, out_path = sys.argv[1], sys.argv[2]
vocab = gguf.GGUFReader(vocab_path)

N_EMBD = int(sys.argv[3]) if len(sys.argv) > 3 else 64
N_LAYER = int(sys.argv[4]) if len(sys.argv) > 4 else 2
N_FF, N_HEAD, N_CTX = 2 * N_EMBD, 4, 2048

writer = gguf.GGUFWriter(out_path, "llama")
writer.add_name("rigor-test-random-llama")
writer.add_context_length(N_CTX)
writer.add_embedding_length(N_EMBD)
writer.add_block_count(N_LAYER)
writer.add_feed_forward_length(N_FF)
writer.add_head_count(N_HEAD)
writer.add_head_count_kv(N_HEAD)
writer.add_rope_dimension_count(N_EMBD // N_HEAD)
writer.add_layer_norm_rms_eps(1e-5)
writer.add_file_type(gguf.LlamaFileType.ALL_F32)

n_vocab = None
for field in vocab.fields.values():
    if not field.name.startswith("tokenizer."):
        continue
    vtype = field.types[0]
    sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
    value = field.contents()
    if field.name == "tokenizer.ggml.tokens":
        n_vocab = len(value)
    writer.add_key_value(field.name, value, vtype, sub_type=sub)
assert n_vocab, "the vocab file has no tokens"

rng = np.random.default_rng(20261122)


def w(*shape):
    return (rng.standard_normal(shape) * 0.02).astype(np.float32)


writer.add_tensor("token_embd.weight", w(n_vocab, N_EMBD))
writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
writer.add_tensor("output.weight", w(n_vocab, N_EMBD))
for i in range(N_LAYER):
    p = f"blk.{i}."
    writer.add_tensor(p + "attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
        writer.add_tensor(p + name + ".weight", w(N_EMBD, N_EMBD))
    writer.add_tensor(p + "ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    writer.add_tensor(p + "ffn_gate.weight", w(N_FF, N_EMBD))
    writer.add_tensor(p + "ffn_up.weight", w(N_FF, N_EMBD))
    writer.add_tensor(p + "ffn_down.weight", w(N_EMBD, N_FF))

writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
print(f"{out_path}: llama, {N_LAYER} layers, {N_EMBD} wide, vocabulary of {n_vocab}")
