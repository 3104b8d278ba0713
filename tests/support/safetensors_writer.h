// Builds safetensors files for tests (header-only, so any test binary can use it).
//
// SafetensorsWriter lays out a valid file the way the reference writer does: tensors back to back
// in the order added, the header padded with spaces to a multiple of 8 bytes. Corruption tests
// write a hand-made header with safetensors_bytes() instead.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace safrl::testing {

// The 8-byte little-endian length prefix, then `header`, then `data`; nothing is checked.
inline std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string out;
  uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  return out + header + data;
}

// Just the length prefix, for headers that claim more bytes than follow.
inline std::string length_prefix(uint64_t length) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  return out;
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

// Raw bytes of `values` in host order (little-endian on every host this project supports, which
// is the safetensors byte order).
template <typename T>
std::string raw_bytes(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// Bytes per element of the dtypes tests write, including ones the loader refuses.
inline size_t test_dtype_size(const std::string& dtype) {
  static const std::map<std::string, size_t> kSizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},     {"I32", 4},
      {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  auto it = kSizes.find(dtype);
  if (it == kSizes.end()) throw std::invalid_argument("test writer: unknown dtype " + dtype);
  return it->second;
}

class SafetensorsWriter {
 public:
  // `bytes` holds the raw little-endian data and must match shape x dtype size.
  SafetensorsWriter& add(const std::string& name, const std::string& dtype,
                         const std::vector<int64_t>& shape, std::string bytes) {
    size_t expected = test_dtype_size(dtype);
    for (int64_t dim : shape) expected *= static_cast<size_t>(dim);
    if (bytes.size() != expected) {
      throw std::invalid_argument("test writer: tensor " + name + " has " +
                                  std::to_string(bytes.size()) + " bytes, shape needs " +
                                  std::to_string(expected));
    }
    tensors_.push_back({name, dtype, shape, std::move(bytes)});
    return *this;
  }

  template <typename T>
  SafetensorsWriter& add_values(const std::string& name, const std::string& dtype,
                                const std::vector<int64_t>& shape, const std::vector<T>& values) {
    return add(name, dtype, shape, raw_bytes(values));
  }

  SafetensorsWriter& add_metadata(const std::string& key, const std::string& value) {
    metadata_[key] = value;
    return *this;
  }

  // The JSON header, padded with spaces to a multiple of 8 bytes.
  std::string header() const {
    nlohmann::json header = nlohmann::json::object();
    if (!metadata_.empty()) header["__metadata__"] = metadata_;
    size_t offset = 0;
    for (const Tensor& t : tensors_) {
      header[t.name] = {{"dtype", t.dtype},
                        {"shape", t.shape},
                        {"data_offsets", {offset, offset + t.bytes.size()}}};
      offset += t.bytes.size();
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    return text;
  }

  std::string data() const {
    std::string out;
    for (const Tensor& t : tensors_) out += t.bytes;
    return out;
  }

  std::string bytes() const { return safetensors_bytes(header(), data()); }

  void write(const std::string& path) const { write_file(path, bytes()); }

 private:
  struct Tensor {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    std::string bytes;
  };
  std::vector<Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace safrl::testing
