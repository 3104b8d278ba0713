// The wire protocol (docs/protocol.md): msgpack maps in single ZeroMQ frames. Version 2 adds
// conversations (messages, agent turns, tool calls) and per-request judging switches; a version 1
// request is decoded and answered exactly as before version 2 existed.
//
// decode_request() turns a frame into a validated Request or throws ProtocolError with the error
// code and a message that tells the caller what to change; it never trusts sizes or types it was
// sent. Samples are validated by reward::sample_from_json, the same code `safrl score` uses.
// encode() turns a reply into a frame. Pure functions, thread-safe, no LibTorch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "reward/sample.h"
#include "serve/error_reply.h"
#include "util/error.h"

namespace safrl::serve {

// The newest version; kOldestProtocolVersion up to it are spoken.
inline constexpr int kProtocolVersion = 2;
inline constexpr int kOldestProtocolVersion = 1;
inline constexpr size_t kMaxRequestIdBytes = 128;

// Bounds a request is decoded under (docs/protocol.md, "Bounds"). The first two are checked while
// the frame is read, so a frame past them costs no more than reading up to the bound: one legal
// 16 MiB frame of 16 M nils otherwise built a 1.3 GB tree and held the I/O thread for 23 s.
// Nesting: nothing sensible nests deeper, and the reader recurses.
inline constexpr int kMaxRequestDepth = 64;
// Values, keys, arrays and maps in one request: a full request of max_queued_samples (4096)
// samples with a few fields and a small `meta` each is about 50,000.
inline constexpr size_t kMaxRequestElements = 1 << 18;
// One sample's `meta`, echoed back in the reply and kept in the reply cache with it: its msgpack
// encoding and its nesting below `meta` itself.
inline constexpr size_t kMaxMetaBytes = 1 << 20;
inline constexpr int kMaxMetaDepth = 16;

class ProtocolError : public util::Error {
 public:
  ProtocolError(ErrorCode code, const std::string& message, std::string request_id = {})
      : util::Error(message), code_(code), request_id_(std::move(request_id)) {}
  ErrorCode code() const { return code_; }
  // What the request is answered with (its id and version are below).
  ErrorReply reply() const { return {code_, what(), std::nullopt}; }
  // The request's id when it could be read, so the error reply can echo it.
  const std::string& request_id() const { return request_id_; }
  // The request's version when it was one spoken here, so the reply speaks it; else the newest.
  int version() const { return version_; }
  void set_version(int version) { version_ = version; }

 private:
  ErrorCode code_;
  std::string request_id_;
  int version_ = kProtocolVersion;
};

enum class RequestType { kScore, kPing, kInfo, kStats };

struct Request {
  std::string id;
  int version = kProtocolVersion;  // the reply speaks it
  RequestType type = RequestType::kPing;
  // score: samples first, then group members; group_of[i] is the group index of samples[i], or
  // -1 for a sample sent on its own.
  std::vector<reward::Sample> samples;
  std::vector<int> group_of;
  std::optional<int64_t> deadline_ms;
  bool flush = false;  // stats
  bool deep = false;   // info
};

// Throws ProtocolError: kTooLarge before decoding anything when the frame exceeds `max_bytes`, and
// as soon as it holds more than kMaxRequestElements elements or a `meta` over kMaxMetaBytes;
// kBadRequest past kMaxRequestDepth or kMaxMetaDepth, for a version 2 field in a version 1
// request, and for an invalid sample or conversation (naming the sample or group, and the
// message); kUnsupportedVersion for a version not spoken. The request's judging switches are
// copied into every sample and group member that does not set its own, as its step is; its
// "token_safety" (version 2) into every sample (reward::Sample::token_safety).
Request decode_request(std::string_view frame, size_t max_bytes);

// A score result (a score line) as a request of `version` gets it: version 1 requests get the
// fields version 1 replied ("channels", "injection" and "answer_tokens" are version 2's), so a
// version 1 client is answered as before.
void fit_result_to_version(nlohmann::json& result, int version);

// A reply frame: msgpack of `reply` with "v" set to `version` (the request's).
std::string encode(nlohmann::json reply, int version = kProtocolVersion);
// Decodes a reply frame (clients); throws util::Error when it is not a msgpack map.
nlohmann::json decode_reply(std::string_view frame);

}  // namespace safrl::serve
