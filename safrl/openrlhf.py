"""The mapping between OpenRLHF's remote reward model protocol and safrl samples.

OpenRLHF (--remote_rm_url http://host:port/get_reward) POSTs

    {"query": [str, ...], "prompts": [str, ...], "labels": [...]}

where query[i] is prompt[i] followed by the generated response, decoded as one string, and
expects {"rewards": [...], "scores": [...], "extra_logs": {name: [...]}} back. `safrl serve`
answers this on its HTTP port; the functions here define exactly what it does (the C++ endpoint
implements the same rules; docs/trainers/openrlhf.md states them with the status codes), and
get_reward() is the reference composition of them:

    samples = samples_from_request(payload)     # sample_from_query for each query
    results = client.score(samples)             # no step: OpenRLHF sends none
    reply = reply_from_results(results)

Multi-turn (docs/trainers/openrlhf.md; the server's serve/openrlhf.cpp follows the same rules):
a prompt rendered with Qwen3's chat template (it starts with "<|im_start|>" and ends in the
generation header "<|im_start|>assistant\n", perhaps with an empty think block) is read back
into its turns (chat::parse_qwen3_text's rules, safrl._chat.parse_qwen3_text): one user turn is
sent as the prompt text, as before; more (a system prompt, earlier turns, tool turns) as
"messages". A response that holds turns of its own (an agent rollout: assistant turns with tool
results between them, Qwen3-rendered) is read from the generation header on: its earlier turns
join the messages with "policy_turns_from" = the number of prompt messages (assistant turns
with their think blocks, which the guard's context leaves out and judge: all_turns judges), and
its last turn, which must be the assistant's, is the response with
its tool calls. Any other prompt is read as before.

Pure functions apart from get_reward; invalid input raises safrl.BadRequest (HTTP 400).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from safrl import _chat, _default
from safrl.client import Client
from safrl.errors import BadRequest

__all__ = ["split_query", "clean_response", "user_prompt", "sample_from_query",
           "samples_from_request", "reply_from_results", "get_reward", "END_MARKERS",
           "WHITESPACE"]

# ChatML end-of-turn and end-of-text tokens: OpenRLHF decodes query with special tokens kept, so
# a finished response ends in them; they are not part of the answer.
END_MARKERS = ("<|im_end|>", "<|endoftext|>")
WHITESPACE = " \t\n\r\f\v"
_USER_TURN = "<|im_start|>user\n"
_GENERATION_HEADER = "<|im_start|>assistant\n"


def split_query(query: str, prompt: str) -> str:
    """The response: query without its leading prompt. query must start with prompt exactly."""
    if not isinstance(query, str) or not isinstance(prompt, str):
        raise BadRequest("query and prompt must be strings")
    if not query.startswith(prompt):
        raise BadRequest(
            "the query does not start with its prompt, so the response cannot be cut out of it "
            f"(prompt starts {prompt[:60]!r}, query starts {query[:60]!r}); OpenRLHF sends the "
            "prompt as given and the query decoded from prompt + response tokens, which differ "
            "when the prompt was truncated: raise --max_len or shorten the prompts")
    return query[len(prompt):]


def clean_response(response: str) -> str:
    """The response without its trailing end markers.

    When the response ends in END_MARKERS, possibly mixed with ASCII whitespace (WHITESPACE),
    that whole trailing run of markers and whitespace is removed. A response that does not end
    in a marker is left as it is, trailing whitespace included.
    """
    text, removed = response, False
    while True:
        stripped = text.rstrip(WHITESPACE)
        marker = next((m for m in END_MARKERS if stripped.endswith(m)), None)
        if marker is None:
            return stripped if removed else response
        text, removed = stripped[:-len(marker)], True


def user_prompt(prompt: str) -> str:
    """The user's text of a prompt OpenRLHF rendered with a ChatML chat template.

    With --apply_chat_template the prompt is the rendered conversation. When it contains
    "<|im_start|>user\\n", the last such user turn is returned: the text after it up to the
    next "<|im_end|>" (or the end). Otherwise the prompt is taken as the user's text, as is.
    """
    start = prompt.rfind(_USER_TURN)
    if start < 0:
        return prompt
    start += len(_USER_TURN)
    end = prompt.find("<|im_end|>", start)
    return prompt[start:] if end < 0 else prompt[start:end]


def generation_prompt_at(prompt: str) -> Optional[int]:
    """Where the generation prompt of a prompt rendered with Qwen3's (ChatML) template begins:
    its last assistant header, no turn closed after it (Qwen3's non-thinking mode adds an empty
    think block there). None when the prompt is not such a rendering."""
    if not prompt.startswith(_chat.IM_START):
        return None
    at = prompt.rfind(_GENERATION_HEADER)
    if at <= 0 or _chat.IM_END in prompt[at:]:
        return None
    return at


def sample_from_query(query: str, prompt: str) -> Dict[str, Any]:
    """The safrl sample (without id) of one query and its prompt (see the module docstring)."""
    response = clean_response(split_query(query, prompt))
    at = generation_prompt_at(prompt)
    if at is None:
        return {"prompt": user_prompt(prompt), "response": response}
    context = _chat.prompt_context(_chat.parse_qwen3_text(prompt[:at]), "prompt")
    if _chat.IM_START not in response:
        shared = {"prompt": context} if isinstance(context, str) else {"messages": context}
        return {**shared, "response": response}
    turns = _chat.parse_qwen3_text(prompt[at:] + response)
    if turns[-1]["role"] != "assistant":
        raise BadRequest(f"the response ends with a {turns[-1]['role']} turn; an agent rollout "
                         f"ends with the policy's answer")
    return _chat.agent_sample(context, turns[:-1], turns[-1])


def samples_from_request(payload: Any) -> List[Dict[str, Any]]:
    """The safrl samples of a /get_reward body; sample i has id i.

    "query" and "prompts" are required lists of strings of the same length; "labels" and any
    other key are ignored (the safety reward needs no reference answer).
    """
    if not isinstance(payload, Mapping):
        raise BadRequest("the body must be a JSON object with \"query\" and \"prompts\"")
    queries, prompts = payload.get("query"), payload.get("prompts")
    for name, value in (("query", queries), ("prompts", prompts)):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise BadRequest(f"\"{name}\" must be a list of strings (OpenRLHF versions that "
                             f"send no \"prompts\" are not supported)")
    if len(queries) != len(prompts):
        raise BadRequest(f"{len(queries)} queries but {len(prompts)} prompts")
    samples = []
    for i, (query, prompt) in enumerate(zip(queries, prompts)):
        try:
            samples.append({"id": i, **sample_from_query(query, prompt)})
        except BadRequest as error:
            raise BadRequest(f"query {i}: {error.message}") from None
    return samples


def reply_from_results(results: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """The /get_reward reply: rewards, scores (the same rewards) and per-sample extra_logs.

    extra_logs holds lists of numbers, one per query, which OpenRLHF turns into tensors:
    safrl_safe, safrl_refusal and safrl_unparseable (1.0 or 0.0), and safrl_helpfulness when
    every result has a helpfulness score (the server has a helpfulness model).
    """
    rewards = [float(r["reward"]) for r in results]
    extra_logs: Dict[str, List[float]] = {
        "safrl_safe": [1.0 if r.get("safe") else 0.0 for r in results],
        "safrl_refusal": [1.0 if r.get("refusal") else 0.0 for r in results],
        "safrl_unparseable": [1.0 if r.get("case") == "unparseable" else 0.0 for r in results],
    }
    if all(r.get("helpfulness") is not None for r in results):
        extra_logs["safrl_helpfulness"] = [float(r["helpfulness"]) for r in results]
    return {"rewards": rewards, "scores": list(rewards), "extra_logs": extra_logs}


def get_reward(payload: Any, client: Optional[Client] = None) -> Dict[str, Any]:
    """The /get_reward reply for a body, computed through a client (the shared one by default)."""
    samples = samples_from_request(payload)
    results = (client or _default.client()).score(samples)
    return reply_from_results(results)
