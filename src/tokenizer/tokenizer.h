// safrl::tokenizer::Tokenizer: a Hugging Face byte-level BPE tokenizer (the Qwen2 / Qwen3 family)
// loaded from tokenizer.json, giving exactly the ids Hugging Face tokenizers gives.
//
// Contract:
//   - load() reads `dir`/tokenizer.json and, when present, `dir`/tokenizer_config.json. A
//     component or option it does not implement throws util::LoadError saying which and what is
//     supported (config.h lists what is); nothing is approximated.
//   - encode(text) is Hugging Face's encode(text, add_special_tokens=False), which for Qwen equals
//     add_special_tokens=True (nothing is added around the text): added tokens written in the
//     text (<|im_start|>, <think>, ...) become their ids; the rest goes through NFC, the Qwen2
//     pre-tokenizer and BPE. Text that is not valid UTF-8 is repaired first: each maximal
//     invalid subpart becomes U+FFFD (as Python's errors='replace'), so every input encodes.
//   - decode(ids, skip_special_tokens) is Hugging Face's decode: tokens back to bytes through
//     the ByteLevel alphabet, invalid UTF-8 in the result replaced by U+FFFD (as Rust's
//     String::from_utf8_lossy). Skipping drops tokens marked special (<|im_end|>), not other added
//     tokens (<think>). An id that is not a token throws util::InputError.
//   - The object is immutable after load; share it freely across threads (every method is const
//     and keeps its working state on the stack).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe.h"

namespace safrl::tokenizer {

struct TokenizerSpec;

class Tokenizer {
 public:
  // Loads the tokenizer in `dir`; throws util::LoadError.
  static std::shared_ptr<const Tokenizer> load(const std::string& dir);

  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  std::vector<int32_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const;

  // The id of a token string as the vocabulary spells it ("Ġworld", "<|im_end|>").
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The token string of `id`; throws util::InputError when `id` is not a token.
  std::string id_to_token(int32_t id) const;
  // The bytes decode() emits for `id` before its UTF-8 repair (the ByteLevel alphabet undone), so
  // a token holding part of a multi-byte character has exactly its bytes; throws like
  // id_to_token.
  std::string_view token_bytes(int32_t id) const { return token(id).bytes; }
  // Largest id + 1, added tokens included (151669 for Qwen3; the model's embedding may be larger).
  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  // Whether `id` is an added token marked special; false for any other id.
  bool is_special(int32_t id) const;

 private:
  enum class Kind : uint8_t { kNone, kModel, kAdded, kSpecial };
  struct TokenInfo {
    std::string text;   // the token as the vocabulary spells it
    std::string bytes;  // what decode() emits for it, before the UTF-8 repair
    Kind kind = Kind::kNone;
  };

  struct EncodeState;

  explicit Tokenizer(TokenizerSpec spec);
  const TokenInfo& token(int32_t id) const;
  void encode_plain(std::string_view text, EncodeState& state, std::vector<int32_t>& ids) const;

  bool nfc_;
  BpeModel bpe_;
  AddedVocabulary added_;
  std::vector<TokenInfo> tokens_;  // by id
  std::unordered_map<std::string, int32_t> ids_;
};

}  // namespace safrl::tokenizer
