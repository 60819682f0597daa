"""Writes a Hugging Face tokenizer.json equivalent to a GPT-2-style (byte-level BPE) GGUF
vocabulary, so that rigor's local tokenizer and the llama.cpp server count the same tokens.

usage: python3 make_tokenizer.py VOCAB.gguf OUT.json   (llama.cpp's gguf-py on PYTHONPATH)"""
import json
import sys

import gguf

reader = gguf.GGUFReader(sys.argv[1])
fields = {f.name: f.contents() for f in reader.fields.values() if f.name.startswith("tokenizer.")}
assert fields["tokenizer.ggml.model"] == "gpt2", "needs a byte-level BPE (gpt2) vocabulary"
tokens = fields["tokenizer.ggml.tokens"]
types = fields.get("tokenizer.ggml.token_type", [1] * len(tokens))
merges = fields["tokenizer.ggml.merges"]
added = [
    {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
    for i, (t, ty) in enumerate(zip(tokens, types))
    if ty == 3  # control tokens, e.g. <|endoftext|>
]
byte_level = {"add_prefix_space": False, "trim_offsets": True, "use_regex": True}
tok = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": added,
    "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", **byte_level},
    "post_processor": {"type": "ByteLevel", **byte_level},
    "decoder": {"type": "ByteLevel", **byte_level},
    "model": {
        "type": "BPE",
        "dropout": None,
        "unk_token": None,
        "continuing_subword_prefix": None,
        "end_of_word_suffix": None,
        "fuse_unk": False,
        "byte_fallback": False,
        "vocab": {t: i for i, t in enumerate(tokens)},
        "merges": merges,
    },
}
with open(sys.argv[2], "w") as f:
    json.dump(tok, f)
print(f"{sys.argv[2]}: byte-level BPE, {len(tokens)} tokens, {len(merges)} merges")
