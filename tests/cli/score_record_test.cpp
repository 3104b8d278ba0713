// The record of what made a `safrl score` output (OUT.meta.json): its content, the messages that
// say what differs, and its reading and writing.
#include "cli/score_record.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "util/error.h"
#include "util/sha256.h"
#include "util/version.h"

namespace safrl::cli {
namespace {

using nlohmann::json;

const json kSettings = {{"guard", {{"model", "/m/guard"}, {"max_new_tokens", 16}}},
                        {"reward", {{"type", "hybrid"}, {"unsafe_cap", -10.0}}},
                        {"runtime", {{"dtype", "float32"}}}};
const std::string kInputHash(64, 'a');
const std::string kOtherHash(64, 'b');

json record(const std::string& input = "/r/in.jsonl", const std::string& input_hash = kInputHash,
            const std::string& config = "/r/c.yaml", const json& settings = kSettings) {
  return make_score_record(input, input_hash, config, settings);
}

TEST(ScoreRecord, SaysWhatMadeTheOutput) {
  EXPECT_EQ(score_record_path("out/scored.jsonl"), "out/scored.jsonl.meta.json");
  const json made = record();
  EXPECT_EQ(made["written_by"], std::string("safrl score ") + util::kVersion);
  EXPECT_EQ(made["input"], (json{{"path", "/r/in.jsonl"}, {"sha256", kInputHash}}));
  EXPECT_EQ(made["config"]["path"], "/r/c.yaml");
  EXPECT_EQ(made["config"]["settings"], kSettings);
  // The settings' digest is that of their compact JSON, keys sorted: what sha256sum prints for
  // the same text.
  EXPECT_EQ(made["config"]["sha256"],
            util::sha256_hex(R"({"guard":{"max_new_tokens":16,"model":"/m/guard"},)"
                             R"("reward":{"type":"hybrid","unsafe_cap":-10.0},)"
                             R"("runtime":{"dtype":"float32"}})"));
}

TEST(ScoreRecord, TheSameWorkIsNoMismatch) {
  EXPECT_EQ(score_record_mismatch(record(), record()), "");
  // The input is its content, the config its settings: moved files are the same work.
  EXPECT_EQ(score_record_mismatch(record(), record("/moved/in.jsonl", kInputHash, "/moved/c.yaml")),
            "");
}

TEST(ScoreRecord, AnotherInputIsNamedWithBothDigests) {
  EXPECT_EQ(score_record_mismatch(record(), record("/r/other.jsonl", kOtherHash)),
            "the input was /r/in.jsonl (sha256 aaaaaaaaaaaa), now /r/other.jsonl (sha256 "
            "bbbbbbbbbbbb)");
  EXPECT_EQ(score_record_mismatch(record(), record("/r/in.jsonl", kOtherHash)),
            "the input /r/in.jsonl changed (sha256 was aaaaaaaaaaaa, now bbbbbbbbbbbb)");
}

TEST(ScoreRecord, AnotherConfigIsNamedByTheSettingsThatDiffer) {
  json settings = kSettings;
  settings["reward"]["type"] = "guard_only";
  settings["runtime"]["dtype"] = "bfloat16";
  settings["runtime"]["storage_dtype"] = "bfloat16";
  settings["guard"].erase("max_new_tokens");
  EXPECT_EQ(
      score_record_mismatch(record(), record("/r/in.jsonl", kInputHash, "/r/c.yaml", settings)),
      "guard.max_new_tokens was 16, now absent; reward.type was \"hybrid\", now "
      "\"guard_only\"; runtime.dtype was \"float32\", now \"bfloat16\"; "
      "runtime.storage_dtype was absent, now \"bfloat16\"");
  // Another file as well: named first. Input and config both differ: both are told.
  EXPECT_EQ(
      score_record_mismatch(record(), record("/r/x.jsonl", kOtherHash, "/r/d.yaml", settings)),
      "the input was /r/in.jsonl (sha256 aaaaaaaaaaaa), now /r/x.jsonl (sha256 "
      "bbbbbbbbbbbb); the config was /r/c.yaml, now /r/d.yaml; guard.max_new_tokens was "
      "16, now absent; reward.type was \"hybrid\", now \"guard_only\"; runtime.dtype was "
      "\"float32\", now \"bfloat16\"; runtime.storage_dtype was absent, now \"bfloat16\"");
}

TEST(ScoreRecord, ARecordEditedByHandStillMismatches) {
  json edited = record();
  edited["config"]["sha256"] = kOtherHash;
  EXPECT_EQ(score_record_mismatch(edited, record()),
            "the config's settings differ (sha256 was bbbbbbbbbbbb, now " +
                record()["config"]["sha256"].get<std::string>().substr(0, 12) + ")");
}

TEST(ScoreRecord, LongValuesAreCut) {
  json settings = kSettings;
  settings["guard"]["model"] = std::string(100, 'x');
  const std::string message =
      score_record_mismatch(record(), record("/r/in.jsonl", kInputHash, "/r/c.yaml", settings));
  EXPECT_EQ(message, "guard.model was \"/m/guard\", now \"" + std::string(79, 'x') + "...");
}

TEST(ScoreRecord, WrittenAndReadBack) {
  testing::TempDir dir;
  const std::string path = dir.file("out.jsonl.meta.json");
  EXPECT_TRUE(read_score_record(path).is_null());
  write_score_record(path, record());
  EXPECT_EQ(read_score_record(path), record());
  write_score_record(path, record("/r/other.jsonl"));
  EXPECT_EQ(read_score_record(path)["input"]["path"], "/r/other.jsonl");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(ScoreRecord, ASettingAddedSinceTheRecordMatchesWhenItHoldsItsDefault) {
  // The record of an earlier safrl lacks reward.refusal_penalty; the run now has it.
  const json defaults = {{"reward", {{"refusal_penalty", "always"}, {"judge", "last"}}}};
  json now = kSettings;
  now["reward"]["refusal_penalty"] = "always";
  now["reward"]["judge"] = "last";
  const json current = record("/r/in.jsonl", kInputHash, "/r/c.yaml", now);
  EXPECT_EQ(score_record_mismatch(record(), current, defaults), "");
  // Set to something else, the run would compute differently: that is a mismatch.
  now["reward"]["refusal_penalty"] = "prompt_aware";
  EXPECT_EQ(score_record_mismatch(record(), record("/r/in.jsonl", kInputHash, "/r/c.yaml", now),
                                  defaults),
            "reward.refusal_penalty was absent, now \"prompt_aware\"");
  // Without defaults every added setting is a difference, as before.
  EXPECT_EQ(score_record_mismatch(record(), current),
            "reward.judge was absent, now \"last\"; reward.refusal_penalty was absent, now "
            "\"always\"");
}

std::string read_error(const std::string& path) {
  try {
    read_score_record(path);
  } catch (const util::Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(ScoreRecord, WhatIsNotARecordIsRefused) {
  testing::TempDir dir;
  const std::string path = dir.file("out.jsonl.meta.json");
  std::ofstream(path) << "{\"input\": {\"path\": \"/r/in.jsonl\"}}";
  EXPECT_EQ(read_error(path), path +
                                  " is not a safrl score record (it needs input.path, "
                                  "input.sha256, config.path, config.sha256 and config.settings)");
  std::ofstream(path) << "{not json";
  EXPECT_EQ(read_error(path).rfind(path + " is not JSON (", 0), 0u) << read_error(path);
}

}  // namespace
}  // namespace safrl::cli
