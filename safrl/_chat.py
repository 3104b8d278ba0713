"""Chat messages as trainers hand them over, made into what the server reads.

A message is a mapping with "role" and "content"; content is a string, None, or a list of parts
({"type": "text", "text": ...}, {"type": "image"}, ...) in the multimodal format. Sequences may be
lists, tuples or numpy object arrays (verl stores parquet rows that way). normalise_messages
makes a conversation into protocol version 2's "messages"; agent_sample makes a rollout (prompt,
policy turns, last answer) into a sample; parse_qwen3_text reads text rendered by Qwen3's chat
template back into messages, by the server's rules, for the trainers that hand over text.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional

from safrl.errors import BadRequest

# Where chat parsers put the reasoning trace of an assistant message (transformers'
# response schemas use reasoning_content; a few model families name it thinking).
REASONING_KEYS = ("reasoning_content", "thinking")


def content_text(content: Any) -> str:
    """The text of a message's content: text parts joined, other parts (images) skipped."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
            parts.append(part["text"])
    return "".join(parts)


def prompt_context(prompt: Any, where: str) -> Any:
    """A prompt as sent: a string as is; a conversation normalised (normalise_messages), or its
    text when it is one user message, which is exactly the request a string prompt makes."""
    if isinstance(prompt, str):
        return prompt
    messages = normalise_messages(prompt, where)
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return messages


def assistant_text(message: Mapping[str, Any]) -> str:
    """An assistant message as one response string for the server's thinking split.

    A reasoning trace that a chat parser moved out of the content is put back in front as
    <think>\n...\n</think>\n\n, which the server's split (docs/chat-formats.md) turns back into
    exactly that trace and that answer.
    """
    answer = content_text(message.get("content"))
    for key in REASONING_KEYS:
        reasoning = message.get(key)
        if isinstance(reasoning, str) and reasoning.strip():
            trace = reasoning.strip("\n")
            return f"<think>\n{trace}\n</think>\n\n{answer}"
    return answer


def answer_text(content: str) -> str:
    """The answer of a response, its thinking trace cut off by chat::split_thinking's rules:
    the text after the first </think> without leading newlines; "" when a <think> opens the
    text and never closes; else the text itself."""
    _, close, after = content.partition("</think>")
    if close:
        return after.lstrip("\n")
    return "" if content.lstrip(" \t\n\r\f\v").startswith("<think>") else content


def agent_sample(context: Any, turns: List[Dict[str, Any]],
                 last: Mapping[str, Any]) -> Dict[str, Any]:
    """The sample of a rollout: the prompt (prompt_context's value), the policy's earlier turns
    and the tool results it got (normalised messages), and its last assistant message, the
    response, with that message's tool calls."""
    messages = [{"role": "user", "content": context}] if isinstance(context, str) else context
    sample: Dict[str, Any] = {"messages": messages + turns, "policy_turns_from": len(messages),
                              "response": assistant_text(last)}
    if last.get("tool_calls"):
        sample["tool_calls"] = last["tool_calls"]
    return sample


def last_of_role(messages: List[Any], role: str) -> Optional[int]:
    """The index of the last message with this role (items that are no mappings skipped); None
    when there is none."""
    return max((i for i, message in enumerate(messages)
                if isinstance(message, Mapping) and message.get("role") == role), default=None)


def _items(value: Any) -> list:
    """A list, tuple or numpy object array as a list (verl's parquet rows hold numpy arrays)."""
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise TypeError(type(value).__name__)
    return list(value)


def arguments_text(arguments: Any) -> str:
    """Tool-call arguments as JSON text: a string as is (the model's own text), anything else as
    Qwen3's chat template writes it (Jinja's tojson in transformers: json.dumps with
    ensure_ascii=False, keys in the order given), so the guard sees what the policy saw."""
    if isinstance(arguments, str):
        return arguments
    return json.dumps(_plain(arguments), ensure_ascii=False)


def _plain(value: Any) -> Any:
    """Mappings and sequences (numpy arrays included) as dicts and lists, for json.dumps."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (str, bytes)) or value is None:
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def tool_calls_list(calls: Any, where: str) -> List[Dict[str, Any]]:
    """Tool calls in the OpenAI form {"type": "function", "function": {"name", "arguments"}}
    (the flat {"name", "arguments"} form accepted too), arguments as JSON text."""
    try:
        items = _items(calls)
    except TypeError:
        raise BadRequest(f"{where} must be a list of tool calls, got {calls!r:.200}") from None
    out = []
    for i, call in enumerate(items):
        function = call.get("function", call) if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise BadRequest(f"{where}[{i}] must be a tool call with a function name "
                             f"({{\"type\": \"function\", \"function\": {{\"name\": ..., "
                             f"\"arguments\": ...}}}}), got {call!r:.200}")
        item: Dict[str, Any] = {"type": "function", "function": {
            "name": function["name"], "arguments": arguments_text(function.get("arguments", {}))}}
        if isinstance(call.get("id"), str):
            item["id"] = call["id"]
        out.append(item)
    return out


def normalise_messages(messages: Any, where: str) -> List[Dict[str, Any]]:
    """Context messages as the server reads them (docs/protocol.md, version 2): content as text
    (parts joined), tool-call arguments as JSON text, only role/content/tool_calls/tool_call_id/
    name kept, since the server refuses other fields. A reasoning trace of a context message is
    dropped, as Qwen3's chat template drops earlier reasoning."""
    try:
        items = _items(messages)
    except TypeError:
        raise BadRequest(f"{where} must be a list of chat messages, got {messages!r:.200}") \
            from None
    out = []
    for i, message in enumerate(items):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise BadRequest(f"{where}[{i}] must be a chat message with a \"role\", "
                             f"got {message!r:.200}")
        item: Dict[str, Any] = {"role": message["role"],
                                "content": content_text(message.get("content"))}
        if message.get("tool_calls") is not None and len(message["tool_calls"]) > 0:
            item["tool_calls"] = tool_calls_list(message["tool_calls"],
                                                 f"{where}[{i}].tool_calls")
        for key in ("tool_call_id", "name"):
            if isinstance(message.get(key), str):
                item[key] = message[key]
        out.append(item)
    return out


# -- the Qwen3 chat template's text, parsed back into messages -------------------------------
# This mirrors chat::parse_qwen3_text (src/chat/qwen3_parse.cpp) rule for rule: OpenRLHF's
# /get_reward is answered by the server and by safrl.openrlhf, and both must read the same turns.

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
_THINK_CLOSE = "</think>"
_CALL_OPEN = "<tool_call>\n{\"name\": \""
_CALL_MIDDLE = "\", \"arguments\": "
_CALL_CLOSE = "}\n</tool_call>"
_RESPONSE_OPEN, _RESPONSE_CLOSE = "<tool_response>\n", "\n</tool_response>"
_RESPONSE_SEPARATOR = "\n</tool_response>\n<tool_response>\n"
_ROLES = ("system", "user", "assistant")


def parse_qwen3_text(text: str) -> List[Dict[str, Any]]:
    """Messages from text rendered by Qwen3's chat template: "<|im_start|>ROLE\\n...<|im_end|>\\n"
    turns (the last may lack its <|im_end|>). The <tool_call> blocks that end an assistant turn
    become its tool_calls (arguments the JSON text as written); a user turn made only of
    <tool_response> blocks right after an assistant turn with calls becomes one tool message per
    block. <think> blocks stay in the content; a block that does not follow the template stays
    text. Raises BadRequest naming the turn and character where the turns do not."""
    if not text:
        raise BadRequest("the Qwen3 chat text is empty; it has no turns")
    messages: List[Dict[str, Any]] = []
    pos, turn = 0, 0
    while pos < len(text):
        def fail(at: int, what: str) -> None:
            found = repr(text[at:at + 24]) if at < len(text) else "the end of the text"
            raise BadRequest(f"Qwen3 chat text, turn {turn} at character {at}: expected {what}, "
                             f"found {found}")
        if not text.startswith(IM_START, pos):
            fail(pos, repr(IM_START))
        role_start = pos + len(IM_START)
        role_end = text.find("\n", role_start)
        if role_end < 0:
            fail(role_start, "a role and a newline")
        role = text[role_start:role_end]
        if role not in _ROLES:
            fail(role_start, "the role system, user or assistant")
        body_end = text.find(IM_END, role_end + 1)
        if body_end < 0:
            body_end = pos = len(text)  # only the last turn may be cut off
        else:
            pos = body_end + len(IM_END)
            if pos < len(text):
                if text[pos] != "\n":
                    fail(pos, "'\\n' after '<|im_end|>'")
                pos += 1
        body = text[role_end + 1:body_end]
        turn += 1
        if role == "assistant":
            messages.append(_assistant_turn(body))
            continue
        # Tool results only right after calls: elsewhere they are the user's text, which
        # renders to the same bytes.
        if role == "user" and messages and messages[-1].get("tool_calls"):
            tools = _tool_responses(body)
            if tools is not None:
                messages.extend(tools)
                continue
        messages.append({"role": role, "content": body})
    return messages


def _template_answer(content: str) -> str:
    """What the template tests before the first call's "\\n": the text after the last
    </think>, leading newlines stripped, when there is one."""
    close = content.rfind(_THINK_CLOSE)
    return content if close < 0 else content[close + len(_THINK_CLOSE):].lstrip("\n")


def _parse_calls(calls: str) -> Optional[List[Dict[str, Any]]]:
    """calls, the whole rest of an assistant turn, as tool-call blocks joined by "\\n"; None
    when it is anything else."""
    result = []
    while True:
        if not calls.startswith(_CALL_OPEN):
            return None
        calls = calls[len(_CALL_OPEN):]
        middle = calls.find(_CALL_MIDDLE)
        if middle <= 0 or "\n" in calls[:middle]:
            return None
        name = calls[:middle]
        calls = calls[middle + len(_CALL_MIDDLE):]
        close = 0
        while True:  # the arguments end at the block end that closes the turn or opens a call
            close = calls.find(_CALL_CLOSE, close)
            if close < 0:
                return None
            after = calls[close + len(_CALL_CLOSE):]
            if not after or (after[0] == "\n" and after[1:].startswith(_CALL_OPEN)):
                break
            close += 1
        result.append({"type": "function",
                       "function": {"name": name, "arguments": calls[:close]}})
        calls = calls[close + len(_CALL_CLOSE):]
        if not calls:
            return result
        calls = calls[1:]


def _assistant_turn(body: str) -> Dict[str, Any]:
    """Content plus the tool-call blocks that end the turn: the first call position where the
    template's rule ("\\n" before the first call only when the answer is non-empty) gives back
    these exact bytes."""
    p = body.find(_CALL_OPEN)
    while p >= 0:
        content: Optional[str] = None
        if p == 0:
            content = ""
        elif body[p - 1] == "\n" and _template_answer(body[:p - 1]):
            content = body[:p - 1]
        elif not _template_answer(body[:p]):
            content = body[:p]
        if content is not None:
            calls = _parse_calls(body[p:])
            if calls is not None:
                return {"role": "assistant", "content": content, "tool_calls": calls}
        p = body.find(_CALL_OPEN, p + 1)
    return {"role": "assistant", "content": body}


def _tool_responses(body: str) -> Optional[List[Dict[str, Any]]]:
    if len(body) < len(_RESPONSE_OPEN) + len(_RESPONSE_CLOSE) or not (
            body.startswith(_RESPONSE_OPEN) and body.endswith(_RESPONSE_CLOSE)):
        return None
    inner = body[len(_RESPONSE_OPEN):len(body) - len(_RESPONSE_CLOSE)]
    return [{"role": "tool", "content": part} for part in inner.split(_RESPONSE_SEPARATOR)]
