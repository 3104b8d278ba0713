#include "serve/protocol.h"

#include <algorithm>
#include <array>
#include <utility>

#include "reward/reward.h"
#include "util/bounded_json.h"
#include "util/enum_names.h"
#include "util/utf8.h"

namespace safrl::serve {

namespace {

constexpr util::EnumName<ErrorCode> kErrorNames[] = {
    {ErrorCode::kBadRequest, "bad_request"},
    {ErrorCode::kUnsupportedVersion, "unsupported_version"},
    {ErrorCode::kTooLarge, "too_large"},
    {ErrorCode::kTooLong, "too_long"},
    {ErrorCode::kBusy, "busy"},
    {ErrorCode::kDeadlineExceeded, "deadline_exceeded"},
    {ErrorCode::kShuttingDown, "shutting_down"},
    {ErrorCode::kUnavailable, "unavailable"},
    {ErrorCode::kModelError, "model_error"},
    {ErrorCode::kInternal, "internal"},
};

// The request's id when `map` has a usable one (a string of 1 to kMaxRequestIdBytes bytes of
// UTF-8), else "".
std::string id_of(const nlohmann::json& map) {
  if (!map.is_object()) return "";
  const auto id = map.find("id");
  if (id == map.end() || !id->is_string()) return "";
  const auto& text = id->get_ref<const std::string&>();
  const bool usable =
      !text.empty() && text.size() <= kMaxRequestIdBytes && util::utf8::is_valid(text);
  return usable ? text : "";
}

// Levels of arrays and maps in `value` (0 for a scalar), looking no deeper than `limit` + 1.
int nesting(const nlohmann::json& value, int limit) {
  if (!value.is_structured() || limit < 0) return 0;
  int deepest = 0;
  for (const auto& item : value) deepest = std::max(deepest, nesting(item, limit - 1));
  return deepest + 1;
}

// Refuses a sample's `meta` past kMaxMetaDepth or kMaxMetaBytes (docs/protocol.md, "Bounds").
void check_meta(const nlohmann::json& sample, const std::string& where, const std::string& id) {
  if (!sample.is_object()) return;
  const auto meta = sample.find("meta");
  if (meta == sample.end() || meta->is_null()) return;
  if (nesting(*meta, kMaxMetaDepth) > kMaxMetaDepth) {
    throw ProtocolError(
        ErrorCode::kBadRequest,
        util::cat(where, ".meta is nested deeper than ", kMaxMetaDepth, " levels; flatten it"), id);
  }
  const size_t bytes = nlohmann::json::to_msgpack(*meta).size();
  if (bytes > kMaxMetaBytes) {
    throw ProtocolError(
        ErrorCode::kTooLarge,
        util::cat(where, ".meta is ", bytes, " bytes of msgpack, over the limit of ", kMaxMetaBytes,
                  " bytes per sample; keep large data out of meta"),
        id);
  }
}

// The first string or key that is not UTF-8, as a path for the message; empty when all are.
std::string invalid_utf8_path(const nlohmann::json& value, const std::string& path) {
  if (value.is_string()) {
    return util::utf8::is_valid(value.get_ref<const std::string&>()) ? "" : path;
  }
  if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      std::string bad = invalid_utf8_path(value[i], util::cat(path, "[", i, "]"));
      if (!bad.empty()) return bad;
    }
  }
  if (value.is_object()) {
    for (const auto& item : value.items()) {
      if (!util::utf8::is_valid(item.key())) return util::cat(path, " (a key)");
      std::string bad = invalid_utf8_path(item.value(), util::cat(path, ".", item.key()));
      if (!bad.empty()) return bad;
    }
  }
  return "";
}

// "1 and 2": the versions decode_request accepts.
std::string spoken_versions() {
  std::string list;
  for (int v = kOldestProtocolVersion; v <= kProtocolVersion; ++v) {
    list += util::cat(v == kOldestProtocolVersion ? "" : v == kProtocolVersion ? " and " : ", ", v);
  }
  return list;
}

[[noreturn]] void bad(const std::string& id, const std::string& message) {
  throw ProtocolError(ErrorCode::kBadRequest, message, id);
}

void only_keys(const nlohmann::json& map, std::initializer_list<std::string_view> allowed,
               const std::string& where, const std::string& id) {
  for (const auto& item : map.items()) {
    bool known = false;
    for (auto key : allowed) known = known || item.key() == key;
    if (!known) {
      std::string list;
      for (auto key : allowed) list += (list.empty() ? "" : ", ") + std::string(key);
      bad(id, util::cat("unknown key \"", item.key(), "\" in ", where, "; allowed: ", list));
    }
  }
}

std::optional<int64_t> optional_int(const nlohmann::json& map, const char* key, int64_t min,
                                    const std::string& where, const std::string& id) {
  if (!map.contains(key) || map[key].is_null()) return std::nullopt;
  const auto& value = map[key];
  if (!value.is_number_integer() || value.get<int64_t>() < min) {
    bad(id, util::cat("\"", key, "\" in ", where, " must be an integer >= ", min, ", got ",
                      value.dump()));
  }
  return value.get<int64_t>();
}

// Sample and group keys a version 1 request may not carry: a version 1 server refuses them, so a
// client that sends them means version 2.
constexpr std::string_view kVersion2SampleKeys[] = {
    "messages", "policy_turns_from", "tool_calls", "judge", "judge_prompt", "judge_tool_results"};
constexpr std::string_view kVersion2GroupKeys[] = {"messages", "policy_turns_from", "judge",
                                                   "judge_prompt", "judge_tool_results"};
// What may be set for a whole request or group, as "step" is.
constexpr std::string_view kJudgeKeys[] = {"judge", "judge_prompt", "judge_tool_results"};

// `keys`: the version 2 keys of what `map` is (a sample or group, or the request).
template <size_t N>
void refuse_version_2_keys(const nlohmann::json& map, const Request& request,
                           const std::string& where, const std::string_view (&keys)[N]) {
  if (request.version >= 2 || !map.is_object()) return;
  for (const std::string_view key : keys) {
    if (map.contains(key)) {
      bad(request.id,
          util::cat("\"", key, "\" in ", where, " needs protocol version 2; send \"v\": 2"));
    }
  }
}

// The judging switches `map` sets (validated), as a map of those present; they are the defaults
// of what `map` holds (a request's samples and groups, a group's responses).
nlohmann::json judge_switches(const nlohmann::json& map, const std::string& where,
                              const std::string& id) {
  nlohmann::json switches = nlohmann::json::object();
  for (const std::string_view key : kJudgeKeys) {
    const auto value = map.find(key);
    if (value == map.end() || value->is_null()) continue;
    if (key == "judge") {
      if (!value->is_string()) {
        bad(id, util::cat("\"judge\" in ", where, " must be \"last\" or \"all_turns\", got ",
                          value->dump()));
      }
      try {
        reward::parse_judge_turns(value->get_ref<const std::string&>());
      } catch (const util::InputError& e) {
        bad(id, util::cat("\"judge\" in ", where, ": ", e.what()));
      }
    } else if (!value->is_boolean()) {
      bad(id, util::cat("\"", key, "\" in ", where, " must be true or false, got ", value->dump()));
    }
    switches[std::string(key)] = *value;
  }
  return switches;
}

// Gives `sample` the switches it does not set itself.
void apply_defaults(nlohmann::json& sample, const nlohmann::json& switches) {
  for (const auto& item : switches.items()) {
    if (!sample.contains(item.key())) sample[item.key()] = item.value();
  }
}

void add_groups(const nlohmann::json& groups, std::optional<int64_t> step,
                const nlohmann::json& switches, Request& request) {
  if (!groups.is_array()) bad(request.id, "\"groups\" must be an array");
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& group = groups[g];
    const std::string where = util::cat("groups[", g, "]");
    if (!group.is_object()) bad(request.id, where + " must be a map");
    refuse_version_2_keys(group, request, where, kVersion2GroupKeys);
    if (request.version >= 2) {
      only_keys(group,
                {"prompt", "messages", "responses", "ids", "step", "policy_turns_from", "judge",
                 "judge_prompt", "judge_tool_results"},
                where, request.id);
    } else {
      only_keys(group, {"prompt", "responses", "ids", "step"}, where, request.id);
    }
    const bool has_prompt = group.contains("prompt");
    if (has_prompt == group.contains("messages")) {
      bad(request.id, has_prompt ? where + " has both \"prompt\" and \"messages\"; give one"
                      : request.version >= 2
                          ? where + " needs a string \"prompt\" or an array \"messages\""
                          : where + " needs a string \"prompt\"");
    }
    if (has_prompt && !group["prompt"].is_string()) {
      bad(request.id, where + " needs a string \"prompt\"");
    }
    if (!group.contains("responses") || !group["responses"].is_array() ||
        group["responses"].empty()) {
      bad(request.id, where + " needs a non-empty array \"responses\"");
    }
    const auto& responses = group["responses"];
    if (group.contains("ids") &&
        (!group["ids"].is_array() || group["ids"].size() != responses.size())) {
      bad(request.id, util::cat(where, ": \"ids\" must be an array with one id per response (",
                                responses.size(), ")"));
    }
    const auto group_step = optional_int(group, "step", 0, where, request.id);
    // What every member shares: the context and the switches (the group's over the request's).
    nlohmann::json shared = judge_switches(group, where, request.id);
    apply_defaults(shared, switches);
    for (const char* key : {"prompt", "messages", "policy_turns_from"}) {
      if (group.contains(key)) shared[key] = group[key];
    }
    if (group_step || step) shared["step"] = group_step ? *group_step : *step;
    if (!has_prompt) {
      // The shared context is checked once, so its errors name the group, not a response.
      nlohmann::json probe = shared;
      probe["id"] = 0;
      probe["answer"] = "";
      try {
        reward::sample_from_json(probe);
      } catch (const util::InputError& e) {
        bad(request.id, util::cat(where, ": ", e.what()));
      }
    }
    for (size_t k = 0; k < responses.size(); ++k) {
      nlohmann::json sample = shared;
      sample["response"] = responses[k];
      sample["id"] = group.contains("ids") ? group["ids"][k] : nlohmann::json(util::cat(g, "/", k));
      try {
        request.samples.push_back(reward::sample_from_json(sample));
      } catch (const util::InputError& e) {
        bad(request.id, util::cat(where, " response ", k, ": ", e.what()));
      }
      request.group_of.push_back(static_cast<int>(g));
    }
  }
}

void decode_score(nlohmann::json& map, Request& request) {
  request.type = RequestType::kScore;
  if (request.version >= 2) {
    only_keys(map,
              {"v", "id", "type", "samples", "groups", "step", "deadline_ms", "judge",
               "judge_prompt", "judge_tool_results"},
              "a score request", request.id);
  } else {
    refuse_version_2_keys(map, request, "the request", kJudgeKeys);
    only_keys(map, {"v", "id", "type", "samples", "groups", "step", "deadline_ms"},
              "a score request", request.id);
  }
  const auto step = optional_int(map, "step", 0, "the request", request.id);
  const nlohmann::json switches = judge_switches(map, "the request", request.id);
  request.deadline_ms = optional_int(map, "deadline_ms", 1, "the request", request.id);
  constexpr int64_t kDay = 24LL * 3600 * 1000;
  if (request.deadline_ms && *request.deadline_ms > kDay) {
    bad(request.id, util::cat("\"deadline_ms\" must be at most ", kDay, " (one day)"));
  }
  if (map.contains("samples")) {
    auto& samples = map["samples"];
    if (!samples.is_array()) bad(request.id, "\"samples\" must be an array");
    for (size_t i = 0; i < samples.size(); ++i) {
      const std::string where = util::cat("samples[", i, "]");
      // Moved, not copied: a sample's meta may be a megabyte.
      nlohmann::json sample = std::move(samples[i]);
      check_meta(sample, where, request.id);
      refuse_version_2_keys(sample, request, where, kVersion2SampleKeys);
      if (sample.is_object()) {
        if (step && !sample.contains("step")) sample["step"] = *step;
        apply_defaults(sample, switches);
      }
      try {
        request.samples.push_back(reward::sample_from_json(sample));
      } catch (const util::InputError& e) {
        bad(request.id, util::cat(where, ": ", e.what()));
      }
      request.group_of.push_back(-1);
    }
  }
  if (map.contains("groups")) add_groups(map["groups"], step, switches, request);
  if (request.samples.empty()) {
    bad(request.id, "a score request needs at least one sample or group");
  }
}

// Everything after the version, which decides what the rest may hold.
void decode_body(nlohmann::json& map, Request& request) {
  if (request.id.empty())
    bad("", util::cat("\"id\" must be a string of 1 to ", kMaxRequestIdBytes, " bytes"));
  if (!map.contains("type") || !map["type"].is_string()) {
    bad(request.id, "\"type\" must be a string: score, ping, info or stats");
  }
  const std::string type = map["type"].get<std::string>();
  if (type == "ping") {
    request.type = RequestType::kPing;
    only_keys(map, {"v", "id", "type"}, "a ping request", request.id);
  } else if (type == "info") {
    request.type = RequestType::kInfo;
    only_keys(map, {"v", "id", "type", "deep"}, "an info request", request.id);
    if (map.contains("deep")) {
      if (!map["deep"].is_boolean()) bad(request.id, "\"deep\" must be true or false");
      request.deep = map["deep"].get<bool>();
    }
  } else if (type == "stats") {
    request.type = RequestType::kStats;
    only_keys(map, {"v", "id", "type", "flush"}, "a stats request", request.id);
    if (map.contains("flush")) {
      if (!map["flush"].is_boolean()) bad(request.id, "\"flush\" must be true or false");
      request.flush = map["flush"].get<bool>();
    }
  } else if (type == "score") {
    decode_score(map, request);
  } else {
    bad(request.id, util::cat("unknown type \"", type, "\"; use score, ping, info or stats"));
  }
}

}  // namespace

std::string_view error_code_name(ErrorCode code) {
  return util::name_of(kErrorNames, code);
}

std::optional<ErrorCode> parse_error_code(std::string_view name) {
  return util::find_name(kErrorNames, name);
}

Request decode_request(std::string_view frame, size_t max_bytes) {
  if (frame.size() > max_bytes) {
    throw ProtocolError(
        ErrorCode::kTooLarge,
        util::cat("request of ", frame.size(), " bytes is over the server's limit of ", max_bytes,
                  " bytes; send fewer samples per request"));
  }
  // msgpack -> json, stopping at the first element past kMaxRequestElements or level past
  // kMaxRequestDepth, before it is added to the tree. Strings and keys are checked for UTF-8 as
  // they arrive; where the bad one is, is looked up only on error.
  util::BoundedJson parsed;
  try {
    parsed = util::parse_bounded(frame, {kMaxRequestDepth, kMaxRequestElements},
                                 nlohmann::json::input_format_t::msgpack, true);
  } catch (const nlohmann::json::exception& e) {
    bad("", util::cat("the frame is not valid msgpack (", e.what(), ")"));
  }
  nlohmann::json& map = parsed.value;
  // What was read before a bound stopped the reader; its id, when read, lets the client match
  // the refusal to its request.
  const std::string read_id = parsed.stopped == util::JsonStop::kNone ? "" : id_of(map);
  if (parsed.stopped == util::JsonStop::kTooDeep) {
    bad(read_id, util::cat("the request is nested deeper than ", kMaxRequestDepth, " levels"));
  }
  if (parsed.stopped == util::JsonStop::kTooMany) {
    throw ProtocolError(ErrorCode::kTooLarge,
                        util::cat("the request holds more than ", kMaxRequestElements,
                                  " msgpack elements (values, keys, arrays and maps); send fewer "
                                  "samples per request, or less in meta"),
                        read_id);
  }
  if (!map.is_object())
    bad("", util::cat("a request must be a msgpack map, got ", map.type_name()));
  if (!parsed.all_utf8)
    bad("", util::cat(invalid_utf8_path(map, "request"), " is not valid UTF-8"));
  Request request;
  request.id = id_of(map);
  // The version first: a newer client's request may differ in everything else.
  if (!map.contains("v") || !map["v"].is_number_integer()) {
    bad(request.id, "\"v\" (the protocol version) must be an integer");
  }
  const int64_t version = map["v"].get<int64_t>();
  if (version < kOldestProtocolVersion || version > kProtocolVersion) {
    throw ProtocolError(
        ErrorCode::kUnsupportedVersion,
        util::cat("protocol version ", map["v"].dump(),
                  " is not spoken here; this server speaks versions ", spoken_versions()),
        request.id);
  }
  request.version = static_cast<int>(version);
  try {
    decode_body(map, request);
  } catch (ProtocolError& e) {
    e.set_version(request.version);
    throw;
  }
  return request;
}

void fit_result_to_version(nlohmann::json& result, int version) {
  if (version >= 2) return;
  for (const char* key : {"channels", "injection", "answer_tokens"}) result.erase(key);
}

std::string encode(nlohmann::json reply, int version) {
  reply["v"] = version;
  std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(reply);
  return std::string(bytes.begin(), bytes.end());
}

nlohmann::json decode_reply(std::string_view frame) {
  nlohmann::json reply;
  try {
    reply = nlohmann::json::from_msgpack(frame.begin(), frame.end());
  } catch (const nlohmann::json::exception& e) {
    throw util::Error(util::cat("the server's reply is not msgpack (", e.what(), ")"));
  }
  if (!reply.is_object()) throw util::Error("the server's reply is not a msgpack map");
  return reply;
}

nlohmann::json error_reply(const std::string& id, ErrorCode code, const std::string& message,
                           std::optional<int64_t> retry_after_ms) {
  nlohmann::json error = {{"code", error_code_name(code)}, {"message", message}};
  if (retry_after_ms) error["retry_after_ms"] = *retry_after_ms;
  nlohmann::json reply = {{"type", "error"}, {"error", error}};
  if (!id.empty()) reply["id"] = id;
  return reply;
}

}  // namespace safrl::serve
