#!/usr/bin/env python3
"""import_gguf_test.py: scripts/import-gguf.py on small GGUF files written here with gguf-py's
GGUFWriter (run by tests/import-gguf.t; prints TAP).

A tiny valid llama GGUF (2 layers, Q8_0 / Q4_1 / F32 tensors, a byte-level BPE vocabulary,
pre-tokenizer "smollm") must import: config keys from the metadata, tensors equal to gguf-py's
dequantization, q_proj / k_proj rows back in Hugging Face order (the tensors were permuted here
with llama.cpp's convert_hf_to_gguf.py LlamaModel.permute), a tokenizer.json the C tokenizer
(bin/mtokenize) reads. Bad files must be refused with exit 65, exactly one stderr line naming
the problem, and no output directory or temporary directory left: truncated (in the header, in
the tensor data), another architecture, an unknown tensor type, a type gguf-py cannot dequantize
(Q8_1), an unmapped tensor (rope_freqs), a SentencePiece tokenizer, an unknown pre-tokenizer.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPORT = os.path.join(ROOT, "scripts", "import-gguf.py")
n = 0
failed = 0


def ok(cond, name, detail=""):
    global n, failed
    n += 1
    print(f"{'' if cond else 'not '}ok {n} - {name}")
    if detail and not cond:
        for line in str(detail).splitlines():
            print(f"# {line}")
    if not cond:
        failed += 1
    return cond


# the tiny model's shapes
H, NH, NKV, HD, FF, NL = 64, 4, 2, 16, 96, 2


def permute(w, n_head, n_head_kv=None):
    """llama.cpp convert_hf_to_gguf.py LlamaModel.permute (HF rows -> GGUF rows)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def byte_vocab():
    """GPT-2 byte chars (256 tokens) + a few merges + ChatML control tokens."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, k = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + k)
            k += 1
    chars = [chr(c) for _, c in sorted(zip(bs, cs))]
    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + chars
    merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d"]
    for m in merges:
        tokens.append(m.replace(" ", ""))
    types = [3, 3, 3] + [1] * (len(tokens) - 3)
    return tokens, types, merges


def write_gguf(path, arch="llama", qtypes=None, extra_tensor=None, tok_model="gpt2", pre="smollm", seed=0):
    rng = np.random.default_rng(seed)
    tokens, types, merges = byte_vocab()
    V = len(tokens)
    w = gguf.GGUFWriter(path, arch)
    w.add_block_count(NL)
    w.add_context_length(256)
    w.add_embedding_length(H)
    w.add_feed_forward_length(FF)
    w.add_head_count(NH)
    w.add_head_count_kv(NKV)
    w.add_rope_freq_base(100000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(HD)
    w.add_vocab_size(V)
    w.add_tokenizer_model(tok_model)
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}")
    hf = {}  # HF name -> the float32 values the importer must write

    def add(gname, hfname, shape, qt=Q.F32, perm=None):
        x = rng.standard_normal(shape).astype(np.float32) * 0.1
        if qtypes and gname in qtypes:
            qt = qtypes[gname]
        g = permute(x, *perm) if perm else x
        if qt == Q.F32:
            data = g
            w.add_tensor(gname, data)
            deq = g
        elif qt == Q.Q8_1:  # gguf-py cannot quantize it either: raw bytes of the right size
            bshape = gguf.quant_shape_to_byte_shape(g.shape, qt)
            data = rng.integers(0, 255, size=bshape, dtype=np.uint8)
            w.add_tensor(gname, data, raw_shape=bshape, raw_dtype=qt)
            deq = None
        else:
            data = gguf.quants.quantize(g, qt)
            w.add_tensor(gname, data, raw_shape=data.shape, raw_dtype=qt)
            deq = gguf.quants.dequantize(data, qt)
        if deq is not None and perm:  # the importer un-permutes: expect the HF order
            n_head = perm[1] if len(perm) > 1 and perm[0] != perm[1] else perm[0]
            dim = deq.shape[0] // n_head // 2
            deq = deq.reshape(n_head, dim, 2, *deq.shape[1:]).swapaxes(2, 1).reshape(deq.shape)
        hf[hfname] = (deq, x)

    add("token_embd.weight", "model.embed_tokens.weight", (V, H), Q.Q8_0)
    for i in range(NL):
        p, h = f"blk.{i}.", f"model.layers.{i}."
        add(p + "attn_norm.weight", h + "input_layernorm.weight", (H,))
        add(p + "attn_q.weight", h + "self_attn.q_proj.weight", (NH * HD, H), Q.Q4_1, (NH,))
        add(p + "attn_k.weight", h + "self_attn.k_proj.weight", (NKV * HD, H), Q.Q4_1, (NH, NKV))
        add(p + "attn_v.weight", h + "self_attn.v_proj.weight", (NKV * HD, H), Q.Q4_1)
        add(p + "attn_output.weight", h + "self_attn.o_proj.weight", (H, NH * HD), Q.Q4_1)
        add(p + "ffn_norm.weight", h + "post_attention_layernorm.weight", (H,))
        add(p + "ffn_gate.weight", h + "mlp.gate_proj.weight", (FF, H), Q.Q4_1)
        add(p + "ffn_up.weight", h + "mlp.up_proj.weight", (FF, H), Q.Q4_1)
        add(p + "ffn_down.weight", h + "mlp.down_proj.weight", (H, FF), Q.Q4_1)
    add("output_norm.weight", "model.norm.weight", (H,))
    if extra_tensor:
        add(extra_tensor, extra_tensor, (HD // 2,))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return hf


def run_import(src, out, *extra):
    p = subprocess.run([sys.executable, IMPORT, *extra, src, out], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def leftovers(parent, name):
    return [f for f in os.listdir(parent) if f.startswith(name) or f.startswith("." + name)]


def main():
    tmp = tempfile.mkdtemp(prefix="import-gguf-test.")
    good = os.path.join(tmp, "good.gguf")
    hf = write_gguf(good)

    # ---- a good file
    out = os.path.join(tmp, "model")
    rc, so, se = run_import(good, out, "--dtype", "f32")
    ok(rc == 0 and os.path.isfile(os.path.join(out, "model.safetensors")), f"tiny llama GGUF imports (exit {rc})", se)
    if rc == 0:
        cfg = json.load(open(os.path.join(out, "config.json")))
        want = {"model_type": "llama", "hidden_size": H, "intermediate_size": FF, "num_hidden_layers": NL,
                "num_attention_heads": NH, "num_key_value_heads": NKV, "head_dim": HD, "rope_theta": 100000.0,
                "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "vocab_size": 3 + 256 + 9,
                "bos_token_id": 1, "eos_token_id": 2}
        bad = {k: (cfg.get(k), v) for k, v in want.items() if cfg.get(k) != v}
        ok(not bad, "config.json: HF Llama keys from the metadata", bad)
        from safetensors.numpy import load_file
        st = load_file(os.path.join(out, "model.safetensors"))
        ok(sorted(st) == sorted(hf), f"model.safetensors: the {len(hf)} HF tensor names",
           set(st) ^ set(hf))
        exact = [k for k in hf if k in st and st[k].dtype == np.float32 and np.array_equal(st[k], hf[k][0])]
        ok(len(exact) == len(hf), f"F32 weights equal gguf-py's dequantization, q/k rows un-permuted: "
           f"{len(exact)}/{len(hf)}", [k for k in hf if k not in exact][:5])
        # the un-permutation is checked against the values before llama.cpp's permute: a
        # quantized q_proj must be close to them row by row (wrong row order: error ~ 0.1 * sqrt 2)
        qn = "model.layers.0.self_attn.q_proj.weight"
        kn = "model.layers.1.self_attn.k_proj.weight"
        eq = max(float(np.abs(st[qn] - hf[qn][1]).max()), float(np.abs(st[kn] - hf[kn][1]).max()))
        ok(eq < 0.05, f"q_proj / k_proj rows match the HF-order values before permute+Q4_1 (max |err| {eq:.4f})")
        tj = json.load(open(os.path.join(out, "tokenizer.json")))
        ok(tj["pre_tokenizer"]["pretokenizers"][0] == {"type": "Digits", "individual_digits": True}
           and tj["pre_tokenizer"]["pretokenizers"][1]["type"] == "ByteLevel"
           and [a["content"] for a in tj["added_tokens"]] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
           and all(a["special"] for a in tj["added_tokens"]) and tj["decoder"]["type"] == "ByteLevel",
           "tokenizer.json: Digits + ByteLevel, the 3 control tokens special, ByteLevel decoder")
        d16 = os.path.join(tmp, "f16-import")
        rc16, _, se16 = run_import(good, d16)
        st16 = load_file(os.path.join(d16, "model.safetensors")) if rc16 == 0 else {}
        f16 = [k for k in hf if k in st16 and st16[k].dtype == np.float16
               and np.array_equal(st16[k], hf[k][0].astype(np.float16))]
        ok(len(f16) == len(hf), f"the default dtype is F16: the dequantization rounded to nearest-even, "
           f"{len(f16)}/{len(hf)}", se16)
        ok(not os.path.exists(os.path.join(d16, "chat.json")) and "no chat.json" in se16,
           "a chat template that is not ChatML with a generation prompt: no chat.json, and a word on stderr", se16)
        tc = json.load(open(os.path.join(out, "tokenizer_config.json")))
        gc = json.load(open(os.path.join(out, "generation_config.json")))
        ok("chat_template" in tc and gc.get("eos_token_id") == 2, "chat template and eos id 2 written")
        mt = os.path.join(ROOT, "bin", "mtokenize")
        if os.access(mt, os.X_OK):
            p = subprocess.run([mt, "--tokenizer", os.path.join(out, "tokenizer.json"), "--raw", "--ids"],
                               input="hello world 42<|im_end|>\n", capture_output=True, text=True)
            # hello | Ġworld | Ġ | 4 | 2 | <|im_end|> (Digits splits the digits from the space)
            ids = [tj["model"]["vocab"][t] for t in ("hello", "Ġworld", "Ġ", "4", "2")] + [2]
            ok(p.returncode == 0 and p.stdout.split() == [str(i) for i in ids],
               f"bin/mtokenize reads the tokenizer.json: {p.stdout.strip()}", p.stderr)
        else:
            ok(True, "# SKIP bin/mtokenize not built")
        rc2, _, se2 = run_import(good, out)
        ok(rc2 == 73 and len(se2.splitlines()) == 1, f"an existing output directory is refused (exit {rc2})", se2)
        rc3, _, se3 = run_import(good, out, "--force", "--dtype", "bf16")
        ok(rc3 == 0 and leftovers(tmp, "model") == ["model"], f"--force --dtype bf16 replaces it (exit {rc3})", se3)
        # BF16: every value within half a BF16 ulp of the F32 one (read back as BF16 via uint16)
        if rc3 == 0:
            with open(os.path.join(out, "model.safetensors"), "rb") as f:
                hl = int.from_bytes(f.read(8), "little")
                head = json.loads(f.read(hl))
                blob = f.read()
            name = "model.layers.0.mlp.up_proj.weight"
            a, b = head[name]["data_offsets"]
            u = np.frombuffer(blob[a:b], np.uint16).astype(np.uint32) << 16
            v = u.view(np.float32).reshape(head[name]["shape"])
            ref = hf[name][0]
            rel = float(np.max(np.abs(v - ref) / np.maximum(np.abs(ref), 1e-30)))
            ok(head[name]["dtype"] == "BF16" and rel <= 2.0 ** -8, f"BF16 weights: relative error {rel:.2e} <= 2^-8")

    # ---- bad files: exit 65, one line, nothing left
    def refused(name, path, want):
        o = os.path.join(tmp, "out-" + name)
        rc, so, se = run_import(path, o)
        lines = se.strip("\n").splitlines()
        ok(rc == 65 and len(lines) == 1 and want in lines[0] and not leftovers(tmp, "out-" + name),
           f"{name}: exit {rc}, \"{lines[0] if lines else ''}\"", se)

    data = open(good, "rb").read()
    for frac, what in ((0.002, "header"), (0.6, "tensor data"), (0.9999, "last tensor")):
        p = os.path.join(tmp, f"trunc-{what.replace(' ', '-')}.gguf")
        open(p, "wb").write(data[:int(len(data) * frac)])
        refused(f"truncated in the {what}", p, "truncated")
    p = os.path.join(tmp, "qwen2.gguf")
    write_gguf(p, arch="qwen2")
    refused("architecture qwen2", p, "general.architecture is \"qwen2\": only llama is supported")
    p = os.path.join(tmp, "q81.gguf")
    write_gguf(p, qtypes={"blk.1.ffn_up.weight": Q.Q8_1})
    refused("Q8_1 tensor", p, "blk.1.ffn_up.weight: type Q8_1 cannot be dequantized")
    # an unknown type number: patch the type of blk.0.attn_v.weight (after its name, u32 n_dims,
    # n_dims u64 dims) to 250
    name = b"blk.0.attn_v.weight"
    at = data.index(name) + len(name)
    nd = int.from_bytes(data[at:at + 4], "little")
    at += 4 + 8 * nd
    bad = data[:at] + (250).to_bytes(4, "little") + data[at + 4:]
    p = os.path.join(tmp, "type250.gguf")
    open(p, "wb").write(bad)
    refused("unknown tensor type 250", p, "unknown tensor type")
    p = os.path.join(tmp, "ropefreqs.gguf")
    write_gguf(p, extra_tensor="rope_freqs.weight")
    refused("unmapped tensor rope_freqs", p, "tensor rope_freqs.weight: not a tensor")
    p = os.path.join(tmp, "spm.gguf")
    write_gguf(p, tok_model="llama")
    refused("SentencePiece tokenizer", p, "tokenizer.ggml.model is \"llama\"")
    p = os.path.join(tmp, "pre.gguf")
    write_gguf(p, pre="deepseek-llm")
    refused("unknown pre-tokenizer", p, "tokenizer.ggml.pre is \"deepseek-llm\"")
    p = os.path.join(tmp, "notgguf.gguf")
    open(p, "wb").write(b"not a gguf file at all" * 10)
    refused("not a GGUF file", p, "not a readable GGUF file")
    rc, _, se = run_import(os.path.join(tmp, "missing.gguf"), os.path.join(tmp, "x"))
    ok(rc == 66 and len(se.splitlines()) == 1, f"missing input: exit {rc}", se)

    import shutil
    shutil.rmtree(tmp)
    print(f"1..{n}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
