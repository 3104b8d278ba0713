"""Qwen3Guard-Stream's official evaluation procedure (QwenLM/Qwen3Guard eval/eval_stream.py,
thinking=False) in plain Python: the golden source safrl's Stream guard is tested against.

    spans = stream_spans(tokenizer, messages)                        # no model needed
    judged = official_stream_judgement(model, tokenizer, messages)   # the labels too

`tokenizer` is a transformers tokenizer carrying Qwen3's chat template (AutoTokenizer of a folder
with Qwen3's tokenizer.json and tokenizer_config.json, e.g. .deps/qwen3-tokenizer: the
`tokenizers` library's Tokenizer has no chat template). `model` returns the four logits under the
official names (safrl.testing.stream_guard_model.Qwen3ForGuardModel). The steps, as eval_stream.py
takes them:

  text = apply_chat_template(messages, tokenize=False, add_generation_prompt=False,
                             enable_thinking=False);  ids = tokenizer(text).input_ids
  pieces = [decode([id]) for id in ids]
  response labels: from split_idx = (the first i with pieces[i-1] == "</think>" and
      pieces[i] == "\\n\\n") + 1 to the end; asserted to exist (here only when the conversation
      ends with an assistant message: a prompt-only conversation has no response)
  query span: the last "<|im_start|>" followed by "user", content from 3 tokens on, to the first
      "<|im_end|>" at or after it (inclusive); the query verdict is the label at that end
  labels: argmax of the softmax of each position's logits
  debouncing (consecutive_unsafe): the first Unsafe pair, else the first Controversial pair, else
      Safe; the index is that of the pair's second label, relative to split_idx

eval_stream.py judges a conversation as a prompt or as a response, never both; here both are
computed from the one forward pass (the same text, the same ids).
"""
import torch

from safrl.testing.stream_guard_model import QUERY_CATEGORIES, RESPONSE_CATEGORIES, RISK_LEVELS


def render(tokenizer, messages):
    """The text eval_stream.py feeds the model: the Qwen3 template, no generation prompt,
    enable_thinking False."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False,
                                         enable_thinking=False)


def _last_user_content(pieces):
    """(content_begin, query_end) of the last "<|im_start|>" "user" turn that has an
    "<|im_end|>" after its content, or None."""
    for start in range(len(pieces) - 1, -1, -1):
        if pieces[start] != "<|im_start|>" or start + 1 >= len(pieces):
            continue
        if pieces[start + 1] != "user":
            continue
        content_begin = start + 3
        for end in range(content_begin, len(pieces)):
            if pieces[end] == "<|im_end|>":
                return content_begin, end
    return None


def _first_think_close_pair(pieces):
    """The index of the "\\n\\n" of the first "</think>" "\\n\\n" token pair, or None."""
    for i in range(1, len(pieces)):
        if pieces[i - 1] == "</think>" and pieces[i] == "\n\n":
            return i
    return None


def stream_spans(tokenizer, messages):
    """The ids and spans the official procedure reads, without a model: {"text", "ids",
    "split_idx" (the first response label position; None when the conversation does not end with
    an assistant message), "query" ([content_begin, query_end] or None)}. Raises AssertionError
    where eval_stream.py asserts."""
    text = render(tokenizer, messages)
    ids = tokenizer(text)["input_ids"]
    pieces = [tokenizer.decode([token]) for token in ids]
    split_idx = None
    if messages[-1]["role"] == "assistant":
        pair = _first_think_close_pair(pieces)
        assert pair is not None, "no '</think>' '\\n\\n' token pair in the rendered conversation"
        split_idx = pair + 1
    query = _last_user_content(pieces)
    return {"text": text, "ids": ids, "split_idx": split_idx,
            "query": None if query is None else list(query)}


def consecutive_unsafe(labels):
    """SafetyEvaluator.consecutive_unsafe over label names: (outcome, index)."""
    for wanted in ("Unsafe", "Controversial"):
        for i in range(1, len(labels)):
            if labels[i - 1] == wanted and labels[i] == wanted:
                return wanted, i
    return "Safe", -1


def _labelled(risk_logits, category_logits, categories):
    """Per position: the argmax risk label's name, all three risk probabilities, the argmax
    probability (what eval_stream.py reports as pred_risk_prob), the argmax category's name, and
    how far that category's probability is ahead of the runner-up (a golden set needs no near-tie
    there either, or another BLAS could flip the name)."""
    risk = torch.softmax(risk_logits.float(), dim=-1)
    category = torch.softmax(category_logits.float(), dim=-1)
    top_prob, top_label = risk.max(dim=-1)
    top_two = category.topk(2, dim=-1).values
    return {"labels": [RISK_LEVELS[i] for i in top_label.tolist()],
            "probs": risk.tolist(),
            "risk_prob": top_prob.tolist(),
            "categories": [categories[i] for i in category.argmax(dim=-1).tolist()],
            "category_margins": (top_two[:, 0] - top_two[:, 1]).tolist()}


@torch.no_grad()
def official_stream_judgement(model, tokenizer, messages):
    """eval_stream.py's judgement of `messages` by `model`: {"ids", "split_idx", "query_span",
    "response": {"labels", "probs", "risk_prob", "categories", "outcome", "index"} or None (prompt
    only), "query": {"label", "probs", "risk_prob", "category" at the query's "<|im_end|>" (the
    verdict), and "span": the same four as lists over the whole query span}}. Labels and
    categories are the official names (without eval_stream.py's stray quotes around "Violent");
    "probs" are all three float32 softmax probabilities of a position, "risk_prob" the largest."""
    spans = stream_spans(tokenizer, messages)
    assert spans["query"] is not None, "no '<|im_start|>' 'user' turn in the conversation"
    out = model(torch.tensor([spans["ids"]], dtype=torch.long))
    judged = {"ids": spans["ids"], "split_idx": spans["split_idx"], "query_span": spans["query"],
              "response": None}
    split = spans["split_idx"]
    if split is not None:
        response = _labelled(out.risk_level_logits[0, split:], out.category_logits[0, split:],
                             RESPONSE_CATEGORIES)
        response["outcome"], response["index"] = consecutive_unsafe(response["labels"])
        judged["response"] = response
    begin, end = spans["query"]
    span = _labelled(out.query_risk_level_logits[0, begin:end + 1],
                     out.query_category_logits[0, begin:end + 1], QUERY_CATEGORIES)
    judged["query"] = {"label": span["labels"][-1], "probs": span["probs"][-1],
                       "risk_prob": span["risk_prob"][-1], "category": span["categories"][-1],
                       "category_margin": span["category_margins"][-1], "span": span}
    return judged
