"""A Llama-3.1-8B-shaped model with random weights, made on the GPU machine (no model hub
is reachable there), and a tokenizer for it: a word-level vocabulary of the model's size
whose first words are the ones rigor's synthetic prompts are made of, so a prompt of N
words is N tokens and every generated id decodes to a word.

    python3 make_llama.py OUT_DIR [--layers 32]
"""

import argparse
import json
import os
import time

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, decoders
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--layers", type=int, default=32)
p.add_argument("--words", default=os.path.join(os.path.dirname(__file__), "words.txt"))
a = p.parse_args()
t0 = time.time()
VOCAB = 128256
words = [w.strip() for w in open(a.words) if w.strip()]
specials = ["<unk>", "<s>", "</s>"]
vocab = {}
for w in specials + words:
    vocab.setdefault(w, len(vocab))
i = 0
while len(vocab) < VOCAB:
    vocab.setdefault(f"w{i}", len(vocab))
    i += 1
tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
fast = PreTrainedTokenizerFast(
    tokenizer_object=tok,
    unk_token="<unk>",
    bos_token="<s>",
    eos_token="</s>",
    model_max_length=131072,
)
# A plain chat template, so that /v1/chat/completions works too.
fast.chat_template = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }} {% endfor %}assistant:"
)
os.makedirs(a.out, exist_ok=True)
fast.save_pretrained(a.out)

cfg = LlamaConfig(
    vocab_size=VOCAB,
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=a.layers,
    num_attention_heads=32,
    num_key_value_heads=8,
    max_position_embeddings=131072,
    rope_theta=500000.0,
    rms_norm_eps=1e-5,
    bos_token_id=1,
    eos_token_id=2,
    torch_dtype="bfloat16",
)
torch.manual_seed(0)
torch.set_default_dtype(torch.bfloat16)
with torch.device("cuda"):
    model = LlamaForCausalLM(cfg)
n = sum(p.numel() for p in model.parameters())
model.save_pretrained(a.out, safe_serialization=True)
print(json.dumps({"params": n, "layers": a.layers, "seconds": round(time.time() - t0, 1), "dir": a.out}))
