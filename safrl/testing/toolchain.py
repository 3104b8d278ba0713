"""The C++ program's render and tokenize commands, so that the stand-in judges (stand_in.py) are
trained on exactly the token ids the server will feed them; where the program and the real Qwen3
tokenizer are."""
import json
import os
import subprocess
from typing import List, Sequence

from safrl.local import find_binary

# The clone this package sits in (safrl.testing runs from a clone: its build and .deps).
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def safrl_bin() -> str:
    """The safrl program, found as safrl.score finds it ($SAFRL_BIN, else this clone's build)."""
    return find_binary()


def tokenizer_dir() -> str:
    """The real Qwen3 tokenizer: $SAFRL_TOKENIZER_DIR, else .deps/qwen3-tokenizer (what
    scripts/setup.sh puts there), else the copy inside the embedded models of the default build."""
    candidates = [os.environ.get("SAFRL_TOKENIZER_DIR", ""),
                  os.path.join(REPO, ".deps", "qwen3-tokenizer"),
                  os.path.join(REPO, "build", "embedded", "guard")]
    for path in candidates:
        if path and os.path.exists(os.path.join(path, "tokenizer.json")):
            return path
    raise FileNotFoundError("no Qwen3 tokenizer.json: run scripts/setup.sh or set SAFRL_TOKENIZER_DIR")


def _json_lines(args: List[str], lines: Sequence[dict]) -> List[dict]:
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    proc = subprocess.run([safrl_bin(), *args], input=stdin, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"safrl {' '.join(args)} failed: {proc.stderr.strip()}")
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == len(lines), f"safrl {args[0]}: {len(out)} lines for {len(lines)} inputs"
    return out


def render(chat_format: str, conversations: Sequence[List[dict]]) -> List[str]:
    """`safrl render --format F`: the exact text a model sees for each conversation."""
    out = _json_lines(["render", "--format", chat_format],
                      [{"messages": messages} for messages in conversations])
    return [line["text"] for line in out]


def tokenize(texts: Sequence[str], tokenizer: str) -> List[List[int]]:
    """`safrl tokenize`: exact Qwen3 token ids (special tokens in the text are recognised)."""
    return [line["ids"] for line in _json_lines(["tokenize", "--tokenizer", tokenizer],
                                                [{"text": t} for t in texts])]
