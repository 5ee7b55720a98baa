"""llamacpp_tps.py: the llama.cpp side of `make bench` for SmolLM2 (issue 9): the same GGUF the
import reads, the same ChatML prompt as llamo-chat, greedy, the same thread count, through
llama-cpp-python (its own llama.cpp, built from source by pip). Prints one line:

    llama.cpp: prompt and first token 123.4 ms; reply 63 tokens, 45.6 tokens/s

the format of `llamo-chat --profile`, so tests/bench.sh sets them side by side. The reply's rate
counts every token after the first (one decoding step each), as llamo-chat does.

    python bench/llamacpp_tps.py GGUF --threads 2 --tokens 64 "Write a haiku about the sea."
"""
import argparse
import sys
import time


def load(gguf, threads):
    """llama.cpp without its "extra buffer types" (weight repacking and the AMX kernels:
    ggml_backend_amx_mul_mat crashes on this machine's CPU, which reports AMX;
    tests/golden/smollm2/README.md), so its plain ggml CPU kernels run: Q4_1 x Q8_1 dot products."""
    import llama_cpp
    import llama_cpp.llama as L
    orig = llama_cpp.llama_model_default_params

    def params():
        p = orig()
        p.use_extra_bufts = False
        return p
    L.llama_cpp.llama_model_default_params = params
    try:
        return L.Llama(model_path=gguf, n_threads=threads, n_threads_batch=threads, n_ctx=2048, verbose=False)
    finally:
        L.llama_cpp.llama_model_default_params = orig


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gguf")
    ap.add_argument("message")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--system", default="You are a helpful AI assistant named SmolLM, trained by Hugging Face")
    a = ap.parse_args()
    llm = load(a.gguf, a.threads)
    text = (f"<|im_start|>system\n{a.system}<|im_end|>\n<|im_start|>user\n{a.message}<|im_end|>\n"
            "<|im_start|>assistant\n")
    prompt = llm.tokenize(text.encode(), add_bos=False, special=True)
    end = llm.tokenize(b"<|im_end|>", add_bos=False, special=True)[0]
    t0 = time.perf_counter()
    n, t1 = 0, None
    for tok in llm.generate(prompt, top_k=1, temp=0.0, repeat_penalty=1.0):
        if tok == end or tok == llm.token_eos():
            break
        n += 1
        if n == 1:
            t1 = time.perf_counter()
        if n == a.tokens:
            break
    t2 = time.perf_counter()
    if n < 2:
        print("llama.cpp: the reply has fewer than 2 tokens", file=sys.stderr)
        return 1
    print(f"llama.cpp: prompt and first token {1e3 * (t1 - t0):.1f} ms; reply {n} tokens, "
          f"{(n - 1) / (t2 - t1):.1f} tokens/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
