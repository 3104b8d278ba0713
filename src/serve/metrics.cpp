#include "serve/metrics.h"

#include <algorithm>
#include <sstream>

#include <nlohmann/json.hpp>

#include "reward/monitors.h"
#include "util/process_memory.h"

namespace safrl::serve {

const std::vector<std::string> Metrics::kStepGauges = {
    "refusal_rate",
    "refusal_rate_change",
    "duplicate_rate",
    "folded_duplicate_rate",
    "answer_tokens_mean",
    "answer_tokens_helpfulness_corr",
    "answer_tokens_reward_corr",
    "verdict_text_rate",
    "safety_mass_mean",
    "safety_mass_min",
    "low_safety_mass_rate",
    "fallback_rate",
    "unparseable_rate",
    "truncated_thinking_rate",
    "safe_unhelpful_rate",
};

void Metrics::record_step_monitors(const nlohmann::json& row) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto alerts = row.find("alerts"); alerts != row.end() && alerts->is_array()) {
    for (const auto& name : *alerts) {
      if (name.is_string()) ++step_alerts_[name.get<std::string>()];
    }
  }
  for (const std::string& field : kStepGauges) {
    auto it = row.find(field);
    step_gauges_[field] = it != row.end() && it->is_number()
                              ? std::optional<double>(it->get<double>())
                              : std::nullopt;
  }
}

void Metrics::observe_latency(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (latencies_.size() < kWindow) {
    latencies_.push_back(seconds);
  } else {
    latencies_[next_] = seconds;
  }
  next_ = (next_ + 1) % kWindow;
}

void Metrics::set_step_log_error(const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (step_log_error_ != error) step_log_error_ = error;
}

std::string Metrics::step_log_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return step_log_error_;
}

std::array<double, 3> Metrics::latency_percentiles() const {
  std::vector<double> sorted;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    sorted = latencies_;
  }
  if (sorted.empty()) return {0, 0, 0};
  std::sort(sorted.begin(), sorted.end());
  auto at = [&](double q) { return sorted[static_cast<size_t>(q * (sorted.size() - 1))]; };
  return {at(0.5), at(0.9), at(0.99)};
}

std::string Metrics::prometheus() const {
  std::ostringstream out;
  auto counter = [&](const char* name, const char* help, int64_t value, const char* type) {
    out << "# HELP safrl_" << name << ' ' << help << "\n# TYPE safrl_" << name << ' ' << type
        << "\nsafrl_" << name << ' ' << value << '\n';
  };
  counter("requests_total", "Requests received (ZeroMQ, and HTTP /get_reward).", requests,
          "counter");
  counter("score_requests_total", "Score requests admitted.", score_requests, "counter");
  counter("samples_total", "Samples scored.", samples, "counter");
  counter("busy_replies_total", "Requests refused with busy.", busy_replies, "counter");
  counter("http_admission_waits_total",
          "HTTP /get_reward parts held because the server was busy, then admitted or refused.",
          http_admission_waits, "counter");
  counter("error_replies_total", "Error replies.", error_replies, "counter");
  counter("deduplicated_requests_total", "Retried request ids answered without recomputing.",
          deduplicated, "counter");
  counter("tokens_total", "Tokens computed by the models.", tokens, "counter");
  counter("prefix_tokens_saved_total", "Tokens not computed thanks to shared prefixes.",
          prefix_tokens_saved, "counter");
  counter("batches_total", "Scoring passes (each takes queued requests together).", batches,
          "counter");
  counter("step_rows_dropped_total",
          "Step rows dropped: the run directory could not take them and too many were held.",
          step_rows_dropped, "counter");
  counter("step_write_failures_total", "Failed writes of the step logs (a full disk).",
          step_write_failures, "counter");
  counter("step_rows_unwritten",
          "Step rows held in memory until the run directory takes them (a full disk).",
          step_rows_unwritten, "gauge");
  counter("http_connections", "HTTP connections open.", http_connections, "gauge");
  counter("queue_samples", "Samples waiting or being scored.", queued_samples, "gauge");
  counter("last_batch_samples", "Samples in the last scoring pass.", last_batch_samples, "gauge");
  counter("last_batch_tokens", "Tokens computed in the last scoring pass.", last_batch_tokens,
          "gauge");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    out << "# HELP safrl_step_alerts_total Monitor alerts raised by the step rows written, by "
           "alert.\n# TYPE safrl_step_alerts_total counter\n";
    for (std::string_view name : reward::kAlertNames) {
      auto it = step_alerts_.find(std::string(name));
      out << "safrl_step_alerts_total{alert=\"" << name << "\"} "
          << (it == step_alerts_.end() ? 0 : it->second) << '\n';
    }
    // A null value (or no row yet) leaves its gauge out, as Prometheus spells "no value"; a NaN
    // would break the clients that read every sample as a number.
    for (const std::string& field : kStepGauges) {
      auto it = step_gauges_.find(field);
      if (it == step_gauges_.end() || !it->second) continue;
      out << "# HELP safrl_step_" << field << " The " << field
          << " of the latest step row written.\n# TYPE safrl_step_" << field
          << " gauge\nsafrl_step_" << field << ' ' << *it->second << '\n';
    }
  }
  // The Prometheus client libraries' standard name, so dashboards find it; soak checks read it.
  out << "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
      << "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes "
      << util::process_memory().resident_bytes << '\n';
  const auto p = latency_percentiles();
  out << "# HELP safrl_request_latency_seconds Score request latency over the last " << kWindow
      << " requests.\n# TYPE safrl_request_latency_seconds summary\n";
  const char* quantiles[] = {"0.5", "0.9", "0.99"};
  for (int i = 0; i < 3; ++i) {
    out << "safrl_request_latency_seconds{quantile=\"" << quantiles[i] << "\"} " << p[i] << '\n';
  }
  return out.str();
}

}  // namespace safrl::serve
