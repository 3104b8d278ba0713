#include "cli/score_output.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "cli/json_lines.h"
#include "util/error.h"

namespace safrl::cli {

EarlierOutput read_earlier_output(const std::string& path) {
  EarlierOutput earlier;
  std::ifstream in(path, std::ios::binary);
  if (!in) return earlier;
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t last_newline = content.rfind('\n');
  earlier.complete_bytes = last_newline == std::string::npos ? 0 : last_newline + 1;
  earlier.torn_bytes = content.size() - earlier.complete_bytes;
  // A scored line holds its input's meta and a few dozen values more.
  LineLimits limits;
  limits.max_values *= 2;
  size_t start = 0, number = 1;
  for (size_t end; start < earlier.complete_bytes; start = end + 1, ++number) {
    end = content.find('\n', start);
    try {
      earlier.lines.push_back(
          parse_json_line({number, content.substr(start, end - start), 0}, limits));
    } catch (const util::InputError& e) {
      throw util::Error(util::cat(path, " line ", number, " is not a scored sample (", e.what(),
                                  "); this file was not written by safrl score. Move it away or "
                                  "give another --output"));
    }
  }
  return earlier;
}

void cut_torn_line(const std::string& path, const EarlierOutput& earlier) {
  if (::truncate(path.c_str(), static_cast<off_t>(earlier.complete_bytes)) != 0) {
    throw util::Error(util::cat("cannot truncate the torn last line of ", path));
  }
}

DurableAppender::DurableAppender(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw util::Error(util::cat("cannot open ", path, " for writing"));
}

DurableAppender::~DurableAppender() {
  ::close(fd_);
}

void DurableAppender::append(const std::string& text) {
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd_, text.data() + written, text.size() - written);
    if (n < 0) throw util::Error(util::cat("cannot write to ", path_));
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd_) != 0) throw util::Error(util::cat("cannot sync ", path_));
}

}  // namespace safrl::cli
