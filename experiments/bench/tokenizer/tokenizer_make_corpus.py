#!/usr/bin/env python3
"""Builds the multilingual benchmark corpus for tokenizer_bench.sh as JSON lines {"text": ...}.

Real text that every Debian machine carries: the translated messages of the gettext catalogs in
/usr/share/locale (msgstr) for zh_CN, ar, es, fr, id, it, ja, ko, ru, their English originals
(msgid), and Python standard-library source as code. Messages are grouped into documents of about
2 KB per language; the order is shuffled with a fixed seed. Usage:
  tokenizer_make_corpus.py OUT.jsonl [--min-mb 10]
"""
import argparse
import glob
import json
import os
import random
import struct
import sys

LANGUAGES = ["zh_CN", "ar", "es", "fr", "id", "it", "ja", "ko", "ru"]
DOC_BYTES = 2048


def read_mo(path):
    """(msgid, msgstr) pairs of a GNU .mo catalog; plural forms are split at NUL."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 28:
        return []
    for order in ("<", ">"):
        magic, _, count, originals, translations = struct.unpack(order + "5I", data[:20])
        if magic == 0x950412DE:
            break
    else:
        return []
    pairs = []
    for i in range(count):
        length, offset = struct.unpack(order + "2I", data[originals + 8 * i: originals + 8 * i + 8])
        msgid = data[offset: offset + length]
        length, offset = struct.unpack(order + "2I", data[translations + 8 * i: translations + 8 * i + 8])
        msgstr = data[offset: offset + length]
        if not msgid:
            continue  # the header entry
        try:
            pairs.append((msgid.decode("utf-8"), msgstr.decode("utf-8")))
        except UnicodeDecodeError:
            continue
    return pairs


def documents(messages):
    doc, size = [], 0
    for message in messages:
        doc.append(message)
        size += len(message.encode("utf-8"))
        if size >= DOC_BYTES:
            yield "\n".join(doc)
            doc, size = [], 0
    if doc:
        yield "\n".join(doc)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--min-mb", type=float, default=10.0)
    args = parser.parse_args()
    rng = random.Random(20240607)

    english, docs, stats = set(), [], {}
    for language in LANGUAGES:
        translated = set()
        for path in sorted(glob.glob(f"/usr/share/locale/{language}/LC_MESSAGES/*.mo")):
            for msgid, msgstr in read_mo(path):
                for part in msgid.split("\0"):
                    english.add(part)
                for part in msgstr.split("\0"):
                    if part.strip():
                        translated.add(part)
        messages = sorted(translated)
        rng.shuffle(messages)
        language_docs = list(documents(messages))
        stats[language] = sum(len(d.encode("utf-8")) for d in language_docs)
        docs += language_docs
    messages = sorted(m for m in english if m.strip())
    rng.shuffle(messages)
    english_docs = list(documents(messages))
    stats["en"] = sum(len(d.encode("utf-8")) for d in english_docs)
    docs += english_docs

    code_docs, code_bytes = [], 0
    target = args.min_mb * 1e6
    natural = sum(stats.values())
    for path in sorted(glob.glob(f"/usr/lib/python3.*/*.py")):
        if natural + code_bytes >= target and code_bytes >= 0.1 * natural:
            break
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for start in range(0, len(text), DOC_BYTES):
            code_docs.append(text[start: start + DOC_BYTES])
            code_bytes += len(code_docs[-1].encode("utf-8"))
    stats["python code"] = code_bytes
    docs += code_docs
    total = sum(stats.values())
    if total < target:
        sys.exit(f"only {total / 1e6:.1f} MB of text found, {args.min_mb} MB wanted")
    rng.shuffle(docs)
    with open(args.out, "w", encoding="utf-8") as out:
        for doc in docs:
            out.write(json.dumps({"text": doc}, ensure_ascii=False) + "\n")
    shares = ", ".join(f"{k} {v / 1e6:.2f}" for k, v in stats.items())
    print(f"{len(docs)} documents, {total / 1e6:.2f} MB: {shares} MB")


if __name__ == "__main__":
    main()
