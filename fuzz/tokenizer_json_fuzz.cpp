// Feeds arbitrary bytes to the tokenizer loader as a tokenizer directory: the input up to its
// first NUL byte is tokenizer.json, the rest (when there is a NUL) tokenizer_config.json. JSON text
// never holds a raw NUL, so the split loses nothing. Any input must either load or throw LoadError;
// a tokenizer that loads must encode and decode a fixed text within its vocabulary. A crash,
// sanitizer report or other exception is a bug.
//
// The loader reads a directory (tokenizer/config.h has no entry point for JSON text), so each input
// is written to a private folder under $TMPDIR (default /tmp; a tmpfs such as /dev/shm is faster).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/utf8.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "tokenizer_json_fuzz: %s\n", what);
  std::abort();
}

void remove_work_dir();

const std::string& work_dir() {
  // Never destroyed, so remove_work_dir can still use it at exit.
  static const std::string* const dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/safrl-fuzz-tokenizer-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data()) == nullptr) fail("cannot create a temporary directory");
    std::atexit(remove_work_dir);
    return new std::string(buffer.data());
  }();
  return *dir;
}

// Leaves nothing behind when the run ends normally (a crash keeps the folder, with its input).
void remove_work_dir() {
  const std::string& dir = work_dir();
  unlink((dir + "/tokenizer.json").c_str());
  unlink((dir + "/tokenizer_config.json").c_str());
  rmdir(dir.c_str());
}

void write_file(const std::string& path, const char* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data, static_cast<std::streamsize>(size));
  if (!out) fail("cannot write the input file");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* bytes = reinterpret_cast<const char*>(data);
  const void* nul = std::memchr(bytes, '\0', size);
  const size_t json_size = nul != nullptr ? static_cast<const char*>(nul) - bytes : size;
  const std::string& dir = work_dir();
  const std::string config_path = dir + "/tokenizer_config.json";
  write_file(dir + "/tokenizer.json", bytes, json_size);
  if (nul != nullptr) {
    write_file(config_path, bytes + json_size + 1, size - json_size - 1);
  } else {
    unlink(config_path.c_str());
  }

  std::shared_ptr<const safrl::tokenizer::Tokenizer> tokenizer;
  try {
    tokenizer = safrl::tokenizer::Tokenizer::load(dir);
  } catch (const safrl::util::LoadError&) {
    return 0;
  }
  // A text with added tokens, plain words, digits, spaces, newlines, non-ASCII and invalid UTF-8.
  static const std::string kText =
      "<|im_start|>user\nHe said 'the thé' 12 times\t\xff<|im_end|>\n<think>  x</think>";
  const std::vector<int32_t> ids = tokenizer->encode(kText);
  for (const int32_t id : ids) {
    if (id < 0 || id >= tokenizer->vocab_size())
      fail("encode produced an id outside the vocabulary");
  }
  for (const bool skip : {false, true}) {
    if (!safrl::util::utf8::is_valid(tokenizer->decode(ids, skip)))
      fail("decode produced invalid UTF-8");
  }
  return 0;
}
