"""Reading text out of chat messages as trainers hand them over.

A message is a mapping with "role" and "content"; content is a string, None, or a list of parts
({"type": "text", "text": ...}, {"type": "image"}, ...) in the multimodal format. Sequences may be
lists, tuples or numpy object arrays (verl stores parquet rows that way).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

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


def last_message(messages: Any, role: str) -> Optional[Mapping[str, Any]]:
    """The last message with this role, or None."""
    for message in reversed(list(messages)):
        if isinstance(message, Mapping) and message.get("role") == role:
            return message
    return None


def prompt_text(prompt: Any, where: str) -> str:
    """A prompt as a string: itself, or the text of the last user message of a conversation."""
    if isinstance(prompt, str):
        return prompt
    try:
        message = last_message(prompt, "user")
    except TypeError:
        message = None
    if message is None:
        raise BadRequest(f"{where} must be a string or a list of chat messages with a user "
                         f"message, got {prompt!r:.200}")
    return content_text(message.get("content"))


def assistant_response(completion: Any, where: str) -> str:
    """A completion as one response string for the server's thinking split.

    A string is returned as is (a <think> block in it is split off by the server). A
    conversation gives its last assistant message; a reasoning trace that a chat parser moved out
    of the content is put back in front as <think>\\n...\\n</think>\\n\\n, which the server's split
    (docs/chat-formats.md) turns back into exactly that trace and that answer.
    """
    if isinstance(completion, str):
        return completion
    try:
        message = last_message(completion, "assistant")
    except TypeError:
        message = None
    if message is None:
        raise BadRequest(f"{where} must be a string or a list of chat messages with an "
                         f"assistant message, got {completion!r:.200}")
    answer = content_text(message.get("content"))
    for key in REASONING_KEYS:
        reasoning = message.get(key)
        if isinstance(reasoning, str) and reasoning.strip():
            trace = reasoning.strip("\n")
            return f"<think>\n{trace}\n</think>\n\n{answer}"
    return answer
