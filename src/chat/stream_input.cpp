#include "chat/stream_input.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>

#include "chat/internal.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "util/error.h"
#include "util/utf8.h"

namespace safrl::chat {
namespace {

using internal::kThinkClose;
using internal::lstrip_newlines;

// The ids of the five tokens eval_stream.py looks for. It compares tokenizer.decode([id]) with
// these strings; comparing ids is the same only when each string is exactly one token.
struct MarkerIds {
  int32_t think_close, blank_line, im_start, user, im_end;
};

constexpr std::string_view kUseQwen3Tokenizer =
    "use the Qwen3Guard-Stream checkpoint's own tokenizer";

int32_t single_token(const tokenizer::Tokenizer& tokenizer, std::string_view text,
                     std::string_view shown) {
  const std::vector<int32_t> ids = tokenizer.encode(text);
  if (ids.size() != 1) {
    throw util::LoadError(util::cat("the Stream guard's tokenizer must encode ", shown,
                                    " as one token, as Qwen3's does, but this one gives ",
                                    ids.size(), " tokens; ", kUseQwen3Tokenizer));
  }
  if (tokenizer.decode(ids, false) != text) {
    throw util::LoadError(util::cat("the Stream guard's tokenizer encodes ", shown,
                                    " as one token that does not decode back to it; ",
                                    kUseQwen3Tokenizer));
  }
  return ids.front();
}

MarkerIds marker_ids(const tokenizer::Tokenizer& tokenizer) {
  return {single_token(tokenizer, "</think>", "\"</think>\""),
          single_token(tokenizer, "\n\n", "\"\\n\\n\""),
          single_token(tokenizer, "<|im_start|>", "\"<|im_start|>\""),
          single_token(tokenizer, "user", "\"user\""),
          single_token(tokenizer, "<|im_end|>", "\"<|im_end|>\"")};
}

// _find_last_user_content_index: from the back, each "<|im_start|>" "user" pair in turn, until one
// has an "<|im_end|>" at or after its content (3 tokens on: the header's "\n" is one token).
bool find_query(const std::vector<int32_t>& ids, const MarkerIds& marks, StreamInput& input) {
  const auto n = static_cast<int64_t>(ids.size());
  for (int64_t i = n - 2; i >= 0; --i) {
    if (ids[i] != marks.im_start || ids[i + 1] != marks.user) continue;
    for (int64_t j = i + 3; j < n; ++j) {
      if (ids[j] == marks.im_end) {
        input.query_begin = i + 3;
        input.query_end = j;
        return true;
      }
    }
  }
  return false;
}

// The first i with ids[i - 1] == "</think>" and ids[i] == "\n\n"; labels start at i + 1.
int64_t find_response_begin(const std::vector<int32_t>& ids, const MarkerIds& marks) {
  for (size_t i = 1; i < ids.size(); ++i) {
    if (ids[i - 1] == marks.think_close && ids[i] == marks.blank_line) {
      return static_cast<int64_t>(i) + 1;
    }
  }
  return -1;
}

// Maps byte positions of the tokenizer's NFC-normalized text back to the rendered text. A code
// point NFC leaves unchanged in any context (kNfcStable) is a starter that blocks reordering, so
// the text is cut into runs: each such code point alone, except that one followed by code points
// NFC may change starts a run with them (they may compose with it). Each run is normalized on its
// own; a position inside a run that normalization changed maps to the run's start (as a begin) or
// end (as an end), so tokens sharing such a run each get all of it.
class NormalizedPositions {
 public:
  explicit NormalizedPositions(std::string_view text) {
    original_.push_back(0);
    normalized_.push_back(0);
    size_t run = 0;
    std::string buffer;
    const auto close_run = [&](size_t end) {
      if (end == run) return;
      const size_t length = tokenizer::unicode::nfc(text.substr(run, end - run), buffer).size();
      original_.push_back(end);
      normalized_.push_back(normalized_.back() + length);
      run = end;
    };
    for (size_t pos = 0; pos < text.size();) {
      const size_t start = pos;
      const char32_t cp = util::utf8::decode(text, pos);
      if (tokenizer::unicode::flags(cp) & tokenizer::unicode::kNfcStable) {
        close_run(start);
        close_run(pos);
      } else if (run == start && original_.size() > 1) {
        // Reopen the stable code point before: this one may compose with it.
        original_.pop_back();
        normalized_.pop_back();
        run = original_.back();
      }
    }
    close_run(text.size());
  }

  size_t begin(size_t normalized) const {
    const size_t k = last_at_or_before(normalized);
    return original_[k];
  }
  size_t end(size_t normalized) const {
    const size_t k = last_at_or_before(normalized);
    return normalized_[k] == normalized || k + 1 == original_.size() ? original_[k]
                                                                     : original_[k + 1];
  }

 private:
  size_t last_at_or_before(size_t normalized) const {
    const auto it = std::upper_bound(normalized_.begin(), normalized_.end(), normalized);
    return static_cast<size_t>(it - normalized_.begin()) - 1;
  }

  std::vector<size_t> original_;    // run boundaries in the rendered text
  std::vector<size_t> normalized_;  // the same boundaries in the normalized text
};

// Where the final assistant message's answer lies: in the rendered text (the template writes it
// right before the tool calls and "<|im_end|>\n" that end the text) and in Message::content.
struct AnswerPlace {
  size_t in_text = 0;
  size_t in_content = 0;
  size_t size = 0;
};

AnswerPlace answer_place(const std::string& text, const Message& last) {
  // As append_qwen3_assistant: content.split('</think>')[-1].lstrip('\n') when a think block is
  // written inline, then the answer is lstrip('\n') of that.
  std::string_view content = last.content;
  size_t after_split = 0;
  if (const size_t close = content.rfind(kThinkClose); close != std::string_view::npos) {
    after_split = close + kThinkClose.size();
    after_split = content.size() - lstrip_newlines(content.substr(after_split)).size();
  }
  const std::string_view split = content.substr(after_split);
  const std::string_view answer = lstrip_newlines(split);
  std::string tail;
  internal::append_tool_calls(tail, split, last.tool_calls);
  tail += "<|im_end|>\n";
  if (text.size() < tail.size() + answer.size() ||
      std::string_view(text).substr(text.size() - tail.size() - answer.size()) !=
          util::cat(answer, tail)) {
    throw std::logic_error("stream_input: the rendered text does not end with the final answer");
  }
  return {text.size() - tail.size() - answer.size(), content.size() - answer.size(), answer.size()};
}

std::vector<std::pair<int64_t, int64_t>> response_offsets(const tokenizer::Tokenizer& tokenizer,
                                                          const std::string& text,
                                                          const Message& last,
                                                          const StreamInput& input) {
  const AnswerPlace answer = answer_place(text, last);
  // Each token's [begin, end) in the normalized text the tokenizer read.
  std::vector<size_t> token_begin(input.ids.size() + 1, 0);
  std::string joined;
  for (size_t i = 0; i < input.ids.size(); ++i) {
    joined += tokenizer.token_bytes(input.ids[i]);
    token_begin[i + 1] = joined.size();
  }
  const bool same_text = joined == text;
  const NormalizedPositions positions(same_text ? std::string_view() : std::string_view(text));
  const auto to_text = [&](size_t normalized, bool is_end) {
    if (same_text) return normalized;
    return is_end ? positions.end(normalized) : positions.begin(normalized);
  };
  // A token's bytes clipped to the answer, as offsets into Message::content.
  const auto to_content = [&](size_t in_text) {
    const size_t clipped = std::clamp(in_text, answer.in_text, answer.in_text + answer.size);
    return static_cast<int64_t>(clipped - answer.in_text + answer.in_content);
  };
  std::vector<std::pair<int64_t, int64_t>> offsets;
  for (size_t i = static_cast<size_t>(input.response_begin); i < input.ids.size(); ++i) {
    const size_t begin = to_text(token_begin[i], false);
    const size_t end = to_text(token_begin[i + 1], true);
    if (begin >= answer.in_text + answer.size) {
      offsets.emplace_back(static_cast<int64_t>(last.content.size()),
                           static_cast<int64_t>(last.content.size()));
    } else if (end <= answer.in_text) {
      offsets.emplace_back(0, 0);
    } else {
      offsets.emplace_back(to_content(begin), to_content(end));
    }
  }
  return offsets;
}

}  // namespace

void check_stream_tokenizer(const tokenizer::Tokenizer& tokenizer) {
  marker_ids(tokenizer);
}

StreamInput stream_input(const tokenizer::Tokenizer& tokenizer,
                         const std::vector<Message>& conversation, ToolTurns tool_turns) {
  const MarkerIds marks = marker_ids(tokenizer);
  RenderOptions options;
  options.add_generation_prompt = false;
  options.enable_thinking = false;
  options.tool_turns = tool_turns;
  const std::string text = render(ChatFormat::kQwen3, conversation, options);
  // The tokenizer would repair invalid bytes, and the response offsets could not point at them.
  if (!util::utf8::is_valid(text)) {
    throw util::InputError("the conversation is not valid UTF-8; send its text as UTF-8");
  }

  StreamInput input;
  input.ids = tokenizer.encode(text);
  if (!find_query(input.ids, marks, input)) {
    throw util::InputError(
        "the conversation has no user turn: the Stream guard reads its query verdict at the last "
        "user turn's <|im_end|>; add the user message the response answers");
  }
  if (conversation.back().role != "assistant") return input;  // prompt only

  input.response_begin = find_response_begin(input.ids, marks);
  if (input.response_begin < 0) {
    throw util::InputError(
        "the rendered conversation has no \"</think>\" token followed by a \"\\n\\n\" token, "
        "where the Stream guard's response labels start (eval_stream.py asserts one): Qwen3's "
        "template writes the final assistant turn's think block only after a user query, and "
        "a user message wrapped in <tool_response> tags is not one");
  }
  input.response_offsets = response_offsets(tokenizer, text, conversation.back(), input);
  return input;
}

}  // namespace safrl::chat
