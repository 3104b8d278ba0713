// Reading a Hugging Face tokenizer directory (tokenizer.json, optional tokenizer_config.json) into
// the plain description the Tokenizer is built from, with every setting checked.
//
// Supported, and nothing else (anything else throws util::LoadError naming the component, what it
// says and what is supported, never approximated):
//   normalizer      NFC, or null
//   pre_tokenizer   Sequence[Split(Regex = the Qwen2 pattern, behavior Isolated, invert false),
//                   ByteLevel(add_prefix_space false, use_regex false)]
//   model           BPE with all 256 byte tokens; merges as "a b" strings or ["a", "b"] pairs;
//                   dropout null or 0, byte_fallback false, no subword prefix or word suffix,
//                   ignore_merges either way
//   post_processor  ByteLevel (offsets only) or null: nothing is added around the text
//   decoder         ByteLevel
//   added_tokens    with single_word / lstrip / rstrip / normalized / special
//   truncation, padding: null
// tokenizer_config.json, when present, must agree with tokenizer.json (its added_tokens_decoder
// and special-token names) and may set split_special_tokens; settings that would change ids or
// text in transformers (add_bos_token, add_prefix_space, clean_up_tokenization_spaces, errors
// other than "replace", an unknown tokenizer_class or key) are refused.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/added_vocabulary.h"

namespace safrl::tokenizer {

struct TokenizerSpec {
  bool nfc = false;                                         // normalizer is NFC (else none)
  std::unordered_map<std::string, int32_t> vocab;           // model.vocab
  std::vector<std::pair<std::string, std::string>> merges;  // model.merges, by rank
  bool ignore_merges = false;                               // model.ignore_merges
  std::vector<AddedToken> added_tokens;                     // added_tokens, file order
  bool split_special_tokens = false;                        // tokenizer_config.json
};

// Reads and checks `dir`/tokenizer.json and, when present, `dir`/tokenizer_config.json.
TokenizerSpec read_tokenizer_spec(const std::string& dir);

}  // namespace safrl::tokenizer
