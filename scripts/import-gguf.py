#!/usr/bin/env python3
"""import-gguf.py: a Llama-architecture GGUF file -> a Hugging Face-layout model directory.

    import-gguf.py [--dtype f32|bf16|f16] [--force] MODEL.gguf OUT_DIR

Reads the GGUF and dequantizes its tensors with the `gguf` package (llama.cpp's own Python
reader, gguf-py); no GGUF parsing is done here. Writes, into OUT_DIR:

  config.json              Hugging Face LlamaConfig keys (LlamaForCausalLM)
  model.safetensors        the weights under the HF Llama names; q_proj / k_proj rows put back in
                           HF order (llama.cpp's convert script permutes them for its interleaved
                           RoPE; this undoes it exactly as transformers' GGUF loader does:
                           modeling_gguf_pytorch_utils.reverse_permute_weights)
  tokenizer.json           Hugging Face tokenizers format: BPE model from tokenizer.ggml.tokens
                           and .merges, the pre-tokenizer that llama.cpp's tokenizer.ggml.pre
                           type means, the control tokens as special added tokens, ByteLevel
                           decoder
  tokenizer_config.json    special tokens and tokenizer.chat_template
  generation_config.json   bos / eos (and end-of-turn) ids
  chat.json                the conversation format llamo-chat reads (lib/chat.h), when the chat
                           template is ChatML: checked by rendering the template (jinja2) on
                           probe conversations and comparing with what chat.json renders
  README.md                where it came from

Weights are written as F16 by default: the float32 dequantization of gguf-py (Q4_1 -> d*q + m,
Q8_0 -> d*q, d and m F16) rounded to nearest-even F16, half the bytes of F32, kept 16-bit in
memory by llamo's CPU backend. --dtype f32 writes the exact dequantization; bf16 is also offered.
The measured cost (tests/golden/smollm2/README.md): F16 changes SmolLM2's logits by at most
0.031 and keeps all 20 greedy replies; BF16 by 0.18 and keeps 17.

Refused, with one line on stderr, exit status 65, and no OUT_DIR left behind (everything is
written into a temporary directory next to OUT_DIR and renamed at the end): a file gguf-py
cannot read (truncated, not GGUF), tensor data past the end of the file, an architecture other
than llama, a tensor type gguf-py cannot dequantize or does not know, a tensor this importer
does not map (e.g. rope_freqs: Llama 3.1 RoPE scaling), a missing tensor or a wrong shape, a
tokenizer other than byte-level BPE (tokenizer.ggml.model "gpt2"), a pre-tokenizer type with
no known Hugging Face equivalent here. Exit 64: usage; 66: MODEL.gguf missing; 73: OUT_DIR exists
(without --force); 74: I/O error while writing.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

PROG = "import-gguf"


class Refuse(Exception):
    def __init__(self, msg, code=65):
        super().__init__(msg)
        self.code = code


def die(msg, code):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(code)


# llama.cpp tokenizer.ggml.pre -> Hugging Face pre_tokenizer. Only types checked against
# llama.cpp's own tokenization (tests/golden/smollm2) are listed.
# "smollm" (llama-vocab.cpp LLAMA_VOCAB_PRE_TYPE_SMOLLM: "\p{N}" then the GPT-2 regex) is what
# HuggingFaceTB's SmolLM / SmolLM2 tokenizer.json has: Digits(individual) then ByteLevel.
PRE_TOKENIZERS = {
    "smollm": {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        ],
    },
}

# GGUF (llama.cpp) tensor names -> Hugging Face Llama names.
LAYER_TENSORS = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
TOP_TENSORS = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}

# llama.cpp token types (gguf.TokenType)
TT_NORMAL, TT_UNKNOWN, TT_CONTROL, TT_USER_DEFINED, TT_UNUSED, TT_BYTE = 1, 2, 3, 4, 5, 6


def field(reader, key, default=None, required=False):
    f = reader.fields.get(key)
    if f is None:
        if required:
            raise Refuse(f"metadata {key}: missing")
        return default
    v = f.contents()
    return v


def reverse_permute(w, n_head):
    """Undoes llama.cpp convert_hf_to_gguf.py LlamaModel.permute on the rows of w ([n_head*hd, in]):
    transformers modeling_gguf_pytorch_utils.reverse_permute_weights."""
    dim = w.shape[0] // n_head // 2
    return w.reshape(n_head, dim, 2, *w.shape[1:]).swapaxes(2, 1).reshape(w.shape)


def round_to(x, dtype):
    """float32 array -> (raw little-endian bytes, safetensors dtype) in the output dtype."""
    import numpy as np
    x = np.ascontiguousarray(x, dtype=np.float32)
    if dtype == "f32":
        return x.tobytes(), "float32"
    if dtype == "f16":
        with np.errstate(over="raise"):
            try:
                return x.astype(np.float16).tobytes(), "float16"
            except FloatingPointError:
                raise Refuse("a weight overflows float16; use --dtype f32 or bf16")
    # bf16: round to nearest even on the float32 bits (finite values only here)
    u = x.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return r.tobytes(), "bfloat16"


def build_config(reader):
    arch = field(reader, "general.architecture", required=True)
    if arch != "llama":
        raise Refuse(f"general.architecture is \"{arch}\": only llama is supported")
    a = "llama."
    n_embd = int(field(reader, a + "embedding_length", required=True))
    n_head = int(field(reader, a + "attention.head_count", required=True))
    n_kv = int(field(reader, a + "attention.head_count_kv", n_head))
    head_dim = int(field(reader, a + "attention.key_length", n_embd // n_head))
    rot = field(reader, a + "rope.dimension_count", head_dim)
    if int(rot) != head_dim:
        raise Refuse(f"metadata {a}rope.dimension_count {rot} != head_dim {head_dim}: partial RoPE not supported")
    if field(reader, a + "rope.scaling.type") not in (None, "none"):
        raise Refuse(f"metadata {a}rope.scaling.type \"{field(reader, a + 'rope.scaling.type')}\": RoPE scaling not supported")
    tokens = field(reader, "tokenizer.ggml.tokens", required=True)
    n_vocab = int(field(reader, a + "vocab_size", len(tokens)))
    import numpy as np
    eps = float(str(np.float32(field(reader, a + "attention.layer_norm_rms_epsilon", required=True))))
    theta = float(str(np.float32(field(reader, a + "rope.freq_base", 10000.0))))
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": n_vocab,
        "hidden_size": n_embd,
        "intermediate_size": int(field(reader, a + "feed_forward_length", required=True)),
        "num_hidden_layers": int(field(reader, a + "block_count", required=True)),
        "num_attention_heads": n_head,
        "num_key_value_heads": n_kv,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": int(field(reader, a + "context_length", 2048)),
        "rms_norm_eps": eps,
        "rope_theta": theta,
        "rope_scaling": None,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": not any(t.name == "output.weight" for t in reader.tensors),
    }
    for key, name in (("bos", "bos_token_id"), ("eos", "eos_token_id"), ("padding", "pad_token_id")):
        v = field(reader, f"tokenizer.ggml.{key}_token_id")
        if v is not None:
            cfg[name] = int(v)
    return cfg


def load_tensors(reader, cfg, path):
    """Dequantized float32 numpy arrays under HF names, in HF row order."""
    import numpy as np
    import gguf
    from gguf import GGMLQuantizationType as Q
    size = os.path.getsize(path)
    n_layer, H, hd = cfg["num_hidden_layers"], cfg["hidden_size"], cfg["head_dim"]
    nh, nkv, ff, V = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["intermediate_size"], cfg["vocab_size"]
    want = {"model.embed_tokens.weight": (V, H), "model.norm.weight": (H,)}
    if not cfg["tie_word_embeddings"]:
        want["lm_head.weight"] = (V, H)
    for i in range(n_layer):
        p = f"model.layers.{i}."
        want.update({p + "input_layernorm.weight": (H,), p + "post_attention_layernorm.weight": (H,),
                     p + "self_attn.q_proj.weight": (nh * hd, H), p + "self_attn.k_proj.weight": (nkv * hd, H),
                     p + "self_attn.v_proj.weight": (nkv * hd, H), p + "self_attn.o_proj.weight": (H, nh * hd),
                     p + "mlp.gate_proj.weight": (ff, H), p + "mlp.up_proj.weight": (ff, H),
                     p + "mlp.down_proj.weight": (H, ff)})
    out = {}
    for t in reader.tensors:
        if t.data_offset + t.n_bytes > size:
            raise Refuse(f"tensor {t.name}: data ends at byte {t.data_offset + t.n_bytes}, past the end of the file ({size} bytes): truncated")
        name = TOP_TENSORS.get(t.name)
        parts = t.name.split(".")
        if name is None and len(parts) == 4 and parts[0] == "blk" and parts[1].isdigit() and parts[3] == "weight" \
                and parts[2] in LAYER_TENSORS:
            name = f"model.layers.{int(parts[1])}.{LAYER_TENSORS[parts[2]]}.weight"
        if name is None or name not in want:
            raise Refuse(f"tensor {t.name}: not a tensor of the Llama architecture this importer maps")
        qt = t.tensor_type
        if qt not in (Q.F32, Q.F16) and qt not in gguf.quants._type_traits:
            raise Refuse(f"tensor {t.name}: type {qt.name} cannot be dequantized by gguf-py {gguf_version()}")
        try:
            w = gguf.quants.dequantize(t.data, qt)
        except NotImplementedError as e:
            raise Refuse(f"tensor {t.name}: type {qt.name}: {e}")
        w = np.asarray(w, dtype=np.float32).reshape(tuple(int(d) for d in reversed(t.shape.tolist())))
        if w.shape != want[name]:
            raise Refuse(f"tensor {t.name}: shape {list(w.shape)} (rows, columns), want {list(want[name])}")
        if ".attn_q." in t.name:
            w = reverse_permute(w, nh)
        elif ".attn_k." in t.name:
            w = reverse_permute(w, nkv)
        out[name] = w
    missing = [n for n in want if n not in out]
    if missing:
        raise Refuse(f"tensor {missing[0]} (HF name): missing from the file ({len(missing)} missing)")
    return out


def gguf_version():
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:
        return "?"


def build_tokenizer(reader, cfg):
    model = field(reader, "tokenizer.ggml.model", required=True)
    if model != "gpt2":
        raise Refuse(f"tokenizer.ggml.model is \"{model}\": only byte-level BPE (\"gpt2\") is supported")
    pre = field(reader, "tokenizer.ggml.pre", "default")
    if pre not in PRE_TOKENIZERS:
        raise Refuse(f"tokenizer.ggml.pre is \"{pre}\": no Hugging Face pre-tokenizer known for it here "
                     f"(supported: {', '.join(sorted(PRE_TOKENIZERS))})")
    tokens = field(reader, "tokenizer.ggml.tokens", required=True)
    types = field(reader, "tokenizer.ggml.token_type", [TT_NORMAL] * len(tokens))
    merges = field(reader, "tokenizer.ggml.merges", required=True)
    if len(types) != len(tokens):
        raise Refuse("tokenizer.ggml.token_type: not one per token")
    if len(tokens) != cfg["vocab_size"]:
        raise Refuse(f"tokenizer.ggml.tokens: {len(tokens)} tokens, vocab_size is {cfg['vocab_size']}")
    vocab, added = {}, []
    for i, (tok, ty) in enumerate(zip(tokens, types)):
        if tok in vocab:
            raise Refuse(f"tokenizer.ggml.tokens[{i}]: \"{tok}\" repeats token {vocab[tok]}")
        vocab[tok] = i
        if ty in (TT_CONTROL, TT_USER_DEFINED):
            # control tokens: special; user-defined: matched in text but not special (llama.cpp)
            added.append({"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": ty == TT_CONTROL})
        elif ty not in (TT_NORMAL, TT_UNUSED, TT_UNKNOWN):
            raise Refuse(f"tokenizer.ggml.token_type[{i}]: type {ty} not supported for byte-level BPE")
    unk = field(reader, "tokenizer.ggml.unknown_token_id")
    bos = cfg.get("bos_token_id")
    add_bos = bool(field(reader, "tokenizer.ggml.add_bos_token", False))
    post = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
    if add_bos and bos is not None:
        b = tokens[bos]
        post = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": b, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": b, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": b, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {b: {"id": b, "ids": [bos], "tokens": [b]}}}
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": PRE_TOKENIZERS[pre],
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None,
            "unk_token": tokens[int(unk)] if unk is not None and 0 <= int(unk) < len(tokens) else None,
            "continuing_subword_prefix": None, "end_of_word_suffix": None,
            "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": vocab,
            "merges": list(merges),
        },
    }
    for i, m in enumerate(merges):
        a, sep, b = m.partition(" ")
        if not sep or a not in vocab or b not in vocab or a + b not in vocab:
            raise Refuse(f"tokenizer.ggml.merges[{i}]: \"{m}\" is not two vocab tokens whose join is one")
    special = {}
    for key in ("bos", "eos", "unknown", "padding"):
        v = field(reader, f"tokenizer.ggml.{key}_token_id")
        if v is not None and 0 <= int(v) < len(tokens):
            special[{"unknown": "unk", "padding": "pad"}.get(key, key) + "_token"] = tokens[int(v)]
    tcfg = {
        "add_bos_token": add_bos,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": cfg["max_position_embeddings"],
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special,
        "added_tokens_decoder": {str(a["id"]): {k: a[k] for k in a if k != "id"} for a in added},
    }
    tmpl = field(reader, "tokenizer.chat_template")
    if tmpl is not None:
        tcfg["chat_template"] = tmpl
    return tok, tcfg


def generation_config(reader, cfg):
    g = {"_from_gguf": True}
    if "bos_token_id" in cfg:
        g["bos_token_id"] = cfg["bos_token_id"]
    eos = []
    for key in ("eos", "eot", "eom"):  # end of sequence, end of turn, end of message
        v = field(reader, f"tokenizer.ggml.{key}_token_id")
        if v is not None and int(v) not in eos:
            eos.append(int(v))
    if eos:
        g["eos_token_id"] = eos[0] if len(eos) == 1 else eos
    if "pad_token_id" in cfg:
        g["pad_token_id"] = cfg["pad_token_id"]
    del g["_from_gguf"]
    return g


CHATML = {"turn": "<|im_start|>{role}\n{content}<|im_end|>\n", "generation_prompt": "<|im_start|>assistant\n",
          "end_of_turn": ["<|im_end|>"]}


def chat_format(tcfg):
    """chat.json for llamo-chat, or None (with the reason) when the template is not ChatML as
    lib/chat.c renders it. The template itself is rendered with jinja2, as transformers does."""
    tmpl = tcfg.get("chat_template")
    if not tmpl:
        return None, "no chat template"
    try:
        import jinja2
    except ImportError:
        return None, "jinja2 is not installed"
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    t = env.from_string(tmpl)

    def render(msgs):
        return t.render(messages=msgs, add_generation_prompt=True, bos_token=tcfg.get("bos_token", ""),
                        eos_token=tcfg.get("eos_token", ""))

    def ours(system, user):
        turn = CHATML["turn"]
        s = turn.replace("{role}", "system").replace("{content}", system) if system else ""
        return s + turn.replace("{role}", "user").replace("{content}", user) + CHATML["generation_prompt"]

    start = "<|im_start|>system\n"
    plain = render([{"role": "user", "content": "\x02"}])
    default = ""
    if plain.startswith(start) and "<|im_end|>" in plain:
        default = plain[len(start):plain.index("<|im_end|>")]
    probes = [(None, "Hello!"), ("Be brief.", "What is 2+2?"), (None, "two\nlines")]
    for system, user in probes:
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        if render(msgs) != ours(system if system else default, user):
            return None, "the chat template is not ChatML as llamo-chat renders it"
    return dict(CHATML, default_system=default), None


def write_safetensors(path, tensors, dtype, meta):
    """F32 / F16 through the safetensors package; BF16, which numpy (and so safetensors.numpy)
    has no dtype for, with the same layout written here: u64 header length, JSON header
    {name: {dtype, shape, data_offsets}, "__metadata__"} padded with spaces to 8 bytes, data."""
    import numpy as np
    if dtype != "bf16":
        from safetensors.numpy import save_file
        np_dt = np.float32 if dtype == "f32" else np.float16
        save_file({k: np.frombuffer(round_to(w, dtype)[0], np_dt).reshape(w.shape) for k, w in tensors.items()},
                  path, metadata=meta)
        return
    header, blobs, at = {"__metadata__": meta}, [], 0
    for name in sorted(tensors):
        data, _ = round_to(tensors[name], dtype)
        header[name] = {"dtype": "BF16", "shape": list(tensors[name].shape), "data_offsets": [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


def model_card(src, cfg, dtype, reader):
    name = field(reader, "general.name", "?")
    lic = field(reader, "general.license", "?")
    return (f"# {os.path.basename(src)} imported\n\n"
            f"Written by scripts/import-gguf.py (gguf-py {gguf_version()}) from `{os.path.basename(src)}` "
            f"(general.name \"{name}\", license {lic}).\n"
            f"Weights: {dtype.upper()} dequantization of the GGUF tensors, Hugging Face Llama names, "
            f"q_proj/k_proj rows in Hugging Face order. {cfg['num_hidden_layers']} layers, hidden "
            f"{cfg['hidden_size']}, {cfg['num_attention_heads']}/{cfg['num_key_value_heads']} heads, "
            f"vocabulary {cfg['vocab_size']}.\n")


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf", help="the .gguf file (llama architecture)")
    ap.add_argument("out", help="the model directory to create")
    ap.add_argument("--dtype", choices=("f32", "bf16", "f16"), default="f16",
                    help="weight dtype in model.safetensors (default f16; f32: the exact dequantization)")
    ap.add_argument("--force", action="store_true", help="replace OUT if it exists")
    args = ap.parse_args(argv)
    src, out = args.gguf, os.path.normpath(args.out)
    if not os.path.isfile(src):
        die(f"{src}: no such file", 66)
    if os.path.exists(out) and not args.force:
        die(f"{out}: exists (use --force to replace it)", 73)
    try:
        import numpy  # noqa: F401
        import gguf
        import safetensors  # noqa: F401
    except ImportError as e:
        die(f"needs the Python packages gguf, numpy and safetensors: {e}", 69)
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp.", dir=parent)
    try:
        try:
            reader = gguf.GGUFReader(src)
        except Exception as e:  # gguf-py raises ValueError/IndexError/... on short or foreign files
            if "GGMLQuantizationType" in str(e):  # the enum refused a type number
                raise Refuse(f"unknown tensor type (gguf-py {gguf_version()}): {e}")
            raise Refuse(f"not a readable GGUF file (truncated or corrupt): {type(e).__name__}: {e}")
        try:
            cfg = build_config(reader)
            tok, tcfg = build_tokenizer(reader, cfg)
            tensors = load_tensors(reader, cfg, src)
        except (ValueError, KeyError, IndexError) as e:  # malformed fields
            if isinstance(e, Refuse):
                raise
            raise Refuse(f"malformed GGUF: {type(e).__name__}: {e}")
        cfg["torch_dtype"] = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}[args.dtype]
        gen = generation_config(reader, cfg)

        def dump(name, obj):
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                json.dump(obj, f, ensure_ascii=False, indent=None if name == "tokenizer.json" else 2)
                f.write("\n")

        dump("config.json", cfg)
        dump("tokenizer.json", tok)
        dump("tokenizer_config.json", tcfg)
        dump("generation_config.json", gen)
        chat, why = chat_format(tcfg)
        if chat:
            dump("chat.json", chat)
        else:
            print(f"{PROG}: no chat.json: {why} (llamo-chat will not take this model)", file=sys.stderr)
        with open(os.path.join(tmp, "README.md"), "w", encoding="utf-8") as f:
            f.write(model_card(src, cfg, args.dtype, reader))
        write_safetensors(os.path.join(tmp, "model.safetensors"), tensors, args.dtype,
                          {"format": "pt", "source": os.path.basename(src)})
        os.chmod(tmp, 0o755)
        for name in os.listdir(tmp):
            os.chmod(os.path.join(tmp, name), 0o644)
        old = None
        if os.path.exists(out):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.old.", dir=parent)
            os.rename(out, os.path.join(old, "x"))
        os.rename(tmp, out)
        if old:
            shutil.rmtree(old)
    except Refuse as e:
        shutil.rmtree(tmp, ignore_errors=True)
        die(f"{src}: {e}", e.code)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        die(f"{out}: {e}", 74)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"{PROG}: wrote {out} ({args.dtype}, {len(tensors)} tensors)", file=sys.stderr)


if __name__ == "__main__":
    main()
