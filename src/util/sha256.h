// SHA-256 (FIPS 180-4) as 64 lowercase hex digits, the form `sha256sum` prints: what `safrl score`
// records of its input and config (so a resumed run can tell it is continuing the same work), and
// what the tests check rendered text against. Incremental, so a large file needs no copy in
// memory. Not thread-safe; one Sha256 per stream.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace safrl::util {

class Sha256 {
 public:
  Sha256();
  void update(std::string_view data);
  // The digest of everything given to update; the object is spent afterwards.
  std::string hex_digest();

 private:
  void compress(const unsigned char* block);

  std::array<uint32_t, 8> state_;
  std::string pending_;  // the bytes of an incomplete 64-byte block
  uint64_t length_ = 0;  // bytes given so far
};

std::string sha256_hex(std::string_view data);

// The digest of the file at `path`; throws util::Error when it cannot be read.
std::string sha256_file_hex(const std::string& path);

}  // namespace safrl::util
