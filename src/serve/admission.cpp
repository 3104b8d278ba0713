#include "serve/admission.h"

#include <algorithm>
#include <utility>

#include "util/error.h"

namespace safrl::serve {

ErrorReply shutting_down() {
  return {ErrorCode::kShuttingDown,
          "the server is shutting down; retry on another endpoint or later", 1000};
}

Admission::Admission(int64_t max_samples, int64_t max_bytes, Metrics& metrics,
                     std::chrono::milliseconds reservation_grace,
                     std::function<Clock::time_point()> now)
    : max_samples_(max_samples),
      max_bytes_(max_bytes),
      metrics_(metrics),
      reservation_grace_(reservation_grace),
      now_(std::move(now)) {}

int64_t Admission::retry_after_ms(int64_t samples_to_drain) const {
  // Room for the request frees up once that many queued samples are scored: at the engine's
  // measured rate, that long (before any pass was measured, a guess that grows with the queue).
  const double rate = metrics_.scoring_rate.load();
  const double ms = rate > 0 ? 1000.0 * static_cast<double>(samples_to_drain) / rate
                             : 50.0 + static_cast<double>(samples_);
  return std::clamp<int64_t>(static_cast<int64_t>(ms), 50, 30000);
}

std::optional<ErrorReply> Admission::decide(int64_t samples, int64_t bytes,
                                            const std::string& waiter) {
  if (stopped_) return shutting_down();
  if (samples > max_samples_) {
    return ErrorReply{
        ErrorCode::kBadRequest,
        util::cat("the request has ", samples, " samples, more than the server holds at once (",
                  max_samples_, "); split it into smaller requests"),
        std::nullopt};
  }
  const Clock::time_point now = now_();
  if (reserved_ && now >= reserved_->lapses) reserved_.reset();
  const bool holds_reservation = reserved_ && !waiter.empty() && reserved_->waiter == waiter;
  const int64_t kept_free = reserved_ && !holds_reservation ? reserved_->samples : 0;
  if (samples_ + samples + kept_free > max_samples_) {
    const int64_t hint = retry_after_ms(samples_ + samples + kept_free - max_samples_);
    if (!waiter.empty() && (!reserved_ || holds_reservation)) {
      reserved_ = Reservation{waiter, samples,
                              now + 2 * std::chrono::milliseconds(hint) + reservation_grace_};
    }
    return ErrorReply{
        ErrorCode::kBusy,
        util::cat("the server holds ", samples_, " samples, its bound is ", max_samples_,
                  kept_free > 0 ? util::cat(", ", kept_free, " of them kept for an earlier request")
                                : std::string(),
                  "; retry later with the same id"),
        hint};
  }
  if (bytes_ > 0 && bytes_ + bytes > max_bytes_) {
    return ErrorReply{ErrorCode::kBusy,
                      util::cat("the requests queued hold ", bytes_, " bytes, with this one's ",
                                bytes, " over the bound of ", max_bytes_,
                                " (server.max_queued_bytes); retry later with the same id"),
                      retry_after_ms(samples_)};
  }
  if (holds_reservation) reserved_.reset();
  samples_ += samples;
  bytes_ += bytes;
  ++jobs_;
  metrics_.queued_samples = samples_;
  return std::nullopt;
}

std::optional<ErrorReply> Admission::try_admit(int64_t samples, const std::string& waiter,
                                               bool count_busy, int64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::optional<ErrorReply> refusal = decide(samples, bytes, waiter);
  if (refusal && refusal->code == ErrorCode::kBusy && count_busy) ++metrics_.busy_replies;
  return refusal;
}

void Admission::release_bytes(int64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  bytes_ -= bytes;
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
