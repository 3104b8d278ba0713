// Feeds arbitrary bytes to the safetensors header parser. Any input must either parse or throw
// LoadError; a crash, sanitizer report or other exception is a bug.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "io/safetensors.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string kPath = "fuzz-input.safetensors";
  try {
    std::map<std::string, std::string> metadata;
    const auto tensors = safrl::io::parse_safetensors(data, size, kPath, &metadata);
    // Touch every byte the views claim, so a view past the buffer shows up under ASan.
    uint8_t sum = 0;
    for (const auto& tensor : tensors) {
      for (size_t i = 0; i < tensor.nbytes; ++i) sum ^= tensor.data[i];
    }
    volatile uint8_t sink = sum;
    (void)sink;
  } catch (const safrl::util::LoadError&) {
  }
  return 0;
}
