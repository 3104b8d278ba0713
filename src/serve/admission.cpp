#include "serve/admission.h"

#include <algorithm>

#include "util/error.h"

namespace safrl::serve {

Refusal shutting_down() {
  return {ErrorCode::kShuttingDown,
          "the server is shutting down; retry on another endpoint or later", 1000};
}

Admission::Admission(int64_t max_samples, Metrics& metrics)
    : max_samples_(max_samples), metrics_(metrics) {}

int64_t Admission::retry_after_ms(int64_t samples_to_drain) const {
  // Room for the request frees up once that many queued samples are scored: at the engine's
  // measured rate, that long (before any pass was measured, a guess that grows with the queue).
  const double rate = metrics_.scoring_rate.load();
  const double ms = rate > 0 ? 1000.0 * static_cast<double>(samples_to_drain) / rate
                             : 50.0 + static_cast<double>(samples_);
  return std::clamp<int64_t>(static_cast<int64_t>(ms), 50, 30000);
}

std::optional<Refusal> Admission::decide(int64_t samples) {
  if (stopped_) return shutting_down();
  if (samples > max_samples_) {
    return Refusal{
        ErrorCode::kBadRequest,
        util::cat("the request has ", samples, " samples, more than the server holds at once (",
                  max_samples_, "); split it into smaller requests"),
        std::nullopt};
  }
  if (samples_ + samples > max_samples_) {
    return Refusal{ErrorCode::kBusy,
                   util::cat("the server holds ", samples_, " samples, its bound is ", max_samples_,
                             "; retry later with the same id"),
                   retry_after_ms(samples_ + samples - max_samples_)};
  }
  samples_ += samples;
  ++jobs_;
  metrics_.queued_samples = samples_;
  return std::nullopt;
}

std::optional<Refusal> Admission::try_admit(int64_t samples, bool count_busy) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::optional<Refusal> refusal = decide(samples);
  if (refusal && refusal->code == ErrorCode::kBusy && count_busy) ++metrics_.busy_replies;
  return refusal;
}

void Admission::release(int64_t samples) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    samples_ -= samples;
    --jobs_;
    metrics_.queued_samples = samples_;
  }
}

void Admission::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopped_ = true;
}

bool Admission::stopped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopped_;
}

int64_t Admission::jobs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return jobs_;
}

}  // namespace safrl::serve
