// The step logs' files on a disk that stops taking bytes: the failure is injected with
// RLIMIT_FSIZE (a write past it fails with EFBIG, part written first, as a full disk does), so
// the test needs no root and no mount.
#include "serve/row_files.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace safrl::serve {
namespace {

// POSIX calls, not std::filesystem: LibTorch, linked in, exports an incompatible copy of it.
std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// While alive, this process cannot write files past `bytes`.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    previous_ = std::signal(SIGXFSZ, SIG_IGN);
    set(bytes);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_);
  }
  void set(rlim_t bytes) {
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  void lift() { setrlimit(RLIMIT_FSIZE, &saved_); }

 private:
  rlimit saved_{};
  void (*previous_)(int) = nullptr;
};

class RowFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/safrl_row_files_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    jsonl_ = dir_ + "/a.jsonl";
    csv_ = dir_ + "/a.csv";
  }
  void TearDown() override {
    ::unlink(jsonl_.c_str());
    ::unlink(csv_.c_str());
    ::rmdir(dir_.c_str());
  }
  static size_t size_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
  }
  std::string dir_, jsonl_, csv_;
};

TEST_F(RowFilesTest, HeldRowsAreWrittenOnceInBothFilesWhenSpaceReturns) {
  RowFiles rows(jsonl_, csv_, "step,x", 100);
  rows.append(R"({"step":1})", "1,x");
  // The next rows find room for a few bytes only: the part that reached a file is cut back.
  FileSizeLimit limit(size_of(jsonl_) + 4);
  rows.append(R"({"step":2})", "2,x");
  rows.append(R"({"step":3})", "3,x");
  EXPECT_EQ(rows.held(), 2u);
  EXPECT_EQ(rows.error(), "File too large");
  EXPECT_GE(rows.failures(), 2);
  EXPECT_EQ(read(jsonl_), "{\"step\":1}\n");
  EXPECT_EQ(read(csv_), "step,x\n1,x\n");
  rows.retry_now();  // still no room: nothing changes
  EXPECT_EQ(rows.held(), 2u);
  EXPECT_EQ(read(jsonl_), "{\"step\":1}\n");

  limit.lift();
  rows.retry_now();
  EXPECT_EQ(rows.held(), 0u);
  EXPECT_EQ(rows.error(), "");
  EXPECT_EQ(rows.dropped(), 0);
  EXPECT_EQ(read(jsonl_), "{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n");
  EXPECT_EQ(read(csv_), "step,x\n1,x\n2,x\n3,x\n");
  rows.append(R"({"step":4})", "4,x");
  EXPECT_EQ(read(csv_), "step,x\n1,x\n2,x\n3,x\n4,x\n");
}

TEST_F(RowFilesTest, ACsvRowThatFailsTakesItsJsonLineBackOut) {
  RowFiles rows(jsonl_, csv_, "step,x", 100);
  // Room for the JSON line, not for the CSV file's header and row.
  FileSizeLimit limit(16);
  rows.append(R"({"step":1})", "1,a-long-csv-row");
  EXPECT_EQ(rows.held(), 1u);
  EXPECT_EQ(read(jsonl_), "");
  limit.lift();
  rows.append(R"({"step":2})", "2,x");
  EXPECT_EQ(read(jsonl_), "{\"step\":1}\n{\"step\":2}\n");
  EXPECT_EQ(read(csv_), "step,x\n1,a-long-csv-row\n2,x\n");
}

TEST_F(RowFilesTest, PastTheBoundTheOldestRowsAreKeptAndTheRestCounted) {
  FileSizeLimit limit(0);  // not even the CSV header fits
  RowFiles rows(jsonl_, csv_, "step,x", 2);
  EXPECT_EQ(rows.error(), "File too large");
  for (int step = 1; step <= 5; ++step) {
    rows.append("{\"step\":" + std::to_string(step) + "}", std::to_string(step) + ",x");
  }
  EXPECT_EQ(rows.held(), 2u);
  EXPECT_EQ(rows.dropped(), 3);
  limit.lift();
  rows.retry(RowFiles::Clock::now());
  EXPECT_EQ(rows.held(), 0u);
  EXPECT_EQ(read(jsonl_), "{\"step\":1}\n{\"step\":2}\n");
  EXPECT_EQ(read(csv_), "step,x\n1,x\n2,x\n");
}

}  // namespace
}  // namespace safrl::serve
