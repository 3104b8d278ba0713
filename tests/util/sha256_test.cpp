#include "util/sha256.h"

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "support/test_support.h"
#include "util/error.h"

namespace safrl::util {
namespace {

// FIPS 180-4 example vectors, so the digests the chat tests compare against and the ones
// `safrl score` records are trustworthy.
TEST(Sha256, MatchesStandardVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Pieces of every size across the 64-byte block boundaries hash as the whole does.
TEST(Sha256, IncrementalUpdatesEqualOneUpdate) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += static_cast<char>('a' + i % 26);
  for (size_t piece : {1, 7, 63, 64, 65, 200}) {
    Sha256 hash;
    for (size_t at = 0; at < text.size(); at += piece) hash.update(text.substr(at, piece));
    EXPECT_EQ(hash.hex_digest(), sha256_hex(text)) << "pieces of " << piece;
  }
}

TEST(Sha256, FilesHashAsTheirBytes) {
  testing::TempDir dir;
  const std::string path = dir.file("data.bin");
  std::ofstream(path, std::ios::binary) << std::string(1000000, 'a');
  EXPECT_EQ(sha256_file_hex(path),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  try {
    sha256_file_hex(dir.file("absent"));
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot read " + dir.file("absent") + " to hash it");
  }
}

}  // namespace
}  // namespace safrl::util
