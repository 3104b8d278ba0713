#include "serve/scoring_worker.h"

#include "reward/monitor_inputs.h"
#include "util/error.h"
#include "util/log.h"

namespace safrl::serve {
namespace {

// How long a client waits before retrying after `unavailable`: the server has already spent its
// own retries (helpfulness.vllm.retries) on the remote model.
constexpr int64_t kUnavailableRetryMs = 5000;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The reply of a group the models could not score: the reward layer's failure (which knows no
// protocol) as its error code, with the scorer's message.
ErrorReply refusal_of(const reward::GroupResult& result) {
  switch (result.failure) {
    case reward::GroupResult::Failure::kTooLong:
      return {ErrorCode::kTooLong, result.message};
    case reward::GroupResult::Failure::kBadInput:
      return {ErrorCode::kBadRequest, result.message};
    case reward::GroupResult::Failure::kModel:
      return {ErrorCode::kModelError, result.message};
    case reward::GroupResult::Failure::kNone:
    case reward::GroupResult::Failure::kInternal:
      break;
  }
  return {ErrorCode::kInternal, result.message};
}

}  // namespace

Reply info_reply(const std::string& id, const nlohmann::json& description, bool deep) {
  nlohmann::json body = description;
  body["type"] = "info";
  body["id"] = id;
  if (deep) body["deep_check"] = "ok";
  return Reply(std::move(body));
}

ScoringWorker::ScoringWorker(reward::Scorer& scorer, StepLogger& steps, Metrics& metrics,
                             Admission& admission, nlohmann::json description)
    : scorer_(scorer),
      steps_(steps),
      metrics_(metrics),
      admission_(admission),
      description_(std::move(description)) {}

void ScoringWorker::answer(Job& job, Reply reply) {
  const int64_t samples = job.admitted_samples();
  job.done(std::move(reply));
  admission_.release(samples);
}

Reply ScoringWorker::deep_check(const Job& job) {
  try {
    // The models answer a one-sample request end to end.
    reward::Sample probe;
    probe.messages = {{"user", "ping"}};
    probe.policy_turns_from = probe.messages.size();
    probe.answer = "pong";
    scorer_.score({probe});
    return info_reply(job.request.id, description_, true);
  } catch (const util::UnavailableError& e) {
    return ErrorReply{ErrorCode::kUnavailable, util::cat("the deep check failed: ", e.what()),
                      kUnavailableRetryMs};
  } catch (const std::exception& e) {
    return ErrorReply{ErrorCode::kInternal, util::cat("the deep check failed: ", e.what())};
  }
}

void ScoringWorker::run(JobQueue& queue, int64_t max_batch_samples) {
  while (true) {
    std::vector<Job> jobs = queue.take(max_batch_samples);
    if (jobs.empty()) return;
    std::vector<Job> to_score;
    const auto now = Clock::now();
    for (Job& job : jobs) {
      if (job.deadline && now > *job.deadline) {
        answer(job, ErrorReply{ErrorCode::kDeadlineExceeded,
                               util::cat("the deadline of ", *job.request.deadline_ms,
                                         " ms passed before the work ran; retry with a new one")});
      } else if (job.request.type == RequestType::kInfo) {
        answer(job, deep_check(job));
      } else {
        to_score.push_back(std::move(job));
      }
    }
    if (!to_score.empty()) score(to_score);
  }
}

void ScoringWorker::record(const Job& job, const reward::GroupResult& result) {
  try {
    // Duplicates are counted among the request's samples of one prompt (a GRPO group).
    std::vector<const reward::Sample*> samples;
    for (const reward::Sample& sample : job.request.samples) samples.push_back(&sample);
    const std::vector<reward::DuplicateMark> duplicates = reward::mark_duplicates_by_group(samples);
    for (size_t i = 0; i < job.request.samples.size(); ++i) {
      const reward::Sample& sample = job.request.samples[i];
      const reward::ScoredSample& s = result.scored[i];
      reward::SampleOutcome outcome = reward::make_outcome(
          sample.step, scorer_.config().reward, s.answer, s.thinking, s.result, s.helpfulness,
          s.tokens, reward::conversation_outcome(s, scorer_.config().reward));
      reward::add_monitor_inputs(sample, s, outcome);
      outcome.duplicate = duplicates[i].exact;
      outcome.folded_duplicate = duplicates[i].folded;
      outcome.cache_hits = s.cache_hits;
      steps_.add(outcome, job.arrival);
    }
  } catch (const std::exception& e) {
    // The step logs hold their own write failures; this is anything else (memory). The
    // statistics are secondary to the rewards: the reply goes out all the same.
    if (!record_failed_) {
      util::log_error("steps", util::cat("a step's statistics could not be recorded (", e.what(),
                                         "); the rewards are still sent"));
    }
    record_failed_ = true;
  }
}

void ScoringWorker::score(std::vector<Job>& jobs) {
  std::vector<reward::Sample> samples;
  std::vector<size_t> sizes;
  for (const Job& job : jobs) {
    samples.insert(samples.end(), job.request.samples.begin(), job.request.samples.end());
    sizes.push_back(job.request.samples.size());
  }
  const auto start = Clock::now();
  const reward::ScorerTiming before = scorer_.timing();
  std::vector<reward::GroupResult> results;
  try {
    results = reward::score_groups(scorer_, samples, sizes);
  } catch (const util::UnavailableError& e) {
    for (Job& job : jobs) {
      answer(job, ErrorReply{ErrorCode::kUnavailable, e.what(), kUnavailableRetryMs});
    }
    return;
  } catch (const std::exception& e) {
    for (Job& job : jobs) {
      answer(job, ErrorReply{ErrorCode::kInternal, util::cat("scoring failed: ", e.what())});
    }
    return;
  }
  // Tokens count every pass the models ran (a pass retried group by group after an input error
  // included); samples count those scored.
  const reward::ScorerTiming spent = scorer_.timing() - before;
  const auto end = Clock::now();
  metrics_.last_batch_tokens = spent.input_tokens();
  metrics_.tokens += spent.input_tokens();
  metrics_.prefix_tokens_saved += spent.guard.prefix_tokens_saved;
  const reward::JudgementCounters cache = scorer_.cache_counters();
  const reward::CacheHits* counts[] = {&cache.hits, &cache.misses};
  std::array<std::atomic<int64_t>, 3>* into[] = {&metrics_.cache_hits, &metrics_.cache_misses};
  for (size_t k = 0; k < 2; ++k) {
    (*into[k])[0] = counts[k]->guard;
    (*into[k])[1] = counts[k]->helpfulness;
    (*into[k])[2] = counts[k]->prompt;
  }
  metrics_.cache_bytes = cache.bytes;
  // Every counter is set before the replies leave: a client's next request may read them.
  int64_t scored = 0;
  for (const reward::GroupResult& result : results) {
    if (result.failure == reward::GroupResult::Failure::kNone) {
      scored += static_cast<int64_t>(result.scored.size());
    }
  }
  metrics_.last_batch_samples = scored;
  ++metrics_.batches;
  const double pass_seconds = std::chrono::duration<double>(end - start).count();
  metrics_.observe_scoring_pass(pass_seconds);
  if (scored > 0 && pass_seconds > 0) {
    // An exponential average over recent passes: the engine's rate on the current load.
    const double rate = static_cast<double>(scored) / pass_seconds;
    const double previous = metrics_.scoring_rate.load();
    metrics_.scoring_rate = previous > 0 ? 0.7 * previous + 0.3 * rate : rate;
  }
  for (size_t j = 0; j < jobs.size(); ++j) {
    Job& job = jobs[j];
    reward::GroupResult& result = results[j];
    if (result.failure != reward::GroupResult::Failure::kNone) {
      answer(job, refusal_of(result));
      continue;
    }
    Reply reply;
    try {
      nlohmann::json lines = nlohmann::json::array();
      for (size_t i = 0; i < job.request.samples.size(); ++i) {
        lines.push_back(scorer_.to_json(job.request.samples[i], result.scored[i]));
        fit_result_to_version(lines.back(), job.request.version);
      }
      reply = Reply(nlohmann::json{{"type", "score"},
                                   {"id", job.request.id},
                                   {"results", std::move(lines)},
                                   {"timing",
                                    {{"queue_ms", 1000 * seconds_between(job.arrival, start)},
                                     {"compute_ms", 1000 * seconds_between(start, end)}}}});
      metrics_.samples += static_cast<int64_t>(job.request.samples.size());
    } catch (const std::exception& e) {
      reply = ErrorReply{ErrorCode::kInternal,
                         util::cat("the scores could not be encoded: ", e.what())};
    }
    record(job, result);
    metrics_.observe_latency(seconds_between(job.arrival, end));
    metrics_.observe_request_samples(static_cast<int64_t>(job.request.samples.size()));
    answer(job, std::move(reply));
  }
}

}  // namespace safrl::serve
