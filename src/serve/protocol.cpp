#include "serve/protocol.h"

#include <array>
#include <utility>

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

// Nesting allowed in a request; `meta` may hold any JSON, but nothing sensible nests deeper.
constexpr int kMaxDepth = 64;

// msgpack -> json through nlohmann's DOM builder, refusing (returning false) past kMaxDepth: the
// recursive reader would otherwise overflow the stack on a small frame of nested arrays.
class DepthLimitedBuilder : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit DepthLimitedBuilder(nlohmann::json& out) : dom_(out, true) {}
  bool too_deep() const { return too_deep_; }

  bool null() override { return dom_.null(); }
  bool boolean(bool v) override { return dom_.boolean(v); }
  bool number_integer(number_integer_t v) override { return dom_.number_integer(v); }
  bool number_unsigned(number_unsigned_t v) override { return dom_.number_unsigned(v); }
  bool number_float(number_float_t v, const string_t& s) override {
    return dom_.number_float(v, s);
  }
  bool string(string_t& v) override { return dom_.string(v); }
  bool binary(binary_t& v) override { return dom_.binary(v); }
  bool start_object(std::size_t n) override { return enter() && dom_.start_object(n); }
  bool key(string_t& v) override { return dom_.key(v); }
  bool end_object() override {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) override { return enter() && dom_.start_array(n); }
  bool end_array() override {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t position, const std::string& token,
                   const nlohmann::detail::exception& e) override {
    return dom_.parse_error(position, token, e);
  }

 private:
  bool enter() {
    too_deep_ = ++depth_ > kMaxDepth;
    return !too_deep_;
  }
  nlohmann::detail::json_sax_dom_parser<nlohmann::json> dom_;
  int depth_ = 0;
  bool too_deep_ = false;
};

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

void add_groups(const nlohmann::json& groups, std::optional<int64_t> step, Request& request) {
  if (!groups.is_array()) bad(request.id, "\"groups\" must be an array");
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& group = groups[g];
    const std::string where = util::cat("groups[", g, "]");
    if (!group.is_object()) bad(request.id, where + " must be a map");
    only_keys(group, {"prompt", "responses", "ids", "step"}, where, request.id);
    if (!group.contains("prompt") || !group["prompt"].is_string()) {
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
    for (size_t k = 0; k < responses.size(); ++k) {
      nlohmann::json sample = {{"prompt", group["prompt"]}, {"response", responses[k]}};
      sample["id"] = group.contains("ids") ? group["ids"][k] : nlohmann::json(util::cat(g, "/", k));
      if (group_step || step) sample["step"] = group_step ? *group_step : *step;
      try {
        request.samples.push_back(reward::sample_from_json(sample));
      } catch (const util::InputError& e) {
        bad(request.id, util::cat(where, " response ", k, ": ", e.what()));
      }
      request.group_of.push_back(static_cast<int>(g));
    }
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
  nlohmann::json map;
  try {
    DepthLimitedBuilder builder(map);
    if (!nlohmann::json::sax_parse(frame.begin(), frame.end(), &builder,
                                   nlohmann::json::input_format_t::msgpack) &&
        builder.too_deep()) {
      bad("", util::cat("the request is nested deeper than ", kMaxDepth, " levels"));
    }
  } catch (const nlohmann::json::exception& e) {
    bad("", util::cat("the frame is not valid msgpack (", e.what(), ")"));
  }
  if (!map.is_object())
    bad("", util::cat("a request must be a msgpack map, got ", map.type_name()));
  if (const std::string path = invalid_utf8_path(map, "request"); !path.empty()) {
    bad("", util::cat(path, " is not valid UTF-8"));
  }
  Request request;
  const bool id_ok = map.contains("id") && map["id"].is_string() &&
                     !map["id"].get_ref<const std::string&>().empty() &&
                     map["id"].get_ref<const std::string&>().size() <= kMaxRequestIdBytes;
  if (id_ok) request.id = map["id"].get<std::string>();
  // The version first: a newer client's request may differ in everything else.
  if (!map.contains("v") || !map["v"].is_number_integer()) {
    bad(request.id, "\"v\" (the protocol version) must be an integer");
  }
  if (map["v"].get<int64_t>() != kProtocolVersion) {
    throw ProtocolError(
        ErrorCode::kUnsupportedVersion,
        util::cat("protocol version ", map["v"].dump(),
                  " is not spoken here; this server speaks version ", kProtocolVersion),
        request.id);
  }
  if (!id_ok) bad("", util::cat("\"id\" must be a string of 1 to ", kMaxRequestIdBytes, " bytes"));
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
    request.type = RequestType::kScore;
    only_keys(map, {"v", "id", "type", "samples", "groups", "step", "deadline_ms"},
              "a score request", request.id);
    const auto step = optional_int(map, "step", 0, "the request", request.id);
    request.deadline_ms = optional_int(map, "deadline_ms", 1, "the request", request.id);
    constexpr int64_t kDay = 24LL * 3600 * 1000;
    if (request.deadline_ms && *request.deadline_ms > kDay) {
      bad(request.id, util::cat("\"deadline_ms\" must be at most ", kDay, " (one day)"));
    }
    if (map.contains("samples")) {
      const auto& samples = map["samples"];
      if (!samples.is_array()) bad(request.id, "\"samples\" must be an array");
      for (size_t i = 0; i < samples.size(); ++i) {
        nlohmann::json sample = samples[i];
        if (step && sample.is_object() && !sample.contains("step")) sample["step"] = *step;
        try {
          request.samples.push_back(reward::sample_from_json(sample));
        } catch (const util::InputError& e) {
          bad(request.id, util::cat("samples[", i, "]: ", e.what()));
        }
        request.group_of.push_back(-1);
      }
    }
    if (map.contains("groups")) add_groups(map["groups"], step, request);
    if (request.samples.empty()) {
      bad(request.id, "a score request needs at least one sample or group");
    }
  } else {
    bad(request.id, util::cat("unknown type \"", type, "\"; use score, ping, info or stats"));
  }
  return request;
}

std::string encode(nlohmann::json reply) {
  reply["v"] = kProtocolVersion;
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
