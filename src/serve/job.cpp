#include "serve/job.h"

#include <algorithm>

namespace safrl::serve {

int64_t Job::admitted_samples() const {
  return std::max<int64_t>(1, static_cast<int64_t>(request.samples.size()));
}

bool JobQueue::push(Job& job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return false;
    jobs_.push_back(std::move(job));
  }
  ready_.notify_one();
  return true;
}

std::vector<Job> JobQueue::take(int64_t max_samples) {
  std::unique_lock<std::mutex> lock(mutex_);
  ready_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
  std::vector<Job> out;
  int64_t samples = 0;
  while (!jobs_.empty() &&
         (out.empty() ||
          samples + static_cast<int64_t>(jobs_.front().request.samples.size()) <= max_samples)) {
    samples += static_cast<int64_t>(jobs_.front().request.samples.size());
    out.push_back(std::move(jobs_.front()));
    jobs_.pop_front();
  }
  return out;
}

void JobQueue::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
  }
  ready_.notify_all();
}

}  // namespace safrl::serve
