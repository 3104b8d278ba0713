// util::MappedFile and util::drop_pages: dropped pages leave the resident set and read back the
// same bytes; the process-memory reading that benchmarks and /metrics use moves with them; and
// util::keep_freed_memory_for_reuse keeps a freed large block resident.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "util/mapped_file.h"
#include "util/process_memory.h"

namespace safrl::util {
namespace {

// Named after the running test: CTest runs each test as its own process, in parallel, and a
// shared name let one test remove the other's file.
std::string write_pattern_file(size_t bytes) {
  const std::string path = ::testing::TempDir() + "/mapped_file_test_" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".bin";
  std::vector<char> data(bytes);
  for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<char>((i * 131) % 251);
  std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(bytes));
  return path;
}

TEST(DropPages, PagesLeaveTheResidentSetAndReadBackTheSameBytes) {
  constexpr size_t kBytes = size_t{64} << 20;
  const std::string path = write_pattern_file(kBytes);
  MappedFile file(path);
  ASSERT_EQ(file.size(), kBytes);
  uint64_t sum = 0;
  for (size_t i = 0; i < kBytes; i += 512) sum += file.data()[i];  // fault every page in
  const int64_t touched = process_memory().resident_bytes;
  drop_pages(file.data() + 1, kBytes - 1);  // unaligned start: the first page stays
  const int64_t dropped = process_memory().resident_bytes;
  EXPECT_GT(touched - dropped, int64_t{48} << 20) << "resident " << touched << " -> " << dropped;
  for (size_t i = 0; i < kBytes; i += 4093) {
    ASSERT_EQ(file.data()[i], static_cast<uint8_t>((i * 131) % 251)) << "byte " << i;
  }
  EXPECT_GT(sum, 0u);
  std::remove(path.c_str());
}

TEST(DropPages, ARangeInsideOnePageIsLeftAlone) {
  const std::string path = write_pattern_file(10000);
  MappedFile file(path);
  drop_pages(file.data() + 10, 100);
  drop_pages(file.data(), 0);
  EXPECT_EQ(file.data()[50], static_cast<uint8_t>((50 * 131) % 251));
  std::remove(path.c_str());
}

TEST(KeepFreedMemoryForReuse, AFreedLargeBlockStaysResident) {
  keep_freed_memory_for_reuse();
  constexpr size_t kBytes = size_t{24} << 20;  // under glibc's 32 MiB ceiling
  auto* block = static_cast<char*>(std::malloc(kBytes));
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kBytes);
  asm volatile("" : : "g"(block) : "memory");  // the block escapes: no eliding malloc and free
  const int64_t in_use = process_memory().resident_bytes;
  std::free(block);
  // glibc's default would have mapped the block apart and unmapped it on free (24 MiB less).
  EXPECT_GT(process_memory().resident_bytes, in_use - (int64_t{8} << 20));
}

}  // namespace
}  // namespace safrl::util
