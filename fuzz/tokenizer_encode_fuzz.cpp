// libFuzzer target: arbitrary bytes through the real Qwen3 tokenizer's encode and decode.
//
// The tokenizer directory comes from SAFRL_TOKENIZER_DIR, by default the one scripts/setup.sh
// installs next to this source tree. Checks, beyond not crashing: every id is a token, decode
// gives valid UTF-8, and re-encoding the decoded text gives the same ids (decode(encode(x)) is the
// normalized, repaired x, which encodes the same way).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "util/utf8.h"

namespace {

const safrl::tokenizer::Tokenizer& tokenizer() {
  static const std::shared_ptr<const safrl::tokenizer::Tokenizer> instance = [] {
    const char* dir = std::getenv("SAFRL_TOKENIZER_DIR");
    return safrl::tokenizer::Tokenizer::load(dir != nullptr ? dir : SAFRL_TOKENIZER_DIR);
  }();
  return *instance;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "tokenizer_encode_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::vector<int32_t> ids = tokenizer().encode(input);
  for (const int32_t id : ids) {
    if (id < 0 || id >= tokenizer().vocab_size())
      fail("encode produced an id outside the vocabulary");
  }
  const std::string text = tokenizer().decode(ids, false);
  if (!safrl::util::utf8::is_valid(text)) fail("decode produced invalid UTF-8");
  if (tokenizer().encode(text) != ids) fail("encode(decode(encode(x))) != encode(x)");
  if (!safrl::util::utf8::is_valid(tokenizer().decode(ids, true))) {
    fail("decode without special tokens produced invalid UTF-8");
  }
  return 0;
}
