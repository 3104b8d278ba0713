"""verl reward functions backed by the safrl server (docs/trainers/verl.md).

verl calls a custom reward function with keywords (verl/workers/reward_manager/naive.py, batch.py
and the reward loop):

    compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...)
    compute_score_batch(data_sources=..., solution_strs=..., ground_truths=..., extra_infos=...)

and may add keywords of its own (reward_kwargs from the config, reward_router_address, ...),
which are accepted and ignored. solution_str is the response decoded with special tokens
skipped (a <think> block in it is split off by the server). The prompt is not passed by verl:
it is extra_info["prompt"], written there by the data preprocessing (a string, or the row's
chat messages: a conversation of more than one message is sent as "messages"), else
extra_info["raw_prompt"], the row's messages, which verl's agent loop adds.

Multi-turn rollouts (verl's tool agent loop, extra_info["num_turns"] > 2): solution_str then
holds every assistant turn and the tool results between them, as Qwen3's chat template rendered
them with <|im_start|> and <|im_end|> dropped by the decode ("...</tool_call>\nuser\n
<tool_response>\n...\n</tool_response>\nassistant\n..."). It is parsed back into turns
(rollout_turns): the earlier assistant turns (with their think blocks, as the server reads an
OpenRLHF rollout) and the tool results join "messages" after the prompt with
"policy_turns_from" = the number of prompt messages, and the last assistant turn is the
response, its <tool_call> blocks its "tool_calls". The turns are read by the rules of
chat::parse_qwen3_text (safrl._chat.parse_qwen3_text): a tool call not written as Qwen3's
template writes it stays text of its turn, and the tool results after it then read as a user
turn. User turns of verl's interaction loop are not tool results and are not parsed out.

data_source and ground_truth are not used: the safety reward needs no reference answer.

The result is a dict: "score" (the reward) and flat details, which verl collects per key into
reward_extra_info. Every call returns the same keys with the same types, as verl requires:

    score            float   the reward
    safety           float   the safety channel: 1.0 safe / 0.0 unsafe, or P(safe) under
                             reward.safety_signal: expected
    safe             bool    no judged verdict counted as unsafe
    refusal          bool    the answer's verdict said Refusal: Yes (the refusal channel)
    helpfulness      float   the helpfulness score; NaN when the server has no helpfulness model
    case             str     unsafe, refusal, helpful, safe, helpfulness or unparseable
    answer_safety    str     Safe, Unsafe, Controversial or Unparseable
    thinking_safety  str     the same for the thinking trace, or "none" when it was not judged

The reward channels for verl's GDPO (algorithm.adv_estimator=gdpo, docs/trainers/verl.md):
algorithm.gdpo_reward_keys=[safety,refusal,helpfulness] reads those keys of reward_extra_info (GDPO
turns each into a float32 array, so the bools read as 1.0 and 0.0); leave helpfulness out when the
server has no helpfulness model (NaN).

The clients are made on first use from $SAFRL_ENDPOINT (or safrl.configure()).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

from safrl import _chat, _default
from safrl._protocol import plain_step
from safrl.errors import BadRequest

__all__ = ["compute_score", "compute_score_batch", "compute_score_async", "details",
           "rollout_turns"]

_MISSING_PROMPT = (
    "safrl.verl needs the user's prompt in extra_info[\"prompt\"] (verl does not pass it to "
    "reward functions; its agent loop adds extra_info[\"raw_prompt\"]). Add it in your data "
    "preprocessing, next to the row's \"prompt\" column: \"extra_info\": {..., \"prompt\": "
    "question} (a string, or the row's list of chat messages), then regenerate the parquet files.")

# How Qwen3's chat template joins an assistant turn, the tool results after it and the next
# assistant turn, once a decode with skip_special_tokens has dropped <|im_start|> and <|im_end|>.
_TOOL_TURN_OPEN = "\nuser\n<tool_response>\n"
_TOOL_TURN_CLOSE = "\n</tool_response>\nassistant\n"


def compute_score(data_source: Any, solution_str: str, ground_truth: Any,
                  extra_info: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> Dict[str, Any]:
    """The reward of one response; see the module docstring."""
    result = _default.client().score([_sample(solution_str, extra_info, "extra_info")])[0]
    return details(result)


def compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[str],
                        ground_truths: Sequence[Any], extra_infos: Sequence[Any],
                        **kwargs: Any) -> List[Dict[str, Any]]:
    """The rewards of a batch (verl's batch reward manager), in one call to the server."""
    if len(solution_strs) != len(extra_infos):
        raise BadRequest(f"{len(solution_strs)} solution_strs but {len(extra_infos)} extra_infos")
    samples = [_sample(text, info, f"extra_infos[{i}]")
               for i, (text, info) in enumerate(zip(solution_strs, extra_infos))]
    return [details(result) for result in _default.client().score(samples)]


async def compute_score_async(data_source: Any, solution_str: str, ground_truth: Any,
                              extra_info: Optional[Mapping[str, Any]] = None,
                              **kwargs: Any) -> Dict[str, Any]:
    """compute_score as a coroutine, for verl's reward loop, which awaits coroutine reward
    functions: many calls then share one socket instead of a thread each."""
    sample = _sample(solution_str, extra_info, "extra_info")
    result = (await _default.async_client().score([sample]))[0]
    return details(result)


def details(result: Mapping[str, Any]) -> Dict[str, Any]:
    """verl's flat dict for one server result (keys and types in the module docstring)."""
    answer = result.get("answer") or {}
    thinking = result.get("thinking")
    helpfulness = result.get("helpfulness")
    channels = result.get("channels")
    return {
        "score": float(result["reward"]),
        # A server that sends no channels scores by the verdicts, whose safety channel is safe.
        "safety": float(channels["safety"]) if isinstance(channels, Mapping)
        else float(bool(result.get("safe"))),
        "safe": bool(result.get("safe")),
        "refusal": bool(result.get("refusal")),
        "helpfulness": math.nan if helpfulness is None else float(helpfulness),
        "case": str(result.get("case")),
        "answer_safety": str(answer.get("safety")),
        "thinking_safety": str(thinking.get("safety")) if thinking else "none",
    }


def rollout_turns(solution_str: str) -> List[Dict[str, Any]]:
    """The turns of a multi-turn rollout decoded with special tokens skipped (see the module
    docstring): the assistant turns and tool results, ending with the last assistant turn."""
    text = solution_str.replace(_TOOL_TURN_OPEN, f"{_chat.IM_END}\n{_chat.IM_START}user\n"
                                                 f"<tool_response>\n")
    text = text.replace(_TOOL_TURN_CLOSE, f"\n</tool_response>{_chat.IM_END}\n"
                                          f"{_chat.IM_START}assistant\n")
    return _chat.parse_qwen3_text(f"{_chat.IM_START}assistant\n{text}{_chat.IM_END}")


def _sample(solution_str: str, extra_info: Any, where: str) -> Dict[str, Any]:
    if not isinstance(extra_info, Mapping) or not ("prompt" in extra_info
                                                   or "raw_prompt" in extra_info):
        raise BadRequest(f"{where} has no \"prompt\". {_MISSING_PROMPT}")
    if not isinstance(solution_str, str):
        raise BadRequest(f"solution_str must be a string, got {type(solution_str).__name__}")
    key = "prompt" if "prompt" in extra_info else "raw_prompt"
    context = _chat.prompt_context(extra_info[key], f"{where}[\"{key}\"]")
    sample: Dict[str, Any] = _agent_sample(context, solution_str, extra_info.get("num_turns"))
    if extra_info.get("step") is not None:
        sample["step"] = plain_step(extra_info["step"], f"{where}[\"step\"]")
    return sample



def _agent_sample(context: Any, solution_str: str, num_turns: Any) -> Dict[str, Any]:
    plain = {"prompt": context} if isinstance(context, str) else {"messages": context}
    plain["response"] = solution_str
    if num_turns is None or int(num_turns) <= 2:
        return plain
    turns = rollout_turns(solution_str)
    if len(turns) == 1 and not turns[0].get("tool_calls"):
        return plain
    return _chat.agent_sample(context, turns[:-1], turns[-1])
