#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "tokenizer/byte_level.h"
#include "tokenizer/config.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"
#include "util/error.h"
#include "util/utf8.h"

namespace safrl::tokenizer {
namespace {

// What Hugging Face's ByteLevel decoder emits for one token: the bytes its characters stand
// for, or the token's own UTF-8 when any character is outside the byte alphabet.
std::string decoded_bytes(std::string_view token) {
  std::string bytes;
  size_t pos = 0;
  while (pos < token.size()) {
    const int byte = byte_level::byte_of_char(util::utf8::decode(token, pos));
    if (byte < 0) return std::string(token);
    bytes.push_back(static_cast<char>(byte));
  }
  return bytes;
}

// The positions of BpeModel's heap are 32-bit.
constexpr size_t kMaxTextBytes = INT32_MAX;

}  // namespace

// Working buffers of one encode() call.
struct Tokenizer::EncodeState {
  std::string normalized;
  std::vector<Segment> segments;
  std::vector<SplitChar> chars;
  std::vector<std::string_view> pieces;
  BpeScratch bpe;
};

std::shared_ptr<const Tokenizer> Tokenizer::load(const std::string& dir) {
  return std::shared_ptr<const Tokenizer>(new Tokenizer(read_tokenizer_spec(dir)));
}

Tokenizer::Tokenizer(TokenizerSpec spec)
    : nfc_(spec.nfc),
      bpe_(spec.vocab, spec.merges, spec.ignore_merges),
      added_(spec.added_tokens, spec.split_special_tokens, spec.nfc) {
  int32_t max_id = -1;
  for (const auto& [text, id] : spec.vocab) max_id = std::max(max_id, id);
  for (const AddedToken& added : spec.added_tokens) max_id = std::max(max_id, added.id);
  // Ids are dense in every real tokenizer; a stray huge id would make this table enormous.
  const size_t count = spec.vocab.size() + spec.added_tokens.size();
  if (static_cast<size_t>(max_id) >= 2 * count + 1024) {
    throw util::LoadError(util::cat("tokenizer.json has token id ", max_id, " but only ", count,
                                    " tokens; ids must be dense"));
  }
  tokens_.resize(static_cast<size_t>(max_id) + 1);
  for (const auto& [text, id] : spec.vocab) tokens_[id] = {text, decoded_bytes(text), Kind::kModel};
  for (const AddedToken& added : spec.added_tokens) {
    // Hugging Face decodes a normalized added token from its normalized form.
    std::string buffer;
    const std::string_view form =
        added.normalized && nfc_ ? unicode::nfc(added.content, buffer) : added.content;
    tokens_[added.id] = {added.content, decoded_bytes(form),
                         added.special ? Kind::kSpecial : Kind::kAdded};
  }
  ids_ = std::move(spec.vocab);
  for (const AddedToken& added : spec.added_tokens) ids_[added.content] = added.id;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  if (text.size() > kMaxTextBytes) {
    throw util::InputError(util::cat("a text of ", text.size(),
                                     " bytes is longer than the 2 GiB the tokenizer accepts"));
  }
  std::string repaired;
  if (!util::utf8::is_valid(text)) {
    repaired = util::utf8::repair(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  EncodeState state;
  std::vector<Segment> raw_segments;
  added_.split_raw(text, raw_segments);
  for (const Segment& segment : raw_segments) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
    } else {
      encode_plain(segment.text, state, ids);
    }
  }
  return ids;
}

// Text between added tokens: normalizer, then the normalized added tokens, then pre-tokenizer
// and BPE on what is left.
void Tokenizer::encode_plain(std::string_view text, EncodeState& state,
                             std::vector<int32_t>& ids) const {
  const std::string_view normalized = nfc_ ? unicode::nfc(text, state.normalized) : text;
  state.segments.clear();
  if (added_.has_normalized_tokens()) {
    added_.split_normalized(normalized, state.segments);
  } else {
    state.segments.push_back({normalized, -1});
  }
  for (const Segment& segment : state.segments) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
      continue;
    }
    split_qwen2(segment.text, state.chars, state.pieces);
    for (const std::string_view piece : state.pieces) bpe_.encode(piece, state.bpe, ids);
  }
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  for (const int32_t id : ids) {
    const TokenInfo& info = token(id);
    if (skip_special_tokens && info.kind == Kind::kSpecial) continue;
    bytes += info.bytes;
  }
  return util::utf8::is_valid(bytes) ? bytes : util::utf8::repair(bytes);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  const auto it = ids_.find(std::string(token));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  return token(id).text;
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && tokens_[id].kind == Kind::kSpecial;
}

const Tokenizer::TokenInfo& Tokenizer::token(int32_t id) const {
  if (id < 0 || id >= vocab_size() || tokens_[id].kind == Kind::kNone) {
    throw util::InputError(util::cat(
        "token id ", id, " is not a token of this vocabulary (ids are 0..", vocab_size() - 1, ")"));
  }
  return tokens_[id];
}

}  // namespace safrl::tokenizer
