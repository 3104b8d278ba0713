#!/usr/bin/env python3
"""Writes the reference Qwen3 token ids that tests/tokenizer checks safrl's tokenizer against.

The reference is Hugging Face tokenizers itself on the real Qwen3 tokenizer.json:
encode(text, add_special_tokens=False), which is what safrl's Tokenizer::encode promises. Entries
with "sha256" / "token_count" (the Qwen3Guard test vectors) are checked; entries with
"hf_pieces" (where an earlier JavaScript reference split differently) are checked to encode as
those pieces do one by one, so the corpus's claim about Hugging Face's split stays true.

  .venv/bin/python scripts/reference/tokenize_reference.py          # rewrite reference_ids.json
  .venv/bin/python scripts/reference/tokenize_reference.py --check  # exit 1 if it would change

The tokenizer folder is $SAFRL_TOKENIZER_DIR, else .deps/qwen3-tokenizer.
"""
import argparse
import hashlib
import json
import os
import pathlib
import sys

import tokenizers

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "tokenizer"


def reference_entries(tokenizer, corpus):
    def encode(text):
        return tokenizer.encode(text, add_special_tokens=False).ids

    entries = []
    for entry in corpus:
        ids = encode(entry["text"])
        name = entry["name"]
        digest = hashlib.sha256(entry["text"].encode()).hexdigest()
        if "sha256" in entry and digest != entry["sha256"]:
            sys.exit(f"{name}: the text's sha256 is not {entry['sha256']}")
        if "token_count" in entry and len(ids) != entry["token_count"]:
            sys.exit(f"{name}: {len(ids)} tokens, expected {entry['token_count']}")
        pieces = entry.get("hf_pieces")
        if pieces and ids != [i for piece in pieces for i in encode(piece)]:
            sys.exit(f"{name}: Hugging Face does not split the text into its hf_pieces")
        entries.append({"name": name, "ids": ids})
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed file instead of writing it")
    args = parser.parse_args()

    tokenizer_dir = pathlib.Path(os.environ.get("SAFRL_TOKENIZER_DIR")
                                 or ROOT / ".deps" / "qwen3-tokenizer")
    tokenizer_path = tokenizer_dir / "tokenizer.json"
    if not tokenizer_path.exists():
        sys.exit(f"{tokenizer_path} is missing; run scripts/setup.sh or set SAFRL_TOKENIZER_DIR")
    tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
    corpus = json.loads((DATA / "corpus.json").read_text(encoding="utf-8"))["entries"]
    entries = reference_entries(tokenizer, corpus)

    # One entry per line, so that a diff names the entries whose ids changed.
    text = "\n".join([
        "{",
        '  "generator": "scripts/reference/tokenize_reference.py",',
        f'  "reference": "Hugging Face tokenizers {tokenizers.__version__}, '
        'encode(text, add_special_tokens=False)",',
        f'  "tokenizer_json_sha256": "{hashlib.sha256(tokenizer_path.read_bytes()).hexdigest()}",',
        '  "entries": [',
        ",\n".join("    " + json.dumps(e, separators=(",", ":")) for e in entries),
        "  ]",
        "}",
        "",
    ])
    path = DATA / "reference_ids.json"
    if not args.check:
        path.write_text(text, encoding="utf-8")
        print(f"{len(entries)} entries -> {path.relative_to(ROOT)}")
        return
    if path.read_text(encoding="utf-8") == text:
        return
    committed = json.loads(path.read_text(encoding="utf-8"))["entries"]
    committed = {e["name"]: e["ids"] for e in committed}
    differ = [e["name"] for e in entries if committed.get(e["name"]) != e["ids"]]
    differ += [name for name in committed if name not in {e["name"] for e in entries}]
    sys.exit(f"{path.relative_to(ROOT)} would change: "
             + (f"the ids of {len(differ)} entries differ: {', '.join(differ)}" if differ else
                "every entry's ids are the same; only the header or other fields differ"))


if __name__ == "__main__":
    main()
