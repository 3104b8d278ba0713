"""verl reward functions backed by the safrl server (docs/trainers/verl.md).

verl calls a custom reward function with keywords (verl/workers/reward_manager/naive.py, batch.py
and the reward loop):

    compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...)
    compute_score_batch(data_sources=..., solution_strs=..., ground_truths=..., extra_infos=...)

and may add keywords of its own (reward_kwargs from the config, reward_router_address, ...),
which are accepted and ignored. solution_str is the decoded response (a <think> block in it is
split off by the server). The user's prompt is not passed by verl: it must be in
extra_info["prompt"], written there by the data preprocessing. data_source and ground_truth are
not used: the safety reward needs no reference answer.

The result is a dict: "score" (the reward) and flat details, which verl collects per key into
reward_extra_info. Every call returns the same keys with the same types, as verl requires:

    score            float   the reward
    safe             bool    no judged verdict counted as unsafe
    refusal          bool    the answer's verdict said Refusal: Yes
    helpfulness      float   the helpfulness score; NaN when the server has no helpfulness model
    case             str     unsafe, refusal, helpful, safe, helpfulness or unparseable
    answer_safety    str     Safe, Unsafe, Controversial or Unparseable
    thinking_safety  str     the same for the thinking trace, or "none" when it was not judged

The clients are made on first use from $SAFRL_ENDPOINT (or safrl.configure()).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

from safrl import _chat, _default
from safrl._protocol import plain_step
from safrl.errors import BadRequest

__all__ = ["compute_score", "compute_score_batch", "compute_score_async", "details"]

_MISSING_PROMPT = (
    "safrl.verl needs the user's prompt in extra_info[\"prompt\"] (verl does not pass it to "
    "reward functions). Add it in your data preprocessing, next to the row's \"prompt\" column: "
    "\"extra_info\": {..., \"prompt\": question} (a string, or the row's list of chat messages, "
    "whose last user message is used), then regenerate the parquet files.")


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
    return {
        "score": float(result["reward"]),
        "safe": bool(result.get("safe")),
        "refusal": bool(result.get("refusal")),
        "helpfulness": math.nan if helpfulness is None else float(helpfulness),
        "case": str(result.get("case")),
        "answer_safety": str(answer.get("safety")),
        "thinking_safety": str(thinking.get("safety")) if thinking else "none",
    }


def _sample(solution_str: str, extra_info: Any, where: str) -> Dict[str, Any]:
    if not isinstance(extra_info, Mapping) or "prompt" not in extra_info:
        raise BadRequest(f"{where} has no \"prompt\". {_MISSING_PROMPT}")
    if not isinstance(solution_str, str):
        raise BadRequest(f"solution_str must be a string, got {type(solution_str).__name__}")
    sample: Dict[str, Any] = {
        "prompt": _chat.prompt_text(extra_info["prompt"], f"{where}[\"prompt\"]"),
        "response": solution_str,
    }
    if extra_info.get("step") is not None:
        sample["step"] = plain_step(extra_info["step"], f"{where}[\"step\"]")
    return sample

