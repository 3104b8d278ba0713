#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets that cannot start from nothing (fuzz/seeds/).

A libFuzzer run starts from these plus its own corpus folder; docs/fuzzing.md says how to use them.
  fuzz_tokenizer_json/  small tokenizer.json files (all 256 byte tokens, a few merges and added
                        tokens), some followed by a NUL byte and a tokenizer_config.json: the
                        target splits its input at the first NUL, which JSON text never holds.
  fuzz_model_config/    the embedded models' config.json and variants of each architecture.
  fuzz_config_yaml/     the shipped configs/ and a server section with every key.
  fuzz_verdict/         guard outputs of both tasks and verdict JSON lines.
  fuzz_http_request/    HTTP requests (a body by length, chunked, pipelined, Expect), cut in
                        pieces of 1 and 8 bytes.
  fuzz_score_line/      `safrl score` input files: the example rollouts, and good lines between
                        bad ones of every kind (bytes, JSON, depth, types, sizes), CRLF ends.
The tokenizer seeds copy the Qwen3 pre-tokenizer settings from the embedded guard's tokenizer.json;
run `python -m safrl.testing.embedded_models` first (scripts/setup.sh does), or pass its directory.

    .venv/bin/python fuzz/make_seeds.py [BUILD_DIR/embedded/guard]
"""
import json
import shutil
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent
SEEDS = SOURCE / "fuzz" / "seeds"


def byte_tokens():
    """GPT-2's bytes_to_unicode: the ByteLevel spelling of each byte, printable bytes first."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    others = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + k) for k in range(len(others))]


def tokenizer_seeds(embedded):
    real = json.loads((embedded / "tokenizer.json").read_text())
    vocab = {token: i for i, token in enumerate(byte_tokens())}
    merges = [["Ġ", "t"], ["h", "e"], ["Ġt", "he"], ["i", "n"], ["Ġ", "Ġ"]]
    for left, right in merges:
        vocab.setdefault(left + right, len(vocab))
    added = [{"id": len(vocab) + k, "content": content, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": not special, "special": special}
             for k, (content, special) in enumerate([("<|endoftext|>", True), ("<|im_start|>", True),
                                                     ("<|im_end|>", True), ("<think>", False)])]
    tokenizer = {key: real[key] for key in ("version", "truncation", "padding", "normalizer",
                                            "pre_tokenizer", "post_processor", "decoder")}
    tokenizer["added_tokens"] = added
    tokenizer["model"] = dict(real["model"], vocab=vocab, merges=merges)
    config = {"add_bos_token": False, "add_prefix_space": False, "errors": "replace",
              "clean_up_tokenization_spaces": False, "split_special_tokens": False,
              "tokenizer_class": "Qwen2Tokenizer", "bos_token": None, "eos_token": "<|im_end|>",
              "pad_token": "<|endoftext|>", "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
              "added_tokens_decoder": {str(a["id"]): {k: a[k] for k in a if k != "id"} for a in added}}
    legacy = dict(tokenizer, model=dict(tokenizer["model"], merges=[" ".join(m) for m in merges],
                                        ignore_merges=True),
                  normalizer=None, post_processor=None)
    out = SEEDS / "fuzz_tokenizer_json"
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer").write_text(json.dumps(tokenizer, ensure_ascii=False))
    (out / "tokenizer_legacy_merges").write_text(json.dumps(legacy, ensure_ascii=False))
    (out / "tokenizer_and_config").write_bytes(
        json.dumps(tokenizer, ensure_ascii=False).encode() + b"\0" + json.dumps(config).encode())


def model_config_seeds(embedded_root):
    out = SEEDS / "fuzz_model_config"
    out.mkdir(parents=True, exist_ok=True)
    guard = json.loads((embedded_root / "guard" / "config.json").read_text())
    reward = json.loads((embedded_root / "reward" / "config.json").read_text())
    (out / "qwen3_causal_lm.json").write_text(json.dumps(guard, indent=1))
    (out / "qwen3_sequence_classification.json").write_text(json.dumps(reward, indent=1))
    qwen2 = dict(guard, architectures=["Qwen2ForRewardModel"], model_type="qwen2",
                 eos_token_id=[151645, 151643], rope_scaling={"rope_type": "default"},
                 layer_types=["full_attention"] * guard["num_hidden_layers"])
    del qwen2["head_dim"]
    (out / "qwen2_reward_model.json").write_text(json.dumps(qwen2, indent=1))
    # transformers 5 writes rope_parameters; older versions wrote rope_theta at the top level.
    rope_theta = guard.get("rope_theta") or guard["rope_parameters"]["rope_theta"]
    classifier = dict(qwen2, architectures=["Qwen2ForSequenceClassification"],
                      id2label={"0": "LABEL_0"}, num_labels=1, pad_token_id=151643,
                      rope_parameters={"rope_type": "default", "rope_theta": rope_theta})
    (out / "qwen2_sequence_classification.json").write_text(json.dumps(classifier, indent=1))


def config_yaml_seeds():
    out = SEEDS / "fuzz_config_yaml"
    out.mkdir(parents=True, exist_ok=True)
    for config in (SOURCE / "configs").glob("*.yaml"):
        shutil.copy(config, out / config.name)
    (out / "server.yaml").write_text(
        "guard: {model: g, decoding: free, max_new_tokens: 64}\n"
        "helpfulness: {model: h, chat_format: chatml, score_token: im_end}\n"
        "reward:\n  type: hybrid\n  controversial: per_category\n"
        "  controversial_unsafe_categories: [Violent, PII]\n  unsafe_cap: -10.5\n"
        "batching: {max_batch_tokens: 4096, share_prefixes: false}\n"
        "runtime: {device: 'cuda:1', dtype: bfloat16, storage_dtype: float16}\n"
        "server:\n  endpoint: tcp://127.0.0.1:5555\n  http_port: 8000\n  max_message_bytes: 1024\n"
        "  http_max_connections: 8\n  http_read_timeout_seconds: 2\n  http_idle_timeout_seconds: 3\n"
        "  max_queued_samples: 8\n  max_batch_samples: 4\n  reply_cache_seconds: 1\n"
        "  steps_kept_open: 1\n  step_idle_seconds: 9\n"
        "  curve:\n    public_key: \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n"
        "    secret_key: \"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6\"\n"
        "    allowed_client_keys: [\"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\"]\n"
        "  allowed_clients: [10.0.0.7, 10.0.0.0/24, \"fd00::/8\"]\n  insecure_bind: true\n")


def verdict_seeds():
    out = SEEDS / "fuzz_verdict"
    out.mkdir(parents=True, exist_ok=True)
    texts = {
        "prompt_unsafe": "Safety: Unsafe\nCategories: Violent, Jailbreak",
        "response_safe": "Safety: Safe\nCategories: None\nRefusal: Yes",
        "response_controversial": "Safety: Controversial\nCategories: PII\nRefusal: No",
        "verdict_json": json.dumps({"safety": "Unsafe", "categories": ["Violent"], "refusal": False,
                                    "probs": {"Safe": 0.1, "Unsafe": 0.8, "Controversial": 0.1},
                                    "refusal_prob": 0.25, "text": "Safety: Unsafe"}),
        "verdict_json_nulls": json.dumps({"safety": "Safe", "categories": [], "refusal": None,
                                          "probs": None, "refusal_prob": None}),
    }
    for name, text in texts.items():
        (out / name).write_text(text)


def http_request_seeds():
    # The first byte sets the size of the pieces the rest is cut into.
    out = SEEDS / "fuzz_http_request"
    out.mkdir(parents=True, exist_ok=True)
    body = b'{"query": ["Q: hi? A: hello"], "prompts": ["Q: hi?"]}'
    requests = {
        "post": b"POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body,
        "chunked": b"POST /get_reward HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5;x=y\r\nhello\r\n0\r\nTrailer: 1\r\n\r\n",
        "pipelined": b"GET /health HTTP/1.1\r\n\r\nGET /metrics HTTP/1.0\nConnection: keep-alive\n\n",
        "expect": b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
                  b"Content-Length: 2\r\n\r\n{}",
    }
    for name, request in requests.items():
        for piece in (b"\x00", b"\x07"):
            (out / f"{name}-{piece[0]}").write_bytes(piece + request)


def score_line_seeds():
    out = SEEDS / "fuzz_score_line"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(SOURCE / "configs" / "example-rollouts.jsonl", out / "example-rollouts.jsonl")
    good = [json.dumps({"id": i, "step": 0, "prompt": "p", "response": "<think>t</think>a"}).encode()
            for i in range(3)]
    bad = [b'{"id": "u", "prompt": "p\xff", "response": "r"}',
           b'{"id": "n", "prompt": "a\x00", "response": "r"}',
           b'{"id": "d", "prompt": "p", "response": "r", "meta": ' + b"[" * 9 + b"]" * 9 + b"}",
           b'{"id": "m", "prompt": "p", "answer": "a", "meta": [' + b"0," * 70 + b"0]}",
           b'{"id": "f", "prompt": "p", "answer": "a", "thinking": null, "meta": 1e400}',
           b'{"id": 0, "prompt": "p", "answer": "a", "step": -1}',
           b'{"id": 1.5, "prompt": "\\ud800", "respones": "r"}',
           b'{"id": "l", "prompt": "' + b"a" * 600 + b'", "response": "r"}',
           b"[1]", b'{"id": 0, "prompt": "p"']
    lines = [good[0]]
    for k, line in enumerate(bad):
        lines += [line, good[1 + k % 2]]
    (out / "every_bad_line").write_bytes(b"\n".join(lines))
    (out / "crlf").write_bytes(b"\r\n".join(good) + b"\r\n \t\r\n")
    # Conversations (protocol version 2 fields): tool calls, tool results, agent turns.
    call = {"type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "content": "r", "tool_call_id": "1"}]
    conversation = [
        {"id": "c0", "messages": messages, "response": "<think>t</think>a", "judge": "all_turns",
         "policy_turns_from": 2, "judge_prompt": True, "judge_tool_results": True},
        {"id": "c1", "messages": messages[:2], "answer": "a", "tool_calls": [call]},
        {"id": "c2", "messages": messages[:3], "response": "a"},
        {"id": "c3", "messages": [{"role": "tool", "content": "r"}], "response": "a"},
        {"id": "c4", "messages": [{"role": "user", "content": ["x"]}], "response": "a"}]
    (out / "conversations").write_bytes(
        b"\n".join(json.dumps(line).encode() for line in conversation) + b"\n")


def main():
    embedded = Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE / "build" / "embedded" / "guard"
    tokenizer_seeds(embedded)
    model_config_seeds(embedded.parent)
    config_yaml_seeds()
    verdict_seeds()
    http_request_seeds()
    score_line_seeds()


if __name__ == "__main__":
    main()
