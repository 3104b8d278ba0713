// The output file of `safrl score` as a durable log of scored lines: what earlier runs left in it
// (whole lines, and the torn end of a write a crash interrupted), and appending whole lines that
// are on disk before the append returns. Together they make a run resumable: a rerun reads the
// lines already written, cuts the torn end off, and appends only what is missing.
//
// Knows nothing of scoring: the lines are any JSON objects (cli/json_lines.h bounds their size).
// Not thread-safe; one process writes one output.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace safrl::cli {

// What an earlier run wrote to the output file.
struct EarlierOutput {
  std::vector<nlohmann::json> lines;
  size_t complete_bytes = 0;  // up to the end of the last whole line
  size_t torn_bytes = 0;      // after it: an interrupted write
};

// The file's whole lines, parsed; a missing file is an empty output. Throws util::Error naming
// the line when one is not JSON: the file was not written by safrl score.
EarlierOutput read_earlier_output(const std::string& path);

// Cuts the file at earlier.complete_bytes, dropping its torn end. Throws util::Error when it
// cannot.
void cut_torn_line(const std::string& path, const EarlierOutput& earlier);

// Appends whole lines to a file and makes them durable (fsync) before returning, so a crash
// loses at most the append in progress, which read_earlier_output then sees as torn.
class DurableAppender {
 public:
  // Opens the file for appending, creating it when missing. Throws util::Error when it cannot.
  explicit DurableAppender(const std::string& path);
  ~DurableAppender();
  DurableAppender(const DurableAppender&) = delete;
  DurableAppender& operator=(const DurableAppender&) = delete;

  // Throws util::Error when the bytes cannot be written or synced.
  void append(const std::string& text);

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace safrl::cli
