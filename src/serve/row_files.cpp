#include "serve/row_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "util/error.h"
#include "util/log.h"

namespace safrl::serve {
namespace {

// A full disk is asked again this often, not on every row.
constexpr auto kRetryInterval = std::chrono::seconds(1);

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) {
      errno = EIO;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

off_t size_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_size : -1;
}

}  // namespace

RowFiles::RowFiles(const std::string& jsonl_path, const std::string& csv_path,
                   const std::string& csv_header, size_t max_held)
    : jsonl_path_(jsonl_path), max_held_(max_held) {
  auto open = [](const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      throw util::LoadError(util::cat("cannot open ", path, " for appending: ",
                                      std::strerror(errno), "; give a writable --run-dir"));
    }
    return fd;
  };
  jsonl_fd_ = open(jsonl_path);
  try {
    csv_fd_ = open(csv_path);
  } catch (...) {
    ::close(jsonl_fd_);
    throw;
  }
  if (size_of(csv_fd_) == 0) {
    csv_header_ = csv_header + '\n';
    if (write_all(csv_fd_, csv_header_)) {
      csv_header_.clear();
    } else {
      const int error = errno;
      ::ftruncate(csv_fd_, 0);
      failed(error);
    }
  }
}

RowFiles::~RowFiles() {
  ::close(jsonl_fd_);
  ::close(csv_fd_);
}

bool RowFiles::write_row(const std::string& jsonl_line, const std::string& csv_line) {
  const off_t jsonl_size = size_of(jsonl_fd_);
  const off_t csv_size = size_of(csv_fd_);
  if (jsonl_size < 0 || csv_size < 0) {
    errno_ = errno;
    return false;
  }
  // What reached a file of a row that failed is cut back out, so a retry writes it whole once.
  if (!write_all(jsonl_fd_, jsonl_line)) {
    errno_ = errno;
    ::ftruncate(jsonl_fd_, jsonl_size);
    return false;
  }
  if (!write_all(csv_fd_, csv_header_ + csv_line)) {
    errno_ = errno;
    ::ftruncate(csv_fd_, csv_size);
    ::ftruncate(jsonl_fd_, jsonl_size);
    return false;
  }
  csv_header_.clear();
  return true;
}

bool RowFiles::write_held() {
  size_t written = 0;
  while (!held_.empty()) {
    if (!write_row(held_.front().first, held_.front().second)) {
      failed(errno_);
      return false;
    }
    held_.pop_front();
    ++written;
  }
  if (!error_.empty()) {
    util::log_info(
        "steps", util::cat("the step logs next to ", jsonl_path_, " are written again; ", written,
                           " held row(s) written, ", dropped_, " dropped while they could not be"));
    error_.clear();
    logged_errno_ = 0;
    logged_drop_ = false;
  }
  return true;
}

void RowFiles::append(std::string jsonl_line, std::string csv_line) {
  // Past the bound the oldest held rows are kept: a reader misses those first.
  if (held_.size() >= max_held_ && !write_held()) {
    ++dropped_;
    if (!logged_drop_) {
      logged_drop_ = true;
      util::log_error("steps", util::cat(max_held_,
                                         " step rows are held in memory and the step logs still "
                                         "cannot be written; further rows are dropped (counted "
                                         "in safrl_step_rows_dropped_total)"));
    }
    return;
  }
  held_.emplace_back(std::move(jsonl_line) + '\n', std::move(csv_line) + '\n');
  write_held();
}

void RowFiles::retry(Clock::time_point now) {
  if (held_.empty() && csv_header_.empty()) return;
  if (now < next_retry_) return;
  next_retry_ = now + kRetryInterval;
  retry_now();
}

void RowFiles::retry_now() {
  if (held_.empty() && !csv_header_.empty()) {
    // Only the CSV header is owed: write it alone.
    const off_t csv_size = size_of(csv_fd_);
    if (csv_size >= 0 && write_all(csv_fd_, csv_header_)) {
      csv_header_.clear();
    } else {
      const int error = errno;
      if (csv_size >= 0) ::ftruncate(csv_fd_, csv_size);
      failed(error);
      return;
    }
  }
  write_held();
}

void RowFiles::failed(int error) {
  ++failures_;
  error_ = std::strerror(error);
  if (error == logged_errno_) return;
  logged_errno_ = error;
  util::log_error("steps",
                  util::cat("cannot write the step logs next to ", jsonl_path_, " (", error_,
                            "); rewards are still sent, and step rows are held in "
                            "memory (up to ",
                            max_held_, ") and written once the run directory takes them again"));
}

}  // namespace safrl::serve
