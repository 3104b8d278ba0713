#include "serve/front_frame.h"

#include <cstring>

namespace safrl::serve {

namespace {

enum class Kind { kNil, kBool, kInt, kUint, kFloat, kStr, kBin, kArray, kMap, kExt };

struct Header {
  Kind kind = Kind::kNil;
  uint64_t length = 0;  // bytes of a str, bin or ext payload; elements of an array; pairs of a map
  int64_t value = 0;    // an integer's value (uint clamped to int64)
};

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  bool header(Header& h) {
    uint8_t b = 0;
    if (!byte(b)) return false;
    h = Header{};
    if (b <= 0x7f) return integer(h, b);
    if (b >= 0xe0) return integer(h, static_cast<int8_t>(b));
    if ((b & 0xf0) == 0x80) return sized(h, Kind::kMap, b & 0x0f);
    if ((b & 0xf0) == 0x90) return sized(h, Kind::kArray, b & 0x0f);
    if ((b & 0xe0) == 0xa0) return sized(h, Kind::kStr, b & 0x1f);
    switch (b) {
      case 0xc0:
        h.kind = Kind::kNil;
        return true;
      case 0xc2:
      case 0xc3:
        h.kind = Kind::kBool;
        return true;
      case 0xc4:
        return sized_by(h, Kind::kBin, 1);
      case 0xc5:
        return sized_by(h, Kind::kBin, 2);
      case 0xc6:
        return sized_by(h, Kind::kBin, 4);
      case 0xc7:
        return sized_by(h, Kind::kExt, 1) && skip(1);
      case 0xc8:
        return sized_by(h, Kind::kExt, 2) && skip(1);
      case 0xc9:
        return sized_by(h, Kind::kExt, 4) && skip(1);
      case 0xca:
        h.kind = Kind::kFloat;
        return skip(4);
      case 0xcb:
        h.kind = Kind::kFloat;
        return skip(8);
      case 0xcc:
      case 0xcd:
      case 0xce:
      case 0xcf: {
        uint64_t v = 0;
        if (!big_endian(1u << (b - 0xcc), v)) return false;
        h.kind = Kind::kUint;
        h.value = v > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(v);
        return true;
      }
      case 0xd0:
      case 0xd1:
      case 0xd2:
      case 0xd3: {
        const unsigned n = 1u << (b - 0xd0);
        uint64_t v = 0;
        if (!big_endian(n, v)) return false;
        // Sign-extend the n-byte two's complement value.
        if (n < 8 && (v >> (8 * n - 1)) != 0) v |= ~uint64_t{0} << (8 * n);
        int64_t s = 0;
        std::memcpy(&s, &v, sizeof s);
        return integer(h, s);
      }
      case 0xd4:
        h.kind = Kind::kExt;
        return skip(2);
      case 0xd5:
        h.kind = Kind::kExt;
        return skip(3);
      case 0xd6:
        h.kind = Kind::kExt;
        return skip(5);
      case 0xd7:
        h.kind = Kind::kExt;
        return skip(9);
      case 0xd8:
        h.kind = Kind::kExt;
        return skip(17);
      case 0xd9:
        return sized_by(h, Kind::kStr, 1);
      case 0xda:
        return sized_by(h, Kind::kStr, 2);
      case 0xdb:
        return sized_by(h, Kind::kStr, 4);
      case 0xdc:
        return sized_by(h, Kind::kArray, 2);
      case 0xdd:
        return sized_by(h, Kind::kArray, 4);
      case 0xde:
        return sized_by(h, Kind::kMap, 2);
      case 0xdf:
        return sized_by(h, Kind::kMap, 4);
      default:
        return false;  // 0xc1, never used
    }
  }

  // The payload of a str, bin or ext whose header was just read.
  bool payload(const Header& h, std::string_view& out) {
    if (h.length > left()) return false;
    out = bytes_.substr(position_, h.length);
    position_ += h.length;
    return true;
  }

  // Skips one whole value. Elements still to skip are a count, not a stack, and each takes at
  // least one byte, so a count beyond the bytes left is refused at once.
  bool skip_value() {
    uint64_t values = 1;
    while (values > 0) {
      --values;
      Header h;
      if (!header(h)) return false;
      if (h.kind == Kind::kStr || h.kind == Kind::kBin || h.kind == Kind::kExt) {
        if (!skip(h.length)) return false;
      } else if (h.kind == Kind::kArray || h.kind == Kind::kMap) {
        values += h.kind == Kind::kMap ? 2 * h.length : h.length;
        if (values > left()) return false;
      }
    }
    return true;
  }

  bool at_end() const { return position_ == bytes_.size(); }
  // The bytes read since `earlier`, a copy of this reader made before them.
  std::string_view since(const Reader& earlier) const {
    return bytes_.substr(earlier.position_, position_ - earlier.position_);
  }

 private:
  uint64_t left() const { return bytes_.size() - position_; }
  bool byte(uint8_t& b) {
    if (left() < 1) return false;
    b = static_cast<uint8_t>(bytes_[position_++]);
    return true;
  }
  bool skip(uint64_t n) {
    if (n > left()) return false;
    position_ += n;
    return true;
  }
  bool big_endian(unsigned n, uint64_t& v) {
    if (n > left()) return false;
    v = 0;
    for (unsigned i = 0; i < n; ++i) v = v << 8 | static_cast<uint8_t>(bytes_[position_++]);
    return true;
  }
  static bool integer(Header& h, int64_t v) {
    h.kind = Kind::kInt;
    h.value = v;
    return true;
  }
  static bool sized(Header& h, Kind kind, uint64_t length) {
    h.kind = kind;
    h.length = length;
    return true;
  }
  bool sized_by(Header& h, Kind kind, unsigned n) {
    uint64_t length = 0;
    return big_endian(n, length) && sized(h, kind, length);
  }

  std::string_view bytes_;
  uint64_t position_ = 0;
};

// Reads a str value into `out`, or skips a value of another kind.
bool read_string(Reader& reader, std::optional<std::string>& out) {
  Reader probe = reader;
  Header h;
  if (!probe.header(h)) return false;
  if (h.kind != Kind::kStr) return reader.skip_value();
  std::string_view text;
  if (!probe.payload(h, text)) return false;
  out = std::string(text);
  reader = probe;
  return true;
}

// The key of a map entry when it is a str (else it is skipped and `key` left empty).
bool read_key(Reader& reader, std::string_view& key) {
  Reader probe = reader;
  Header h;
  if (!probe.header(h)) return false;
  key = {};
  if (h.kind != Kind::kStr) return reader.skip_value();
  if (!probe.payload(h, key)) return false;
  reader = probe;
  return true;
}

bool read_error_code(Reader& reader, std::optional<std::string>& code) {
  Reader probe = reader;
  Header h;
  if (!probe.header(h)) return false;
  if (h.kind != Kind::kMap) return reader.skip_value();
  for (uint64_t i = 0; i < h.length; ++i) {
    std::string_view key;
    if (!read_key(probe, key)) return false;
    if (!(key == "code" ? read_string(probe, code) : probe.skip_value())) return false;
  }
  reader = probe;
  return true;
}

// What routes a sample or group: its "prompt", or the msgpack bytes of its "messages" (equal
// conversations sent alike route alike).
bool read_affinity(Reader& reader, std::string_view key, std::optional<std::string>& prompt) {
  if (key == "prompt") return read_string(reader, prompt);
  if (key != "messages") return reader.skip_value();
  const Reader start = reader;
  if (!reader.skip_value()) return false;
  prompt = std::string(reader.since(start));
  return true;
}

// The affinity of the first map in an array (samples, groups); the other elements are skipped.
bool read_first_prompt(Reader& reader, std::optional<std::string>& prompt) {
  Reader probe = reader;
  Header array;
  if (!probe.header(array)) return false;
  if (array.kind != Kind::kArray) return reader.skip_value();
  for (uint64_t i = 0; i < array.length; ++i) {
    Header map;
    Reader element = probe;
    if (i == 0 && element.header(map) && map.kind == Kind::kMap) {
      for (uint64_t k = 0; k < map.length; ++k) {
        std::string_view key;
        if (!read_key(element, key)) return false;
        if (!read_affinity(element, key, prompt)) return false;
      }
      probe = element;
    } else if (!probe.skip_value()) {
      return false;
    }
  }
  reader = probe;
  return true;
}

}  // namespace

std::optional<FrameFields> read_frame_fields(std::string_view frame) {
  Reader reader(frame);
  Header map;
  if (!reader.header(map) || map.kind != Kind::kMap) return std::nullopt;
  FrameFields fields;
  std::optional<std::string> group_prompt, sample_prompt;
  for (uint64_t i = 0; i < map.length; ++i) {
    std::string_view key;
    if (!read_key(reader, key)) return std::nullopt;
    bool ok = true;
    if (key == "id") {
      ok = read_string(reader, fields.id);
    } else if (key == "type") {
      ok = read_string(reader, fields.type);
    } else if (key == "error") {
      ok = read_error_code(reader, fields.error_code);
    } else if (key == "groups") {
      ok = read_first_prompt(reader, group_prompt);
    } else if (key == "samples") {
      ok = read_first_prompt(reader, sample_prompt);
    } else if (key == "deadline_ms") {
      Reader probe = reader;
      Header h;
      ok = probe.header(h);
      if (ok && (h.kind == Kind::kInt || h.kind == Kind::kUint)) {
        fields.deadline_ms = h.value;
        reader = probe;
      } else {
        ok = ok && reader.skip_value();
      }
    } else {
      ok = reader.skip_value();
    }
    if (!ok) return std::nullopt;
  }
  if (!reader.at_end()) return std::nullopt;
  fields.first_prompt = group_prompt ? group_prompt : sample_prompt;
  return fields;
}

}  // namespace safrl::serve
