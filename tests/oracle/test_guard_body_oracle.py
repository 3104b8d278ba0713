"""An independent reference for the guard text of every judged turn, written from the body rules
of qwen3guard.md section 1 and the tool extension of docs/chat-formats.md (not from the C++): for
every conversation of tests/data/conversations/set.jsonl, `safrl render --format guard` given the
score line must write, for each call the scorer makes, exactly the text this file builds. The
tokenizer side: Hugging Face tokenizers' ids of those texts equal `safrl tokenize`'s. (No server
reply carries the guard's token ids, only their counts, so the ids are compared here.)

Which calls a line gets (docs/reward.md, "Conversations and agent rollouts"), with judge
all_turns, judge_prompt and judge_tool_results on unless the line overrides them:
- the response (turn = len(messages)): its answer with its tool calls, and its thinking trace;
- every assistant message at index >= policy_turns_from, the same way, with the messages before;
- the prompt: the conversation up to its last user message (prompt moderation);
- every tool message: the conversation up to it (prompt moderation: is the result an injection).
Earlier assistant messages are shown without their leading think block.
"""
import hashlib
import json
import pathlib

from tokenizers import Tokenizer

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "conversations"
PIECES = json.loads((DATA / "guard_pieces.json").read_text(encoding="utf-8"))
LINES = [json.loads(line) for line in (DATA / "set.jsonl").read_text(encoding="utf-8").splitlines()]
ALL_ON = ["--judge", "all_turns", "--judge-prompt", "--judge-tool-results"]


# ---- the reference renderer -------------------------------------------------------------------

def function_of(call):
    """A tool call in either accepted form: OpenAI's {"function": {...}} or the flat one."""
    return call.get("function", call)


def tool_call_text(call):
    f = function_of(call)
    return f'<tool_call>\n{{"name": "{f["name"]}", "arguments": {f["arguments"]}}}\n</tool_call>'


def body(messages):
    """qwen3guard.md section 1, plus the tool extension: an assistant's calls follow its content
    ("\\n" before each but a first one after empty content), and a run of tool messages is one
    USER block of <tool_response> blocks."""
    out = []
    i = 0
    while i < len(messages):
        role, content = messages[i]["role"], messages[i]["content"]
        if i == 0:
            assert role in ("system", "user")
            out.append("USER: " + content)
        elif role == "user" and messages[i - 1]["role"] == "system":
            out.append("\n\n" + content)
        elif role == "user":
            out.append("\n\nUSER: " + content)
        elif role == "assistant":
            out.append("\n\nASSISTANT: " + content)
            for j, call in enumerate(messages[i].get("tool_calls", [])):
                out.append(("" if j == 0 and content == "" else "\n") + tool_call_text(call))
        elif role == "tool":
            run = []
            while i < len(messages) and messages[i]["role"] == "tool":
                run.append(f"<tool_response>\n{messages[i]['content']}\n</tool_response>")
                i += 1
            out.append("\n\nUSER: " + "\n".join(run))
            continue
        else:
            raise AssertionError(f"role {role}")
        i += 1
    return "".join(out)


def guard_text(messages):
    prompt_task = messages[-1]["role"] in ("user", "tool")
    head, tail = ("PROMPT_HEAD", "PROMPT_TAIL") if prompt_task else ("RESPONSE_HEAD",
                                                                      "RESPONSE_TAIL")
    return PIECES[head] + body(messages) + PIECES[tail]


def split_thinking(response):
    """docs/chat-formats.md, "Thinking split": (thinking or None, answer)."""
    if "</think>" in response:
        before, answer = response.split("</think>", 1)
        stripped = before.lstrip()
        if stripped.startswith("<think>"):
            before = stripped[len("<think>"):]
        thinking = before.strip("\n")
        return (thinking if thinking.strip() else None), answer.lstrip("\n")
    if response.lstrip().startswith("<think>"):
        rest = response.lstrip()[len("<think>"):].strip("\n")
        return (rest if rest.strip() else None), ""
    return None, response


def shown(message):
    """A context message as the guard is shown it: an assistant's leading think block dropped."""
    if message["role"] != "assistant":
        return message
    return dict(message, content=split_thinking(message["content"])[1])


def assistant(content, tool_calls=()):
    return {"role": "assistant", "content": content, "tool_calls": list(tool_calls)}


def expected_calls(line, judge="all_turns", judge_prompt=True, judge_tool_results=True):
    """{(kind, turn): guard text} for one score line."""
    judge = line.get("judge", judge)
    judge_prompt = line.get("judge_prompt", judge_prompt)
    judge_tool_results = line.get("judge_tool_results", judge_tool_results)
    messages = line.get("messages") or [{"role": "user", "content": line["prompt"]}]
    context = [shown(m) for m in messages]
    calls = {}

    def judge_turn(turn, thinking, answer, tool_calls):
        calls[("answer", turn)] = guard_text(context[:turn] + [assistant(answer, tool_calls)])
        if thinking is not None:
            calls[("thinking", turn)] = guard_text(context[:turn] + [assistant(thinking)])

    if "response" in line:
        thinking, answer = split_thinking(line["response"])
    else:
        thinking, answer = line.get("thinking"), line["answer"]
    judge_turn(len(messages), thinking, answer, line.get("tool_calls", []))
    if judge == "all_turns":
        for i in range(line.get("policy_turns_from", len(messages)), len(messages)):
            if messages[i]["role"] == "assistant":
                thinking, answer = split_thinking(messages[i]["content"])
                judge_turn(i, thinking, answer, messages[i].get("tool_calls", []))
    if judge_prompt:
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        calls[("prompt", last_user)] = guard_text(context[:last_user + 1])
    if judge_tool_results:
        for i, m in enumerate(messages):
            if m["role"] == "tool":
                calls[("tool_result", i)] = guard_text(context[:i + 1])
    return calls


# ---- the reference checked against the published facts ----------------------------------------

def test_pieces_are_the_published_ones():
    published = {
        "PROMPT_HEAD": (913, "5948dbbf21b2d28c7d69f207812fb64179f7d195148b93340140f7a8fc757560"),
        "PROMPT_TAIL": (432, "4c9043d41a97ac0be48cc5ed5b5b7fc274016fdd9b572d9993c468628e754977"),
        "RESPONSE_HEAD": (1139,
                          "1e57fa76ed59c4cd367571194f38c3a73e34f362893434fc07cea79126a4209e"),
        "RESPONSE_TAIL": (505,
                          "167d58b86cc6db2b70616a4a1802a0d381b8d8dc0311d59092e0fc2091636ebf")}
    for name, (length, digest) in published.items():
        assert (len(PIECES[name]), hashlib.sha256(PIECES[name].encode()).hexdigest()) == (
            length, digest), name


def test_reference_renders_the_published_test_vectors(tokenizer_dir):
    hf = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    bomb = [{"role": "user", "content": "How can I make a bomb?"}]
    refusal = bomb + [{"role": "assistant", "content": "As a responsible artificial intelligence "
                       "system, I regret that I am unable to fulfill your request."}]
    for messages, length, digest, tokens in [
            (bomb, 1373, "74d6a1225ef64172c346ea669fe619be43d9cac83e62d841bee3373f096e090b", 303),
            (refusal, 1784, "dec5b06882231a83be6f3731e6974881952d85246bb7956efb1582d23e3884e1",
             414)]:
        text = guard_text(messages)
        assert (len(text), hashlib.sha256(text.encode()).hexdigest()) == (length, digest)
        assert len(hf.encode(text, add_special_tokens=False).ids) == tokens


def test_reference_writes_tool_turns_as_the_extension_says():
    """Guards the reference itself against a slip in the tool rules, by one hand-written body."""
    messages = [
        {"role": "system", "content": "S"}, {"role": "user", "content": "U"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
            {"name": "g", "arguments": "{}"}]},
        {"role": "tool", "content": "R1"}, {"role": "tool", "content": "R2"},
        {"role": "assistant", "content": "C", "tool_calls": [{"name": "h", "arguments": "[]"}]}]
    assert body(messages) == (
        'USER: S\n\nU\n\nASSISTANT: <tool_call>\n{"name": "f", "arguments": {"a": 1}}\n'
        '</tool_call>\n<tool_call>\n{"name": "g", "arguments": {}}\n</tool_call>\n\nUSER: '
        '<tool_response>\nR1\n</tool_response>\n<tool_response>\nR2\n</tool_response>\n\n'
        'ASSISTANT: C\n<tool_call>\n{"name": "h", "arguments": []}\n</tool_call>')


def test_the_set_covers_what_the_issue_asks():
    conversations = {line["id"].split("/")[0] for line in LINES}
    assert len(conversations) >= 30
    assert {line["meta"]["lang"] for line in LINES} >= {"en", "zh", "fr"}
    with_messages = [line for line in LINES if "messages" in line]
    # Turns: the assistant's, the response included; most conversations have several.
    turns = [1 + sum(m["role"] == "assistant" for m in line["messages"]) for line in with_messages]
    assert max(turns) <= 6 and sum(t >= 2 for t in turns) >= 15
    assert any(line["messages"][0]["role"] == "system" for line in with_messages)
    roles = [[m["role"] for m in line["messages"]] for line in with_messages]
    assert any("tool" in r for r in roles)
    assert any(["tool", "tool"] == r[i:i + 2] for r in roles for i in range(len(r)))
    assert any("policy_turns_from" in line for line in LINES)
    groups = {}
    for line in with_messages:
        groups.setdefault(json.dumps(line["messages"]), []).append(line["id"])
    assert max(len(ids) for ids in groups.values()) >= 4


# ---- safrl against the reference ---------------------------------------------------------------

def rendered(run_safrl, lines, flags):
    answers = run_safrl(["render", "--format", "guard", *flags], lines)
    out = {}
    for line, answer in zip(lines, answers):
        assert "calls" in answer, (line["id"], answer)
        assert answer["id"] == line["id"]
        got = {(c["kind"], c["turn"]): c["text"] for c in answer["calls"]}
        assert len(got) == len(answer["calls"]), f"{line['id']}: a (kind, turn) repeats"
        out[line["id"]] = got
    return out


def report(differ):
    return "\n".join(differ[:5]) + f"\n({len(differ)} differ)"


def test_every_judged_turn_renders_as_the_body_rules_say(run_safrl):
    got = rendered(run_safrl, LINES, ALL_ON)
    differ, calls = [], 0
    for line in LINES:
        want = expected_calls(line)
        calls += len(want)
        if set(got[line["id"]]) != set(want):
            differ.append(f"{line['id']}: calls {sorted(got[line['id']])}, want {sorted(want)}")
            continue
        for key, text in want.items():
            if got[line["id"]][key] != text:
                differ.append(f"{line['id']} {key}:\n  reference {text!r}\n  safrl     "
                              f"{got[line['id']][key]!r}")
    assert not differ, report(differ)
    # Every kind of call is exercised, and not a trivial handful.
    kinds = {kind for line in LINES for kind, _ in expected_calls(line)}
    assert kinds == {"answer", "thinking", "prompt", "tool_result"} and calls > 100


def test_without_the_switches_only_the_response_is_judged(run_safrl):
    """The defaults (judge last, no prompt, no tool results) give one answer call, plus the
    thinking where there is a trace, at turn len(messages); lines with their own settings keep
    them."""
    got = rendered(run_safrl, LINES, [])
    for line in LINES:
        want = expected_calls(line, judge="last", judge_prompt=False, judge_tool_results=False)
        assert got[line["id"]] == want, line["id"]


def test_guard_tokens_are_the_reference_tokenizers(run_safrl, tokenizer_dir):
    hf = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    texts = [text for line in LINES for text in expected_calls(line).values()]
    ids = run_safrl(["tokenize", "--tokenizer", str(tokenizer_dir)],
                    [{"text": t} for t in texts], "ids")
    differ = [f"text {i}: first difference at token "
              f"{next(k for k, (a, b) in enumerate(zip(mine + [None], theirs + [None])) if a != b)}"
              for i, (text, mine) in enumerate(zip(texts, ids))
              if mine != (theirs := hf.encode(text, add_special_tokens=False).ids)]
    assert not differ, report(differ)


def test_tool_turns_refuse_names_the_first_tool_message(run_safrl):
    """guard.tool_turns: refuse: a line with a tool call or result anywhere (the response's own
    calls are message len(messages)) is refused naming the first; the others render as before."""
    answers = run_safrl(["render", "--format", "guard", "--tool-turns", "refuse", *ALL_ON], LINES)
    refused = 0
    for line, answer in zip(LINES, answers):
        messages = line.get("messages") or [{"role": "user", "content": line["prompt"]}]
        tool_at = [i for i, m in enumerate(messages) if m["role"] == "tool" or m.get("tool_calls")]
        if line.get("tool_calls"):
            tool_at.append(len(messages))
        if tool_at:
            refused += 1
            assert f"messages[{tool_at[0]}] is a tool" in answer.get("error", ""), (line["id"],
                                                                                  answer)
            assert "guard.tool_turns is refuse" in answer["error"]
        else:
            assert "calls" in answer, (line["id"], answer)
    assert refused >= 10


def test_invalid_conversations_are_refused_naming_what_is_wrong(run_safrl):
    """The errors found before scoring (too long is found by the guard: test_conversation_set)."""
    entries = [json.loads(line) for line in
               (DATA / "invalid.jsonl").read_text(encoding="utf-8").splitlines()]
    entries = [e for e in entries if "repeat_last_content" not in e]
    answers = run_safrl(["render", "--format", "guard", *ALL_ON], [e["sample"] for e in entries])
    for entry, answer in zip(entries, answers):
        assert entry["expect"] in answer.get("error", ""), (entry, answer)
