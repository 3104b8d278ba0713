// What made a `safrl score` output file, kept beside it as OUT.meta.json, so that a rerun can
// tell a resume of the same work (go on) from another input or config written into the same file
// (refuse, saying what differs). The output itself stays plain JSON lines of scored samples.
//
//   {"written_by": "safrl score 0.1.0",
//    "input": {"path": "/abs/rollouts.jsonl", "sha256": "..."},
//    "config": {"path": "/abs/config.yaml", "sha256": "...", "settings": {...}}}
//
// The input is its content: the same bytes under another path are the same input. The config is
// the settings that decide the scores (reward::scoring_settings_json, command-line overrides
// applied); config.sha256 is the SHA-256 of those settings as compact JSON (keys sorted), so
// a comment, a moved file or another device does not make another config, a --reward or --dtype
// override does. Pure functions, apart from the file reads and writes named so.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace safrl::cli {

// OUT.meta.json for the output OUT.
std::string score_record_path(const std::string& output);

nlohmann::json make_score_record(const std::string& input_path, const std::string& input_sha256,
                                 const std::string& config_path, const nlohmann::json& settings);

// Empty when `recorded` and `current` describe the same work; else what differs, as one
// sentence per difference joined by "; ", e.g.
//   the input was /a/in.jsonl (sha256 0123456789ab), now /a/other.jsonl (sha256 ba9876543210);
//   reward.type was "hybrid", now "guard_only"
// `defaults` are the settings of a default config: a setting added to safrl after `recorded` was
// written matches when it now holds its default.
std::string score_record_mismatch(const nlohmann::json& recorded, const nlohmann::json& current,
                                  const nlohmann::json& defaults = nullptr);

// The record at `path`, or null when there is none; throws util::Error when it is not a record.
nlohmann::json read_score_record(const std::string& path);

// Replaces the record at `path` in one rename, synced to disk, so a crash leaves the old or the
// new one and never a torn one. Throws util::Error when it cannot.
void write_score_record(const std::string& path, const nlohmann::json& record);

}  // namespace safrl::cli
