#include "serve/metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "reward/monitors.h"
#include "util/process_memory.h"

namespace safrl::serve {

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), counts_(upper_bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  // Bucket i counts upper_bounds_[i-1] < value <= upper_bounds_[i] (Prometheus's "le"); NaN and
  // values past the last bound go to +Inf's.
  const size_t bucket =
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin();
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_[bucket];
  sum_ += value;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  std::lock_guard<std::mutex> lock(mutex_);
  snapshot.cumulative.reserve(counts_.size());
  for (int64_t n : counts_) {
    snapshot.count += n;
    snapshot.cumulative.push_back(snapshot.count);
  }
  snapshot.sum = sum_;
  return snapshot;
}

void Histogram::write_prometheus(std::ostream& out, std::string_view name,
                                 std::string_view help) const {
  const Snapshot s = snapshot();
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " histogram\n";
  for (size_t i = 0; i < s.cumulative.size(); ++i) {
    const std::string le = i < upper_bounds_.size() ? prometheus_number(upper_bounds_[i]) : "+Inf";
    out << name << "_bucket{le=\"" << le << "\"} " << s.cumulative[i] << '\n';
  }
  out << name << "_sum " << prometheus_number(s.sum) << '\n'
      << name << "_count " << s.count << '\n';
}

std::string prometheus_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  std::array<char, 32> buffer;
  const auto end = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value).ptr;
  return std::string(buffer.data(), end);
}

const std::vector<std::string> Metrics::kStepGauges = {
    "safety_rate",
    "controversial_rate",
    "refusal_rate",
    "over_refusal_rate",
    "under_refusal_rate",
    "reward_mean",
    "helpfulness_mean",
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

void Metrics::set_step_log_error(const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (step_log_error_ != error) step_log_error_ = error;
}

std::string Metrics::step_log_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return step_log_error_;
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
  auto by_judge = [&](const char* name, const char* help,
                      const std::array<std::atomic<int64_t>, 3>& values) {
    out << "# HELP safrl_" << name << ' ' << help << "\n# TYPE safrl_" << name << " counter\n";
    const char* judges[] = {"guard", "helpfulness", "prompt"};
    for (size_t j = 0; j < values.size(); ++j) {
      out << "safrl_" << name << "{judge=\"" << judges[j] << "\"} " << values[j] << '\n';
    }
  };
  by_judge("cache_hits_total", "Judgements answered without running the model, by judge.",
           cache_hits);
  by_judge("cache_misses_total", "Judgements the model computed, by judge.", cache_misses);
  counter("cache_bytes", "Bytes of verdicts and scores kept by the judgement cache.", cache_bytes,
          "gauge");
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
  out << "# HELP safrl_scoring_rate Samples scored per second of scoring, averaged over recent "
         "passes (0 before the first); busy replies' retry_after_ms is computed from it.\n"
      << "# TYPE safrl_scoring_rate gauge\nsafrl_scoring_rate "
      << prometheus_number(scoring_rate.load()) << '\n';
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
    // A null value (or no row yet) leaves its gauge's sample out, as Prometheus spells "no
    // value"; a NaN would break the clients that read every sample as a number. HELP and TYPE
    // stay, so the exposition names every family a dashboard may ask for.
    for (const std::string& field : kStepGauges) {
      out << "# HELP safrl_step_" << field << " The " << field
          << " of the latest step row written.\n# TYPE safrl_step_" << field << " gauge\n";
      auto it = step_gauges_.find(field);
      if (it == step_gauges_.end() || !it->second) continue;
      out << "safrl_step_" << field << ' ' << prometheus_number(*it->second) << '\n';
    }
  }
  // The Prometheus client libraries' standard name, so dashboards find it; soak checks read it.
  out << "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
      << "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes "
      << util::process_memory().resident_bytes << '\n';
  latency_.write_prometheus(out, "safrl_request_latency_seconds",
                            "Score request latency from arrival to reply, in seconds.");
  scoring_pass_.write_prometheus(
      out, "safrl_scoring_pass_seconds",
      "Scoring pass duration (one per safrl_batches_total), in seconds.");
  request_samples_.write_prometheus(out, "safrl_request_samples",
                                    "Samples per answered score request.");
  return out.str();
}

}  // namespace safrl::serve
