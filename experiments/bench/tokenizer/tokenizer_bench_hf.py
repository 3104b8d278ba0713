"""Single-thread throughput of Hugging Face tokenizers, the reference safrl's tokenizer is held to,
on a JSON-lines corpus ({"text": ...} per line): the counterpart of tokenizer_bench.cpp. Encodes
every document on its own with encode(text, add_special_tokens=False), as
scripts/reference/tokenize_reference.py makes the test ids, and writes every document's ids as
JSON lines {"ids": [...]} for tokenizer_bench --reference to compare. The times include the Python
binding's cost per call, small against documents of about 2 KB.

    .venv/bin/python experiments/bench/tokenizer/tokenizer_bench_hf.py CORPUS.jsonl IDS_OUT.jsonl \
        [--repeat 3] [--tokenizer DIR]

DIR holds the Qwen3 tokenizer.json: $SAFRL_TOKENIZER_DIR, else .deps/qwen3-tokenizer. Prints one
JSON object: load seconds, documents, bytes, tokens, best-of-N encode seconds, MB/s, tokens/s.
"""
import argparse
import json
import os
import platform
import time

# One thread, as safrl's side is measured: tokenizers would otherwise spread its work over a
# Rayon pool. Set before tokenizers is imported, which reads them then.
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
import tokenizers  # noqa: E402

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))  # the clone


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("ids_out")
    parser.add_argument("--repeat", type=int, default=3, help="passes; the best one is reported")
    parser.add_argument("--tokenizer", default=os.environ.get("SAFRL_TOKENIZER_DIR") or
                        os.path.join(ROOT, ".deps", "qwen3-tokenizer"),
                        help="folder with tokenizer.json (default: $SAFRL_TOKENIZER_DIR, else "
                             ".deps/qwen3-tokenizer)")
    args = parser.parse_args()
    tokenizer_path = os.path.join(args.tokenizer, "tokenizer.json")
    if not os.path.exists(tokenizer_path):
        parser.error(f"{tokenizer_path} is missing; run scripts/setup.sh or give --tokenizer")

    load_start = time.perf_counter()
    tokenizer = tokenizers.Tokenizer.from_file(tokenizer_path)
    load_seconds = time.perf_counter() - load_start

    with open(args.corpus, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    size = sum(len(text.encode("utf-8")) for text in texts)

    ids, best = [], float("inf")
    for _ in range(max(1, args.repeat)):
        start = time.perf_counter()
        ids = [tokenizer.encode(text, add_special_tokens=False).ids for text in texts]
        best = min(best, time.perf_counter() - start)
    tokens = sum(len(document) for document in ids)
    with open(args.ids_out, "w") as out:
        out.writelines(json.dumps({"ids": document}, separators=(",", ":")) + "\n"
                       for document in ids)
    print(json.dumps({
        "implementation": f"Hugging Face tokenizers {tokenizers.__version__} "
                          f"(Python {platform.python_version()})",
        "load_s": load_seconds,
        "documents": len(texts),
        "bytes": size,
        "tokens": tokens,
        "encode_s": best,
        "mb_per_s": size / 1e6 / best,
        "tokens_per_s": tokens / best,
    }))


if __name__ == "__main__":
    main()
