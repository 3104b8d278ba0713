#include "serve/protocol.h"

#include <algorithm>
#include <array>
#include <utility>

#include "io/json_reader.h"
#include "reward/reward.h"
#include "util/bounded_json.h"
#include "util/utf8.h"

namespace safrl::serve {

namespace {

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

// Fails at the first string or key that is not UTF-8, named by its key path (a bad key by the
// path it would have, its bad bytes shown as U+FFFD).
void refuse_invalid_utf8(const io::JsonReader& value) {
  const nlohmann::json& json = value.value();
  if (json.is_string()) {
    if (!util::utf8::is_valid(json.get_ref<const std::string&>())) {
      value.fail("must be valid UTF-8");
    }
  } else if (json.is_array()) {
    for (const io::JsonReader& item : value.items()) refuse_invalid_utf8(item);
  } else if (json.is_object()) {
    for (const auto& item : json.items()) {
      const io::JsonReader child = value.child(item.key());
      if (!util::utf8::is_valid(item.key())) child.fail("this key must be valid UTF-8");
      refuse_invalid_utf8(child);
    }
  }
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

// Sample and group keys a version 1 request may not carry: a version 1 server refuses them, so a
// client that sends them means version 2.
constexpr std::string_view kVersion2SampleKeys[] = {
    "messages", "policy_turns_from", "tool_calls", "judge", "judge_prompt", "judge_tool_results"};
constexpr std::string_view kVersion2GroupKeys[] = {"messages", "policy_turns_from", "judge",
                                                   "judge_prompt", "judge_tool_results"};
// Request keys a version 1 request may not carry.
constexpr std::string_view kVersion2RequestKeys[] = {"judge", "judge_prompt", "judge_tool_results",
                                                     "token_safety"};
// What may be set for a whole request or group, as "step" is.
constexpr std::string_view kJudgeKeys[] = {"judge", "judge_prompt", "judge_tool_results"};
constexpr int64_t kMaxDeadlineMs = 24LL * 3600 * 1000;  // one day

// `keys`: the version 2 keys of what `map` is (a sample or group, or the request).
template <size_t N>
void refuse_version_2_keys(const io::JsonReader& map, const Request& request,
                           const std::string_view (&keys)[N]) {
  if (request.version >= 2 || !map.value().is_object()) return;
  for (const std::string_view key : keys) {
    if (map.has(key)) map.child(key).fail("needs protocol version 2; send \"v\": 2");
  }
}

// The judging switches `map` sets (validated), as a map of those present; they are the defaults
// of what `map` holds (a request's samples and groups, a group's responses).
nlohmann::json judge_switches(const io::JsonReader& map) {
  nlohmann::json switches = nlohmann::json::object();
  for (const std::string_view key : kJudgeKeys) {
    const std::optional<io::JsonReader> value = map.optional(key);
    if (!value) continue;
    if (key == "judge") {
      reward::read_judge_turns(*value);
    } else {
      value->as_bool();
    }
    switches[std::string(key)] = value->value();
  }
  return switches;
}

// Gives `sample` the switches it does not set itself.
void apply_defaults(nlohmann::json& sample, const nlohmann::json& switches) {
  for (const auto& item : switches.items()) {
    if (!sample.contains(item.key())) sample[item.key()] = item.value();
  }
}

// A sample (or the shared part of a group) read by the code `safrl score` uses; its errors name
// their path below `path`.
reward::Sample read_sample(const nlohmann::json& sample, const std::string& path,
                           const Request& request) {
  try {
    return reward::sample_from_json(sample, path);
  } catch (const util::InputError& e) {
    bad(request.id, e.what());
  }
}

// What a score request's samples and groups inherit from it.
struct ScoreDefaults {
  std::optional<int64_t> step;
  nlohmann::json switches;  // the judging switches the request sets
};

void check_score_keys(const io::JsonReader& map, const Request& request) {
  if (request.version >= 2) {
    map.allow_keys({"v", "id", "type", "samples", "groups", "step", "deadline_ms", "judge",
                    "judge_prompt", "judge_tool_results", "token_safety"});
  } else {
    refuse_version_2_keys(map, request, kVersion2RequestKeys);
    map.allow_keys({"v", "id", "type", "samples", "groups", "step", "deadline_ms"});
  }
}

ScoreDefaults read_score_options(const io::JsonReader& map, Request& request) {
  ScoreDefaults defaults;
  if (const auto step = map.optional("step")) defaults.step = step->as_int(0);
  defaults.switches = judge_switches(map);
  if (const auto deadline = map.optional("deadline_ms")) {
    request.deadline_ms = deadline->as_int(1, kMaxDeadlineMs);
  }
  return defaults;
}

// Refuses a sample's `meta` past kMaxMetaDepth or kMaxMetaBytes (docs/protocol.md, "Bounds").
void check_meta(const io::JsonReader& sample, const Request& request) {
  if (!sample.value().is_object()) return;
  const std::optional<io::JsonReader> meta = sample.optional("meta");
  if (!meta) return;
  if (nesting(meta->value(), kMaxMetaDepth) > kMaxMetaDepth) {
    meta->fail(util::cat("nested deeper than ", kMaxMetaDepth, " levels; flatten it"));
  }
  const size_t bytes = nlohmann::json::to_msgpack(meta->value()).size();
  if (bytes > kMaxMetaBytes) {
    throw ProtocolError(
        ErrorCode::kTooLarge,
        util::cat(meta->path(), ": ", bytes, " bytes of msgpack, over the limit of ", kMaxMetaBytes,
                  " bytes per sample; keep large data out of meta"),
        request.id);
  }
}

// `samples`: the request's "samples", which `reader` reads; each is moved out, not copied (a
// sample's meta may be a megabyte).
void add_samples(nlohmann::json& samples, const io::JsonReader& reader,
                 const ScoreDefaults& defaults, Request& request) {
  reader.as_array();
  for (size_t i = 0; i < samples.size(); ++i) {
    nlohmann::json sample = std::move(samples[i]);
    // Named as the reader names element i; the moved-from element keeps its place in the array.
    const io::JsonReader item(sample, reader.on_fail(), reader.index(i).path());
    check_meta(item, request);
    refuse_version_2_keys(item, request, kVersion2SampleKeys);
    if (sample.is_object()) {
      if (defaults.step && !sample.contains("step")) sample["step"] = *defaults.step;
      apply_defaults(sample, defaults.switches);
    }
    request.samples.push_back(read_sample(sample, item.path(), request));
    request.group_of.push_back(-1);
  }
}

void check_group_keys(const io::JsonReader& group, const Request& request) {
  refuse_version_2_keys(group, request, kVersion2GroupKeys);
  if (request.version >= 2) {
    group.allow_keys({"prompt", "messages", "responses", "ids", "step", "policy_turns_from",
                      "judge", "judge_prompt", "judge_tool_results"});
  } else {
    group.allow_keys({"prompt", "responses", "ids", "step"});
  }
  const bool has_prompt = group.has("prompt");
  if (has_prompt == group.has("messages")) {
    group.fail(has_prompt             ? "has both \"prompt\" and \"messages\"; give one"
               : request.version >= 2 ? "needs a string \"prompt\" or an array \"messages\""
                                      : "needs a string \"prompt\"");
  }
  if (has_prompt) group.at("prompt").as_string();
}

// Each response of `group` with the id it is reported under: ids[k], or "<g>/<k>".
std::vector<std::pair<const std::string*, nlohmann::json>> group_responses(
    const io::JsonReader& group, size_t g) {
  const io::JsonReader responses = group.at("responses", "give a non-empty array of responses");
  if (!responses.value().is_array() || responses.value().empty()) {
    responses.fail(util::cat("must be a non-empty array, got ",
                             responses.value().is_array() ? "an empty one" : responses.describe()));
  }
  const size_t count = responses.value().size();
  const std::optional<io::JsonReader> ids =
      group.has("ids") ? std::optional(group.at("ids")) : std::nullopt;
  if (ids && (!ids->value().is_array() || ids->value().size() != count)) {
    ids->fail(util::cat("must be an array with one id per response (", count, "), got ",
                        ids->value().is_array() ? util::cat("an array of ", ids->value().size())
                                                : ids->describe()));
  }
  std::vector<std::pair<const std::string*, nlohmann::json>> members;
  for (size_t k = 0; k < count; ++k) {
    const std::string& response = responses.index(k).as_string();
    if (!ids) {
      members.emplace_back(&response, util::cat(g, "/", k));
      continue;
    }
    const io::JsonReader id = ids->index(k);
    if (!id.value().is_string() && !id.value().is_number_integer()) {
      id.fail(util::cat("must be a string or an integer, got ", id.describe()));
    }
    members.emplace_back(&response, id.value());
  }
  return members;
}

void add_groups(const io::JsonReader& groups, const ScoreDefaults& defaults, Request& request) {
  const std::vector<io::JsonReader> items = groups.items();
  for (size_t g = 0; g < items.size(); ++g) {
    const io::JsonReader& group = items[g];
    check_group_keys(group, request);
    const auto members = group_responses(group, g);
    const std::optional<io::JsonReader> step = group.optional("step");
    const std::optional<int64_t> group_step = step ? std::optional(step->as_int(0)) : std::nullopt;
    // What every member shares: the context and the switches (the group's over the request's).
    nlohmann::json shared = judge_switches(group);
    apply_defaults(shared, defaults.switches);
    for (const char* key : {"prompt", "messages", "policy_turns_from"}) {
      if (group.has(key)) shared[key] = group.at(key).value();
    }
    if (group_step || defaults.step) shared["step"] = group_step ? *group_step : *defaults.step;
    if (!group.has("prompt")) {
      // The shared context is checked once, so its errors name the group, not a response.
      nlohmann::json probe = shared;
      probe["id"] = 0;
      probe["answer"] = "";
      read_sample(probe, group.path(), request);
    }
    for (const auto& [response, id] : members) {
      nlohmann::json sample = shared;
      sample["response"] = *response;
      sample["id"] = id;
      request.samples.push_back(read_sample(sample, group.path(), request));
      request.group_of.push_back(static_cast<int>(g));
    }
  }
}

void decode_score(const io::JsonReader& map, nlohmann::json& mutable_map, Request& request) {
  request.type = RequestType::kScore;
  check_score_keys(map, request);
  const ScoreDefaults defaults = read_score_options(map, request);
  if (map.has("samples")) add_samples(mutable_map["samples"], map.at("samples"), defaults, request);
  if (map.has("groups")) add_groups(map.at("groups"), defaults, request);
  if (request.samples.empty()) map.fail("a score request needs at least one sample or group");
  if (const auto token_safety = map.optional("token_safety");
      token_safety && token_safety->as_bool()) {
    for (reward::Sample& sample : request.samples) sample.token_safety = true;
  }
}

// Everything after the version, which decides what the rest may hold. `map` reads
// `mutable_map`, whose samples are moved out.
void decode_body(const io::JsonReader& map, nlohmann::json& mutable_map, Request& request) {
  if (request.id.empty()) {
    bad("", util::cat("id: must be a string of 1 to ", kMaxRequestIdBytes, " bytes"));
  }
  const io::JsonReader type_field = map.child("type");
  if (!type_field.value().is_string()) {
    type_field.fail(
        util::cat("must be a string: score, ping, info or stats; got ", type_field.describe()));
  }
  const std::string& type = type_field.as_string();
  if (type == "ping") {
    request.type = RequestType::kPing;
    map.allow_keys({"v", "id", "type"});
  } else if (type == "info") {
    request.type = RequestType::kInfo;
    map.allow_keys({"v", "id", "type", "deep"});
    if (map.has("deep")) request.deep = map.at("deep").as_bool();
  } else if (type == "stats") {
    request.type = RequestType::kStats;
    map.allow_keys({"v", "id", "type", "flush"});
    if (map.has("flush")) request.flush = map.at("flush").as_bool();
  } else if (type == "score") {
    decode_score(map, mutable_map, request);
  } else {
    type_field.fail(util::cat("unknown type \"", type, "\"; use score, ping, info or stats"));
  }
}

void check_frame_size(std::string_view frame, size_t max_bytes) {
  if (frame.size() > max_bytes) {
    throw ProtocolError(
        ErrorCode::kTooLarge,
        util::cat("request of ", frame.size(), " bytes is over the server's limit of ", max_bytes,
                  " bytes; send fewer samples per request"));
  }
}

// The frame as a JSON map: msgpack -> json, stopping at the first element past
// kMaxRequestElements or level past kMaxRequestDepth, before it is added to the tree. Strings and
// keys are checked for UTF-8 as they arrive; where the bad one is, is looked up only on error.
nlohmann::json parse_frame(std::string_view frame) {
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
  if (!map.is_object()) {
    bad("", util::cat("a request must be a msgpack map, got ", map.type_name()));
  }
  if (!parsed.all_utf8) {
    // No id: the request's own may be the bad string.
    const io::JsonFail refuse = [](const std::string& message) { bad("", message); };
    refuse_invalid_utf8(io::JsonReader(map, refuse));
    bad("", "the request holds text that is not valid UTF-8");  // not reached: the walk finds it
  }
  return std::move(map);
}

// The version first: a newer client's request may differ in everything else.
int read_version(const io::JsonReader& map, const std::string& id) {
  const io::JsonReader v = map.child("v");
  if (!v.value().is_number_integer()) {
    v.fail(util::cat("must be an integer (the protocol version), got ", v.describe()));
  }
  const int64_t version = v.value().get<int64_t>();
  if (version < kOldestProtocolVersion || version > kProtocolVersion) {
    throw ProtocolError(
        ErrorCode::kUnsupportedVersion,
        util::cat("protocol version ", v.value().dump(),
                  " is not spoken here; this server speaks versions ", spoken_versions()),
        id);
  }
  return static_cast<int>(version);
}

}  // namespace

Request decode_request(std::string_view frame, size_t max_bytes) {
  check_frame_size(frame, max_bytes);
  nlohmann::json map = parse_frame(frame);
  Request request;
  request.id = id_of(map);
  const io::JsonFail refuse = [&request](const std::string& message) { bad(request.id, message); };
  const io::JsonReader reader(map, refuse);
  request.version = read_version(reader, request.id);
  try {
    decode_body(reader, map, request);
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

}  // namespace safrl::serve
