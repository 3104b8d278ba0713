"""Hugging Face tokenizers is the oracle for `safrl tokenize`: on the committed corpus and on a few
thousand seeded random texts, safrl's ids must equal tokenizers' encode(text) and safrl's --decode
must equal tokenizers' decode(ids, skip_special_tokens=False), for the same tokenizer.json.

safrl's encode is Hugging Face's encode(text, add_special_tokens=False): special tokens written in
the text are recognised, nothing is added around it (docs/tokenizer.md). For Qwen both values of
add_special_tokens give the same ids, as Qwen has no BOS and a ByteLevel post-processor.
"""
import json
import pathlib
import random

import pytest
from tokenizers import Tokenizer

CORPUS = pathlib.Path(__file__).resolve().parents[1] / "data" / "tokenizer" / "corpus.json"
MAX_REPORTED = 5  # mismatches printed in full; the count covers all of them


def surrogates_as_sent(text):
    """The text safrl is given for a Python str that holds surrogates (a decision, see below).

    A surrogate pair, as a str built from UTF-16 code units has it, is one astral character: the
    JSON escape pair json.dumps writes for it means exactly that to any JSON parser, safrl's too.
    A lone surrogate is no character at all. The lines a Python client could write for it
    ("\\ud800" from json.dumps) are refused by safrl, msgpack and tokenizers alike
    (test_lone_surrogate_is_refused_as_hugging_face_refuses_it). The only bytes that do arrive for
    it come from UTF-16 producers that encode without checking (WTF-8, Python's "surrogatepass"),
    and safrl's tokenizer repairs those as Python's errors="replace" does: each maximal invalid
    subpart becomes one U+FFFD, three for ED A0 80 (docs/tokenizer.md, "Invalid UTF-8"). A JSON
    line cannot carry such bytes, so both tokenizers are given the repaired text.
    """
    paired = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return paired.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


# The letters and digits Unicode 15.1 and 16.0 added, by block. tokenizers 0.23.2 splits them as
# letters and digits (Oniguruma with Unicode 16 tables), and so does safrl (utf8proc 2.8's Unicode
# 15.0 categories completed by src/tokenizer/unicode_tables.cpp); with utf8proc alone they
# were unassigned and "x\U00013968's" split as x | \U00013968' | s ([87, 124373, 98, 101, 6, 82]),
# not as x\U00013968 | 's ([87, 124373, 98, 101, 594]). Random texts draw from them too (SCRIPTS).
UNICODE_16 = [
    (0x1C89, 0x1C8A), (0xA7CB, 0xA7DC), (0x105C0, 0x105F3), (0x10D40, 0x10D85), (0x10EC2, 0x10EC4),
    (0x11380, 0x113D3), (0x116D0, 0x116E3), (0x11BC0, 0x11BF9), (0x13460, 0x143FA),
    (0x16100, 0x16139), (0x16D40, 0x16D79), (0x18CFF, 0x18CFF), (0x1CCF0, 0x1CCF9),
    (0x1E5D0, 0x1E5FA), (0x2EBF0, 0x2EE5D),
]


def drawable(cp):
    """Not a surrogate: they have their own group."""
    return not 0xD800 <= cp <= 0xDFFF


# Script blocks and whole planes to draw code points from.
SCRIPTS = [
    (0x21, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x52F), (0x590, 0x5FF),
    (0x600, 0x6FF), (0x900, 0x97F), (0x980, 0x9FF), (0xB80, 0xBFF), (0xE00, 0xE7F),
    (0x10A0, 0x10FF), (0x1100, 0x11FF), (0x1200, 0x137F), (0x2000, 0x206F), (0x2070, 0x2BFF),
    (0x3000, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0xFE00, 0xFE0F),
    (0xFF00, 0xFFEF), (0x0, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x1FFFF), (0x20000, 0x3FFFF),
    (0xE0000, 0xE01EF), (0xF0000, 0x10FFFF),
    # Unicode 16.0: Tulu-Tigalari and Kirat Rai, letters, digits and marks, some of them with
    # canonical decompositions that Hugging Face's NFC (Unicode 9.0) does not know.
    (0x11380, 0x113FF), (0x16D40, 0x16D7F),
]
WORDS = [" ", "  ", "\n", "\t", " the", "Hello", "123", ".", "'s"]


def script_text(rng):
    """Runs of one to three scripts, so that neighbouring characters get a chance to merge."""
    blocks = rng.sample(SCRIPTS, rng.randint(1, 3))
    parts = []
    for _ in range(rng.randint(1, 40)):
        if rng.random() < 0.15:
            parts.append(rng.choice(WORDS))
        else:
            first, last = rng.choice(blocks)
            cp = rng.randint(first, last)
            parts.append(chr(cp) if drawable(cp) else "\uFFFD")
    return "".join(parts)


PEOPLE = [0x1F466, 0x1F467, 0x1F468, 0x1F469, 0x1F9D1, 0x1F44D, 0x1F44B, 0x1F3C3, 0x1F46E, 0x270B]
OBJECTS = [0x1F4BB, 0x1F680, 0x1F308, 0x1F525, 0x2764, 0x1F37C, 0x1F52C, 0x2695, 0x1F9AF]


def emoji(rng):
    kind = rng.randrange(5)
    if kind == 0:  # ZWJ sequence of people and objects, some with a skin tone or VS16
        members = []
        for _ in range(rng.randint(2, 4)):
            cp = rng.choice(PEOPLE + OBJECTS)
            tone = chr(rng.randint(0x1F3FB, 0x1F3FF))
            members.append(chr(cp) + rng.choice(["", "", "\uFE0F", tone]))
        return "\u200D".join(members)
    if kind == 1:  # flag: two regional indicators
        return chr(rng.randint(0x1F1E6, 0x1F1FF)) + chr(rng.randint(0x1F1E6, 0x1F1FF))
    if kind == 2:  # keycap
        return rng.choice("0123456789#*") + "\uFE0F\u20E3"
    if kind == 3:  # subdivision flag: black flag, tag letters, cancel tag
        region = rng.choice(["gbsct", "gbeng", "uscaz"])
        return "\U0001F3F4" + "".join(chr(0xE0000 + ord(c)) for c in region) + "\U000E007F"
    return chr(rng.randint(0x1F300, 0x1FAFF)) + rng.choice(["", chr(rng.randint(0x1F3FB, 0x1F3FF))])


def emoji_text(rng):
    return "".join(rng.choice([emoji(rng), emoji(rng), " ", "ok", "\n", "!"])
                   for _ in range(rng.randint(1, 12)))


def surrogate_text(rng):
    pieces = ["a", " ", "x y", "\u4E2D", "\U0001F600", "\uD800", "\uDBFF", "\uDC00", "\uDFFF",
              "\uD83D\uDE00", "\uD83D", "\uDE00\uD83D", "\uDBFF\uDFFF", "\uFFFD"]
    return surrogates_as_sent("".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))))


SPACES = [" ", "\t", "\n", "\r\n", "\r", "\u00A0", "\u3000", "\u2028", "\u0085", "\x0B", "\x0C",
          "\u2003"]


def whitespace_text(rng):
    length = rng.choice([rng.randint(1, 12), rng.randint(50, 300), rng.randint(1000, 5000)])
    if rng.random() < 0.5:
        run = rng.choice(SPACES) * length  # one kind of white space
    else:
        run = "".join(rng.choice(SPACES[:4] if rng.random() < 0.9 else SPACES)
                      for _ in range(length))
    return rng.choice(["", "word", "x."]) + run + rng.choice(["", "word", " y", "\u4E2D"])


# ASCII, Arabic-Indic, Devanagari, fullwidth and mathematical bold digits, by their zero.
DIGITS = ["".join(map(chr, range(zero, zero + 10)))
          for zero in (0x30, 0x660, 0x966, 0xFF10, 0x1D7CE)]


def digit_text(rng):
    parts = []
    for _ in range(rng.randint(1, 6)):
        digits = DIGITS[0] if rng.random() < 0.7 else rng.choice(DIGITS)
        length = rng.choice([rng.randint(1, 9), rng.randint(10, 1000)])
        parts.append("".join(rng.choice(digits) for _ in range(length)))
        parts.append(rng.choice(["", ".", ",", " ", "-", "/", ":", "e", "x", "\n", " $"]))
    return "".join(parts)


CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]


def contraction_text(rng):
    parts = []
    for _ in range(rng.randint(1, 10)):
        parts.append(rng.choice(["I", "you", "DON", "they", "x", "O", " ", "1", "\u00E9t\u00E9"]))
        suffix = rng.choice(CONTRACTIONS + ["'", "''", "'\u017F", "\u2019s", "'S'"])
        parts.append("".join(c.upper() if rng.random() < 0.5 else c for c in suffix))
        parts.append(rng.choice(["", " ", "s", "\n", ".", "x"]))
    return "".join(parts)


def added_token_text(rng, added_tokens):
    near_misses = ["<|im_end", "im_end|>", "<|IM_END|>", "< think>", "<think", "think>", "</", "<",
                   ">", "|", "<|", "|>", "<<", ">>", "</think", "<|endoftext"]
    filler = ["Hi", " there", "\n", "\n\n", " ", "  ", "\t", "\u4F60\u597D", "42", "user\n"]
    return "".join(rng.choice(rng.choice([added_tokens, near_misses, filler]))
                   for _ in range(rng.randint(1, 16)))


@pytest.fixture(scope="module")
def hf(tokenizer_dir):
    return Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))


@pytest.fixture(scope="module")
def texts(hf):
    """Every encode case, by group. Seeded: a failure here reproduces on every run."""
    rng = random.Random(20250601)
    added_tokens = [token.content for _, token in sorted(hf.get_added_tokens_decoder().items())]
    corpus = json.loads(CORPUS.read_text(encoding="utf-8"))["entries"]
    return {
        "corpus": [entry["text"] for entry in corpus],
        "scripts": [script_text(rng) for _ in range(2000)],
        "emoji": [emoji_text(rng) for _ in range(500)],
        "surrogates": [surrogate_text(rng) for _ in range(300)],
        "whitespace": [whitespace_text(rng) for _ in range(300)],
        "digits": [digit_text(rng) for _ in range(300)],
        "contractions": [contraction_text(rng) for _ in range(400)],
        "added_tokens": [added_token_text(rng, added_tokens) for _ in range(500)],
    }


@pytest.fixture(scope="module")
def encoded(texts, hf, run_safrl, tokenizer_dir):
    """(Hugging Face ids, safrl answers) per group, from one safrl process for all groups."""
    everything = [text for group in texts.values() for text in group]
    answers = iter(run_safrl(["tokenize", "--tokenizer", str(tokenizer_dir)],
                             [{"text": text} for text in everything], "ids"))
    result = {}
    for name, group in texts.items():
        want = [e.ids for e in hf.encode_batch(group, add_special_tokens=False)]
        result[name] = (want, [next(answers) for _ in group])
    return result


def first_difference(a, b):
    if type(a) is not type(b):
        return 0
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def assert_all_equal(what, inputs, want, got):
    """Fails with every mismatch counted and the first few shown in full."""
    bad = [i for i in range(len(inputs)) if want[i] != got[i]]
    if not bad:
        return
    shown = [f"input {inputs[i]!r}\n  hugging face {want[i]!r}\n  safrl        {got[i]!r}\n"
             f"  first difference at index {first_difference(want[i], got[i])}"
             for i in bad[:MAX_REPORTED]]
    pytest.fail(f"{what}: {len(bad)} of {len(inputs)} differ\n" + "\n".join(shown), pytrace=False)


GROUPS = ["corpus", "scripts", "emoji", "surrogates", "whitespace", "digits", "contractions",
          "added_tokens"]


@pytest.mark.parametrize("group", GROUPS)
def test_encode_matches_hugging_face(group, texts, encoded):
    want, got = encoded[group]
    assert_all_equal(f"encode, {group}", texts[group], want, got)


def test_cases_reach_what_they_are_meant_to(texts, encoded):
    """Guards the generators themselves: long runs are long, surrogates became U+FFFD or astral
    characters, and added tokens really occur as their ids."""
    assert len(texts["corpus"]) == 410
    assert max(map(len, texts["whitespace"])) >= 4000
    assert max(map(len, texts["digits"])) >= 1000
    assert sum("\uFFFD\uFFFD\uFFFD" in t for t in texts["surrogates"]) > 100
    assert sum("\U0001F600" in t for t in texts["surrogates"]) > 100
    assert sum("\u200D" in t for t in texts["emoji"]) > 100
    assert sum(any(first <= ord(c) <= last for c in t for first, last in UNICODE_16)
               for t in texts["scripts"]) > 250
    added_ids = {i for ids in encoded["added_tokens"][0] for i in ids if i >= 151643}
    assert added_ids == set(range(151643, 151669))


def test_lone_surrogate_is_refused_as_hugging_face_refuses_it(hf, run_safrl, tokenizer_dir):
    text = "a\uD800b"
    with pytest.raises(TypeError):
        hf.encode(text, add_special_tokens=False)
    (answer,) = run_safrl(["tokenize", "--tokenizer", str(tokenizer_dir)], [{"text": text}])
    assert list(answer) == ["error"]
    assert "surrogate" in answer["error"]


def test_unicode_16_letters_and_digits(hf, run_safrl, tokenizer_dir):
    texts = [f"x{chr(cp)}'s {chr(cp)}{chr(cp)}1" for first, last in UNICODE_16
             for cp in range(first, last + 1)]
    assert len(texts) == 5094
    got = run_safrl(["tokenize", "--tokenizer", str(tokenizer_dir)],
                    [{"text": text} for text in texts], "ids")
    want = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    assert_all_equal("Unicode 16 letters and digits", texts, want, got)


def random_id_lists(rng, hf, encoded):
    """Id sequences no encoder would produce: uniform over the vocabulary, only byte tokens
    (mostly broken UTF-8), and encodings of emoji and CJK cut at random points, which split
    multi-byte characters between tokens."""
    vocab_size = hf.get_vocab_size(with_added_tokens=True)
    byte_tokens = sorted(i for token, i in hf.get_vocab().items() if len(token) == 1)
    assert len(byte_tokens) == 256
    cut_from = [ids for name in ("emoji", "scripts") for ids in encoded[name][0] if len(ids) > 2]
    lists = []
    for _ in range(1000):
        lists.append([rng.randrange(vocab_size) for _ in range(rng.randint(1, 40))])
        lists.append([rng.choice(byte_tokens) for _ in range(rng.randint(1, 20))])
        ids = rng.choice(cut_from)
        start = rng.randrange(len(ids))
        lists.append(ids[start:rng.randint(start + 1, len(ids))])
    return lists


def test_decode_matches_hugging_face(hf, encoded, run_safrl, tokenizer_dir):
    rng = random.Random(20250602)
    id_lists = [ids for want, _ in encoded.values() for ids in want]
    id_lists += random_id_lists(rng, hf, encoded)
    want = hf.decode_batch(id_lists, skip_special_tokens=False)
    got = run_safrl(["tokenize", "--tokenizer", str(tokenizer_dir), "--decode"],
                    [{"ids": ids} for ids in id_lists], "text")
    assert_all_equal("decode", id_lists, want, got)
