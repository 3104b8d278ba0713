// Helpers shared by the io tests: a scratch directory and LoadError message capture.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "util/error.h"

namespace safrl::testing {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "safrl-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const {
    return (std::filesystem::path(path_) / name).string();
  }

 private:
  std::string path_;
};

// The message of the LoadError that `fn` throws; records a test failure when it throws none.
template <typename Fn>
std::string load_error(Fn&& fn) {
  try {
    fn();
  } catch (const util::LoadError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a LoadError, none was thrown";
  return "";
}

// Passes when `message` contains every one of `parts`; the failure shows the whole message.
inline ::testing::AssertionResult contains_all(const std::string& message,
                                               std::initializer_list<std::string_view> parts) {
  for (std::string_view part : parts) {
    if (message.find(part) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message \"" << message << "\" lacks \"" << part << "\"";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace safrl::testing
