#!/usr/bin/env python3
"""smollm2-oracle.py: writes tests/golden/smollm2/ from code we did not write (not run by CI).

    smollm2-oracle.py [--gguf FILE] [--model DIR] [--out DIR] [--shared DIR] STEP...

STEP is one or more of:
  tokens    token ids from llama.cpp (llama-cpp-python, vocab_only=True, add_bos=False,
            special=True) for every text of SHARED/vectors.jsonl and the project's own strings
            (own_strings: digit runs, code, white space, accents, CJK, emoji, ChatML):
            OUT/tokens.jsonl (own strings: text + ids) and OUT/tokens_shared.jsonl (shared lines:
            line number, byte length and ids, no text: the Llama 3 fixtures are not ours to
            copy); copies MODEL/tokenizer.json to OUT (what the C test reads); also reports how many of them Hugging Face `tokenizers` gives the same ids
            for on MODEL/tokenizer.json (a second opinion, not written)
  pretok    OUT/pretok_shapes.json: ids from Hugging Face `tokenizers` for the SmolLM2 vocabulary
            under other pre-tokenizers (Split behaviors, invert, String patterns, Digits,
            ByteLevel options, nested Sequence), for test_smollm2_tok
  logits    transformers loading the GGUF (gguf_file=): the last-position logits of 20 ChatML
            prompts (OUT/logits.safetensors: top 64 of each, 4 full rows) and greedy replies of
            up to 64 tokens from transformers and from llama.cpp's own quantized run
            (OUT/replies.json); also checks MODEL/model.safetensors against transformers'
            weights
  dtype     the cost of writing the weights as BF16 / F16 instead of F32: runs the importer with
            each dtype, loads each directory in transformers (computing in float32) and compares
            the logits and greedy replies with the F32 ones (prints a table; OUT/dtype_cost.json)

Needs a Python with gguf, numpy, safetensors, tokenizers, transformers (4.45.2 here), torch
and llama-cpp-python (see tests/golden/smollm2/README.md for the versions used).
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEF_GGUF = os.path.expanduser("~/.cache/llamo/SmolLM2-135M-Instruct.Q4_1.gguf")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- strings

def own_strings():
    """The project's own strings: digit runs, code, white space, accents, CJK, emoji, ChatML."""
    S = []
    # digits
    for n in range(1, 41):
        S.append("".join(str((i * 7 + 3) % 10) for i in range(n)))
    S += ["0", "00", "007", "3.14159", "1,000,000", "-42", "+1 (555) 010-9999", "1e-5", "6.022e23",
          "2026-12-02", "19:05:00", "v1.2.3", "0x1F600", "0b1010", "$12.50", "€9,99", "100%", "50/50",
          "a1b2c3", "abc123def", "x2 + y2 = z2", "version 10 of 2000 items", "#1 and #22 and #333",
          "١٢٣٤٥", "१२३४५", "１２３４５", "x² + y³", "½ cup", "Ⅻ o'clock", "①②③", "𝟏𝟐𝟑", "٣.١٤",
          "12 345 678", "3'000'000", "12abc", "abc12", " 12", "12 ", "1 2 3", "1\n2\n3", "1\t2",
          "Room 101, floor 3, 2 people", "The years 1999, 2000 and 2001.", "pi=3.1415926535897932384626"]
    # code
    S += [
        "def f(x):\n    return x * 2\n",
        "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}",
        "#include <stdio.h>\nint main(void) { printf(\"hi\\n\"); return 0; }",
        "const x = () => { return [1, 2, 3].map(v => v ** 2); };",
        "fn main() { let v: Vec<u32> = (0..10).collect(); println!(\"{:?}\", v); }",
        "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
        "{\"key\": [1, 2.5, null, true], \"nested\": {\"a\": \"b\"}}",
        "<div class=\"x\"><span>text</span></div>",
        "if [ -f \"$f\" ]; then\n  echo \"$f\" | sed 's/a/b/g'\nfi",
        "    indented four\n        indented eight\n\t\ttabbed",
        "x=1;y=2;z=x+y", "a->b->c", "i++ && --j || !k", "foo.bar_baz(qux)", "CamelCaseName snake_case_name",
        "// comment\n/* block */", "# heading\n\n- item\n- item 2\n", "```python\nprint('hi')\n```",
        "class A(B):\n    pass\n\n\nclass C:\n    x: int = 0\n", "return;}}}\n\n",
        "    def __init__(self, *args, **kwargs):\n        super().__init__(*args, **kwargs)",
        "lambda x: x if x else None", "<?php echo $x; ?>", "@decorator\ndef g(): ...",
        "matrix[i][j] = matrix[j][i]", "std::vector<std::string> v{\"a\", \"b\"};",
    ]
    # white space runs
    for n in range(1, 21):
        S.append(" " * n)
        S.append("a" + " " * n + "b")
    for n in range(1, 9):
        S += ["\t" * n, "\n" * n, "x" + "\n" * n + "y", " \n" * n, "\r\n" * n, "a" + "\t" * n + "b"]
    S += [" leading", "trailing ", "  both  ", "a \u00a0b", "\u3000全角", "thin\u2009space", "x\u0085y",
          "\u200bzero width", "line\u2028sep", "a\u000bb\u000cc", " \t \n \r ", "\n\n\n\ntext\n\n\n",
          "word \n word", "word  \n  word", "  \n  ", "end.\n", "\u00a0\u00a0", "tab\t\tend\t"]
    # accents and Latin
    S += ["café", "naïve façade", "Ünïcödé", "Straße", "crème brûlée", "São Paulo", "Łódź", "Dvořák",
          "Tiếng Việt có dấu", "e\u0301", "cafe\u0301", "A\u030a", "ﬁnance", "Æsir", "œuvre", "İstanbul",
          "ÀÉÎÕÜ àéîõü", "Ça va? Très bien!", "El niño comió jalapeños.", "Ελληνικά", "Русский текст",
          "עברית", "العربية", "हिन्दी", "ไทย", "Հայերեն", "ქართული", "አማርኛ"]
    # CJK
    S += ["你好，世界！", "我喜欢吃苹果。", "日本語のテキストです。", "カタカナとひらがな", "한국어 문장입니다.",
          "漢字かな交じり文", "中文English混合", "東京2020", "第3章", "（括弧）「引用」", "一二三四五",
          "北京 上海 广州", "これは、テストです。", "ﾊﾝｶｸｶﾀｶﾅ", "㈱㍻", "𠀋𡈽𡌛"]
    # emoji
    S += ["🦙", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷🇯🇵", "1️⃣", "❤️", "🙂 smile", "emoji🦙in🦙text", "😀😃😄😁",
          "🏳️‍🌈", "☕ coffee", "✨✨✨", "🤖: hi!", "a👍b", "👩🏽‍💻 codes", "⌚⏰", "🫠"]
    # contractions and punctuation
    S += ["don't", "DON'T", "I'm", "I'M", "they'll", "we've", "she'd", "it's", "'s", "'t", "rock'n'roll",
          "o'clock", "“quoted”", "‘single’", "a—b–c", "wait...", "What?!", "(a) [b] {c}", "a/b\\c",
          "~!@#$%^&*()_+", "<<>>", "....", "----", "====", "!!!", "¿Qué?", "¡Hola!", "«guillemets»"]
    # ChatML and special tokens
    S += [
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|>user\nHello!<|im_end|>\n",
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
        "<|im_end|><|im_start|>", " <|im_end|> ", "<|im_start|> user", "<|im_start|>assistant\n4<|im_end|>",
        "<|im_start", "im_end|>", "<|IM_START|>", "< |im_end|>", "<|im_end |>", "<|unknown|>",
        "<repo_name>llamo<file_sep>a.c", "<filename>x.py", "<gh_stars>100", "<issue_start>bug<issue_comment>ok<issue_closed>",
        "<jupyter_start><jupyter_code>print(1)<jupyter_output>1<empty_output>", "<reponame>", "<jupyter_text>",
        "<jupyter_script>", "text<|endoftext|>more", "<|im_start|><|im_start|>", "<<|im_end|>>", "<|im_end|>\n\n",
        "<|im_start|>user\n1234567890<|im_end|>", "<|im_start|>user\n你好🦙<|im_end|>",
    ]
    # a text with U+0000, and long ones
    S += ["a\u0000b", "x" * 300, "ab" * 200, " " * 100 + "x", "9" * 200,
          "The quick brown fox jumps over the lazy dog. " * 20]
    # seeded mixtures of fragments
    frags = ["hello", " world", "123", "4567", " ", "  ", "\n", "\t", "café", "你好", "🦙", "'s", "don't",
             "<|im_start|>", "<|im_end|>", "x=1;", "(", ")", "...", "Ωμέγα", "ё", "١٢", "½", "\u00a0",
             "\r\n", "—", "e\u0301", "ABC", "def", "_", "-", "0.5", "$", "#", "😀", "👍🏽", "がんばって", "한", " 42 "]
    rng = random.Random(20261202)
    for _ in range(400):
        S.append("".join(rng.choice(frags) for _ in range(rng.randint(1, 12))))
    seen, out = set(), []
    for s in S:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


# ---------------------------------------------------------------- tokens

def llama_vocab(gguf):
    from llama_cpp import Llama
    return Llama(model_path=gguf, vocab_only=True, verbose=False)


def lc_tokenize(llm, text):
    return list(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))


def step_tokens(a):
    llm = llama_vocab(a.gguf)
    own = own_strings()
    rows_own = [{"text": t, "ids": lc_tokenize(llm, t)} for t in own]
    rows_shared = []
    vec = os.path.join(a.shared, "vectors.jsonl")
    with open(vec, encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            t = json.loads(line)["text"]
            rows_shared.append({"line": ln, "bytes": len(t.encode("utf-8")), "ids": lc_tokenize(llm, t),
                                "_text": t})
    with open(os.path.join(a.out, "tokens.jsonl"), "w", encoding="utf-8") as f:
        for r in rows_own:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(os.path.join(a.out, "tokens_shared.jsonl"), "w", encoding="utf-8") as f:
        for r in rows_shared:
            f.write(json.dumps({k: v for k, v in r.items() if k != "_text"}) + "\n")
    shutil.copyfile(os.path.join(a.model, "tokenizer.json"), os.path.join(a.out, "tokenizer.json"))
    log(f"tokens: {len(rows_own)} own strings + {len(rows_shared)} shared lines from llama.cpp; "
        f"copied {a.model}/tokenizer.json")
    # a second opinion: Hugging Face tokenizers on the imported tokenizer.json
    from tokenizers import Tokenizer
    tk = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    diff = []
    for r in rows_own + rows_shared:
        t = r.get("text", r.get("_text"))
        hf = tk.encode(t, add_special_tokens=False).ids
        if hf != r["ids"]:
            diff.append((t, hf, r["ids"]))
    log(f"tokens: HF tokenizers agrees with llama.cpp on {len(rows_own) + len(rows_shared) - len(diff)}"
        f"/{len(rows_own) + len(rows_shared)}")
    for t, hf, lc in diff[:20]:
        log(f"  differs: {t!r}\n    hf {hf}\n    lc {lc}")


# ---------------------------------------------------------------- pre-tokenizer shapes

def step_pretok(a):
    from tokenizers import Tokenizer
    with open(os.path.join(a.model, "tokenizer.json"), encoding="utf-8") as f:
        base = json.load(f)
    # SmolLM2's vocabulary has no token of two digits, so Digits individual and Contiguous, or a
    # Split that keeps a space before digits, would give the same ids: a few merges of digits
    # (and of a space with digits) are appended for this test only
    extra_merges = ["1 2", "12 3", "4 5", "45 6", "456 7", "9 9", "Ġ 1", "Ġ1 2", "Ġ 4", "Ġ4 5", "x 1", "Ġ 9", "Ġ9 9"]
    vocab = dict(base["model"]["vocab"])
    extra_vocab = {}
    for m in extra_merges:
        l, r = m.split(" ")
        assert l in vocab and r in vocab and l + r not in vocab
        extra_vocab[l + r] = vocab[l + r] = len(vocab)
    base = dict(base, model=dict(base["model"], vocab=vocab, merges=base["model"]["merges"] + extra_merges))
    BL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    BL_noregex = dict(BL, use_regex=False)

    def split(pat, beh, inv=False, kind="Regex"):
        return {"type": "Split", "pattern": {kind: pat}, "behavior": beh, "invert": inv}

    shapes = []
    for beh in ("Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"):
        for inv in (False, True):
            shapes.append({"type": "Sequence", "pretokenizers": [split(" ", beh, inv), BL_noregex]})
            shapes.append({"type": "Sequence", "pretokenizers": [split("\\p{N}+|x*", beh, inv), BL]})
        shapes.append({"type": "Sequence", "pretokenizers": [split("ab", beh, False, "String"), BL_noregex]})
        shapes.append({"type": "Sequence", "pretokenizers": [split("[.*]", beh, True, "String"), BL]})
    for ind in (True, False):
        shapes.append({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": ind}, BL]})
    for aps in (True, False):
        for ure in (True, False):
            shapes.append(dict(BL, add_prefix_space=aps, use_regex=ure))
    shapes.append({"type": "Sequence", "pretokenizers": [
        {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": False},
                                               split("\\s+", "MergedWithNext")]},
        dict(BL, add_prefix_space=True)]})
    texts = ["Hello world", "  two  spaces  ", "abc123def4567", "ab ab aab abab", "x1xx22 xxx333", "12 123 1234 4567 99 999 x1 x12",
             "a.*b.*.*c", "...", "", " ", "1 2 3 45 678", "tab\there\nnew line", "ends with space ",
             "<|im_start|>user 12 ab<|im_end|>", "café 你好 🦙 ١٢٣ ½", "xxxx", "don't stop 99 bottles"]
    out = []
    for sh in shapes:
        j = dict(base, pre_tokenizer=sh)
        tk = Tokenizer.from_str(json.dumps(j))
        out.append({"pre_tokenizer": sh,
                    "cases": [{"text": t, "ids": tk.encode(t, add_special_tokens=False).ids} for t in texts]})
    with open(os.path.join(a.out, "pretok_shapes.json"), "w", encoding="utf-8") as f:
        json.dump({"extra_vocab": extra_vocab, "extra_merges": extra_merges, "shapes": out}, f,
                  ensure_ascii=False, indent=0)
        f.write("\n")
    log(f"pretok: {len(shapes)} pre-tokenizers x {len(texts)} texts from HF tokenizers")


# ---------------------------------------------------------------- logits and replies

PROMPTS = [
    "Hello! Who are you?",
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain gravity in one sentence.",
    "List three primary colors.",
    "What is 12 times 7?",
    "Translate 'good morning' into Spanish.",
    "Give me a name for a pet turtle.",
    "How do I boil an egg?",
    "What does a motion capture suit do?",
    "Describe a person walking in the rain.",
    "Write a Python function that adds two numbers.",
    "Why is the sky blue?",
    "Summarize the plot of Romeo and Juliet in two sentences.",
    "What is the opposite of 'hot'?",
    "Tell me a fun fact about octopuses.",
    "How many legs does a spider have?",
    "Suggest a short title for a story about a robot who dances.",
    "What should I pack for a day hike?",
    "Say something kind.",
]
EOT = 2  # <|im_end|>
TOPK = 64
FULL_ROWS = (0, 5, 11, 19)


def chat_prompts(gguf):
    """The 20 prompts rendered with the GGUF's own chat template (jinja2), generation prompt on."""
    import gguf as G
    import jinja2
    r = G.GGUFReader(gguf)
    tmpl = r.fields["tokenizer.chat_template"].contents()
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    t = env.from_string(tmpl)
    return [t.render(messages=[{"role": "user", "content": p}], add_generation_prompt=True) for p in PROMPTS]


def hf_model_from_gguf(gguf):
    import torch
    from transformers import AutoModelForCausalLM
    # transformers 4.45 maps no tie_word_embeddings from GGUF (a file without output.weight has
    # tied embeddings, as llama.cpp reads it); without this lm_head would stay random.
    m = AutoModelForCausalLM.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf),
                                             torch_dtype=torch.float32, tie_word_embeddings=True)
    m.eval()
    assert m.lm_head.weight.data_ptr() == m.model.embed_tokens.weight.data_ptr(), "lm_head not tied"
    return m


def hf_greedy(m, ids, n=64):
    """Last-position logits of the prompt, and greedy ids (argmax, lowest id on ties), stopping
    after <|im_end|> or n tokens; also the top1 - top2 margin at every step."""
    import torch
    with torch.no_grad():
        out = m(torch.tensor([ids]), use_cache=True)
        first = out.logits[0, -1].clone()
        logits, past, reply, margins = first, out.past_key_values, [], []
        for _ in range(n):
            top2 = torch.topk(logits, 2)
            tok = int(torch.argmax(logits))
            reply.append(tok)
            margins.append(float(top2.values[0] - top2.values[1]))
            if tok == EOT:
                break
            out = m(torch.tensor([[tok]]), past_key_values=past, use_cache=True)
            logits, past = out.logits[0, -1], out.past_key_values
    return first.numpy(), reply, margins


def lc_model(gguf):
    """llama.cpp on the quantized GGUF, 2 threads, without the "extra buffer types" (weight
    repacking and the AMX kernels: ggml_backend_amx_mul_mat segfaults on this machine's CPU,
    which reports AMX), so the plain ggml CPU kernels run (Q4_1 x Q8_1 dot products)."""
    import llama_cpp
    import llama_cpp.llama as L
    orig = llama_cpp.llama_model_default_params

    def params():
        p = orig()
        p.use_extra_bufts = False
        return p
    L.llama_cpp.llama_model_default_params = params
    try:
        return L.Llama(model_path=gguf, n_ctx=512, n_threads=2, verbose=False)
    finally:
        L.llama_cpp.llama_model_default_params = orig


def lc_greedy(gguf, prompts_ids, n=64):
    import numpy as np
    import llama_cpp
    llm = lc_model(gguf)
    nv = llm.n_vocab()

    def last_logits():  # the logits of the last evaluated position (llama_get_logits_ith(-1))
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(nv,)).astype(np.float32)

    res = []
    for ids in prompts_ids:
        llm.reset()
        llm.eval(ids)
        first = last_logits()
        logits, reply = first, []
        for _ in range(n):
            tok = int(np.argmax(logits))
            reply.append(tok)
            if tok == EOT:
                break
            llm.eval([tok])
            logits = last_logits()
        res.append((first, reply))
    return res


def step_logits(a):
    import numpy as np
    import torch
    from safetensors.numpy import save_file, load_file
    torch.set_num_threads(2)
    texts = chat_prompts(a.gguf)
    llm = llama_vocab(a.gguf)
    prompts_ids = [lc_tokenize(llm, t) for t in texts]
    del llm
    t0 = time.time()
    lc = lc_greedy(a.gguf, prompts_ids)
    log(f"logits: llama.cpp: 20 prompts + greedy replies in {time.time() - t0:.1f} s")
    t0 = time.time()
    m = hf_model_from_gguf(a.gguf)
    log(f"logits: transformers loaded the GGUF in {time.time() - t0:.1f} s")
    # the importer's weights against transformers' own dequantization + un-permutation
    st = load_file(os.path.join(a.model, "model.safetensors"))
    sd = {k: v.numpy() for k, v in m.state_dict().items()}
    worst = 0.0
    for k, v in st.items():
        worst = max(worst, float(np.max(np.abs(v.astype(np.float32) - sd[k]))))
    missing = [k for k in sd if k not in st and k != "lm_head.weight"]
    log(f"logits: {len(st)} imported tensors vs transformers: max |diff| {worst}, missing {missing}")
    rows, hf_replies, hf_margins = [], [], []
    t0 = time.time()
    for ids in prompts_ids:
        first, reply, margins = hf_greedy(m, ids)
        rows.append(first)
        hf_replies.append(reply)
        hf_margins.append(margins)
    log(f"logits: transformers: 20 prompts + greedy replies in {time.time() - t0:.1f} s")
    L = np.stack(rows).astype(np.float32)
    order = np.argsort(-L, axis=1, kind="stable")[:, :TOPK]
    tensors = {
        "topk_ids": order.astype(np.int32),
        "topk_logits": np.take_along_axis(L, order, axis=1).astype(np.float32),
        "full_rows": L[list(FULL_ROWS)].astype(np.float32),
        "full_row_prompts": np.array(FULL_ROWS, dtype=np.int32),
        "llamacpp_topk_logits": np.stack([np.asarray(f)[order[i]] for i, (f, _) in enumerate(lc)]).astype(np.float32),
    }
    save_file(tensors, os.path.join(a.out, "logits.safetensors"),
              metadata={"source": "transformers GGUF loader, float32, last prompt position", "topk": str(TOPK)})
    agree = sum(1 for (f, r), h in zip(lc, hf_replies) if r == h)
    first_diff = []
    for (f, r), h in zip(lc, hf_replies):
        k = next((i for i in range(min(len(r), len(h))) if r[i] != h[i]), None)
        first_diff.append(k if k is not None else (None if len(r) == len(h) else min(len(r), len(h))))
    lc_err = [float(np.max(np.abs(np.asarray(f) - L[i]))) for i, (f, _) in enumerate(lc)]
    top1 = sum(1 for i, (f, _) in enumerate(lc) if int(np.argmax(f)) == int(order[i, 0]))
    info = {
        "prompts": PROMPTS,
        "prompt_texts": texts,
        "prompt_ids": prompts_ids,
        "eot_id": EOT,
        "max_new_tokens": 64,
        "rule": "greedy: argmax of the last position's logits (lowest id on ties), appended and fed back; "
                "stop after <|im_end|> (id 2, included) or 64 tokens",
        "transformers_replies": hf_replies,
        "transformers_top1_margins": [[round(x, 4) for x in mm] for mm in hf_margins],
        "llamacpp_replies": [r for _, r in lc],
        "llamacpp_equal_to_transformers": agree,
        "llamacpp_first_difference": first_diff,
        "llamacpp_prompt_logits_max_abs_diff": [round(x, 4) for x in lc_err],
        "llamacpp_prompt_top1_equal": top1,
        "imported_weights_max_abs_diff_vs_transformers": worst,
    }
    with open(os.path.join(a.out, "replies.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, ensure_ascii=False, indent=1)
        f.write("\n")
    log(f"logits: llama.cpp replies equal to transformers': {agree}/20 (first differences {first_diff}); "
        f"prompt logits max |diff| {max(lc_err):.4f}, top-1 equal {top1}/20")
    # a readable sample
    from tokenizers import Tokenizer
    tk = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    for i in (0, 5, 11):
        log(f"  [{i}] {PROMPTS[i]!r} -> {tk.decode(hf_replies[i], skip_special_tokens=False)!r}")


# ---------------------------------------------------------------- dtype cost

def step_dtype(a):
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(2)
    with open(os.path.join(a.out, "replies.json"), encoding="utf-8") as f:
        info = json.load(f)
    prompts_ids = info["prompt_ids"]
    res = {}
    base = None
    for dt in ("f32", "bf16", "f16"):
        d = os.path.join(a.tmp, f"smollm2-{dt}")
        if not os.path.isdir(d):
            subprocess.run([sys.executable, os.path.join(HERE, "import-gguf.py"), "--dtype", dt, a.gguf, d], check=True)
        m = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32)
        m.eval()
        assert m.lm_head.weight.data_ptr() == m.model.embed_tokens.weight.data_ptr()
        rows, replies = [], []
        for ids in prompts_ids:
            first, reply, _ = hf_greedy(m, ids)
            rows.append(first)
            replies.append(reply)
        L = np.stack(rows)
        st_bytes = os.path.getsize(os.path.join(d, "model.safetensors"))
        # bytes read per generated token: every layer matrix and norm once, the embedding row,
        # and the whole tied embedding matrix again as the LM head
        esz = {"f32": 4, "bf16": 2, "f16": 2}[dt]
        cfg = json.load(open(os.path.join(d, "config.json")))
        H, I, nl, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
        q = cfg["num_attention_heads"] * cfg["head_dim"]
        kv = cfg["num_key_value_heads"] * cfg["head_dim"]
        per_layer = H * q + 2 * H * kv + q * H + 3 * H * I + 2 * H
        per_token = esz * (nl * per_layer + H + V * H + H)
        res[dt] = {"rows": L, "replies": replies, "file_bytes": st_bytes, "bytes_per_token": per_token}
        if dt == "f32":
            base = res[dt]
        del m
    out = {}
    for dt, r in res.items():
        err = np.abs(r["rows"] - base["rows"])
        same = sum(1 for x, y in zip(r["replies"], info["transformers_replies"]) if x == y)
        out[dt] = {"max_abs_logit_err": float(err.max()), "mean_abs_logit_err": float(err.mean()),
                   "top1_equal": int(np.sum(np.argmax(r["rows"], 1) == np.argmax(base["rows"], 1))),
                   "replies_equal_to_transformers_gguf": same, "file_bytes": r["file_bytes"],
                   "bytes_per_token": r["bytes_per_token"]}
        log(f"dtype {dt:5s}: logits max |err| {out[dt]['max_abs_logit_err']:.5f}, mean {out[dt]['mean_abs_logit_err']:.6f}, "
            f"top-1 equal {out[dt]['top1_equal']}/20, greedy replies equal to transformers(GGUF) {same}/20, "
            f"model.safetensors {r['file_bytes'] / 1e6:.1f} MB, weights read per token {r['bytes_per_token'] / 1e6:.1f} MB")
    with open(os.path.join(a.out, "dtype_cost.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("steps", nargs="+", choices=("tokens", "pretok", "logits", "dtype"))
    ap.add_argument("--gguf", default=DEF_GGUF)
    ap.add_argument("--model", default=os.path.join(ROOT, "models/smollm2-135m-instruct"),
                    help="the imported directory (scripts/import-gguf.py)")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/golden/smollm2"))
    ap.add_argument("--shared", default=os.path.join(ROOT, "../shared/tokenizer/llama3"))
    ap.add_argument("--tmp", default="/tmp", help="where the dtype step writes its model directories")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for s in a.steps:
        {"tokens": step_tokens, "pretok": step_pretok, "logits": step_logits, "dtype": step_dtype}[s](a)


if __name__ == "__main__":
    main()
