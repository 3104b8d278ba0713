// The engine thread's work: takes queued jobs across requests (up to max_batch_samples), answers
// those whose deadline passed, runs deep health checks, scores the rest in one pass (packed
// batches under the token budget, shared group prefixes; a job the models refuse is answered
// alone, reward::score_groups), adds the outcomes to the step logs, and hands typed replies back
// through each job's `done`. It owns the models: nothing else touches the Scorer while it runs.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "reward/scorer.h"
#include "serve/admission.h"
#include "serve/job.h"
#include "serve/metrics.h"
#include "serve/step_logger.h"

namespace safrl::serve {

// The `info` reply: `description` holds protocol, version, config and models.
Reply info_reply(const std::string& id, const nlohmann::json& description, bool deep);

class ScoringWorker {
 public:
  ScoringWorker(reward::Scorer& scorer, StepLogger& steps, Metrics& metrics, Admission& admission,
                nlohmann::json description);

  // Serves `queue` until it is closed and drained.
  void run(JobQueue& queue, int64_t max_batch_samples);

 private:
  // Hands the reply over and releases the job's admission.
  void answer(Job& job, Reply reply);
  Reply deep_check(const Job& job);
  void score(std::vector<Job>& jobs);
  // Adds a scored job's outcomes to the step statistics; never fails the job's reply.
  void record(const Job& job, const reward::GroupResult& result);

  reward::Scorer& scorer_;
  StepLogger& steps_;
  Metrics& metrics_;
  Admission& admission_;
  const nlohmann::json description_;
  bool record_failed_ = false;  // said once on stderr
};

}  // namespace safrl::serve
