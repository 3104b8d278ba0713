#include "io/safetensors.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "io/json_reader.h"
#include "util/enum_names.h"
#include "util/error.h"

namespace safrl::io {
namespace {

using nlohmann::json;
using util::cat;
using util::LoadError;

constexpr size_t kLengthPrefixBytes = 8;
constexpr const char* kMetadataKey = "__metadata__";
constexpr const char* kSingleFileName = "model.safetensors";
constexpr const char* kIndexFileName = "model.safetensors.index.json";

// The dtypes a safetensors header may name, in the file format's spelling.
constexpr util::EnumName<util::Dtype> kSafetensorsDtypes[] = {
    {util::Dtype::kFloat32, "F32"},   {util::Dtype::kFloat16, "F16"},
    {util::Dtype::kBfloat16, "BF16"}, {util::Dtype::kInt32, "I32"},
    {util::Dtype::kInt64, "I64"},
};

uint64_t read_le64(const uint8_t* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

// Parses the header text, refusing a key repeated within one object: nlohmann would keep the
// last one silently, and a tensor listed twice means the writer was broken.
json parse_header_json(const char* begin, const char* end, const std::string& path) {
  std::vector<std::set<std::string>> open_objects;
  auto refuse_repeated_keys = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second) {
        throw LoadError(cat(path, ": safetensors header repeats the key \"", key,
                            "\" within one object; each tensor and field may appear once"));
      }
    }
    return true;
  };
  try {
    return json::parse(begin, end, refuse_repeated_keys);
  } catch (const json::exception& e) {
    throw LoadError(cat(path, ": safetensors header is not valid JSON (", e.what(),
                        "); the file is corrupt or not a safetensors file"));
  }
}

// The JsonFail of a header: every message names the file, then the key path inside the header
// (JsonReader's spelling: a tensor named with dots is ["model.norm.weight"]).
JsonFail header_fail(const std::string& path) {
  return [&path](const std::string& message) {
    throw LoadError(cat(path, ": safetensors header ", message));
  };
}

// One tensor entry as read from the header, before its offsets are turned into a pointer.
struct Entry {
  TensorView view;
  uint64_t begin = 0;
  uint64_t end = 0;
};

// A dimension or an offset: safetensors writes them as unsigned integers, kept within int64.
uint64_t read_size(const JsonReader& value) {
  return static_cast<uint64_t>(value.as_int(0));
}

void read_metadata(const JsonReader& value, std::map<std::string, std::string>* metadata) {
  if (!value.value().is_object()) {
    value.fail(cat("must be an object of string values, got ", value.describe()));
  }
  for (const auto& item : value.value().items()) {
    const std::string& text = value.child(item.key()).as_string();
    if (metadata != nullptr) (*metadata)[item.key()] = text;
  }
}

Entry read_entry(const std::string& name, const JsonReader& value, uint64_t data_size) {
  if (!value.value().is_object()) {
    value.fail(cat("must be an object with dtype, shape and data_offsets, got ", value.describe()));
  }
  constexpr std::string_view kNeeded = "each tensor needs dtype, shape and data_offsets";
  Entry entry;
  entry.view.name = name;

  const JsonReader dtype_field = value.at("dtype", kNeeded);
  const std::string& dtype_text = dtype_field.as_string();
  const std::optional<util::Dtype> dtype = util::find_name(kSafetensorsDtypes, dtype_text);
  if (!dtype) {
    dtype_field.fail(cat("\"", dtype_text, "\" is not supported (supported: ",
                         util::valid_names(kSafetensorsDtypes), ")"));
  }
  entry.view.dtype = *dtype;
  const uint64_t element_size = util::dtype_size(*dtype);

  const JsonReader shape = value.at("shape", kNeeded);
  // numel is computed in uint64 and kept within int64 (what numel() returns); a zero dimension
  // makes it zero however large the others are.
  constexpr uint64_t kMaxNumel = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t numel = 1;
  bool overflow = false;
  for (const JsonReader& dimension : shape.items()) {
    const uint64_t d = read_size(dimension);
    entry.view.shape.push_back(static_cast<int64_t>(d));
    if (d != 0 && numel > kMaxNumel / d) {
      overflow = true;
    } else {
      numel *= d;
    }
  }
  const bool has_zero_dim =
      std::find(entry.view.shape.begin(), entry.view.shape.end(), 0) != entry.view.shape.end();
  if (has_zero_dim) {
    numel = 0;
  } else if (overflow || numel > kMaxNumel / element_size) {
    shape.fail(cat(shape_string(entry.view.shape), " of ", dtype_text,
                   " has a byte size that overflows 64 bits"));
  }

  const JsonReader offsets = value.at("data_offsets", kNeeded);
  if (offsets.as_array().size() != 2) {
    offsets.fail(cat("has ", offsets.value().size(), " elements, expected 2 ([begin, end])"));
  }
  entry.begin = read_size(offsets.index(0));
  entry.end = read_size(offsets.index(1));
  const std::string span = cat("[", entry.begin, ", ", entry.end, "]");
  if (entry.begin > entry.end) offsets.fail(cat(span, " has begin after end"));
  if (entry.end > data_size) {
    offsets.fail(cat(span, " reaches past the end of the data section (", data_size,
                     " bytes); the file is truncated or corrupt"));
  }
  const uint64_t expected_bytes = numel * element_size;
  if (entry.end - entry.begin != expected_bytes) {
    offsets.fail(cat(span, " spans ", entry.end - entry.begin, " bytes, but shape ",
                     shape_string(entry.view.shape), " of ", dtype_text, " needs ", expected_bytes,
                     " bytes"));
  }
  entry.view.nbytes = static_cast<size_t>(expected_bytes);
  return entry;
}

// Shared bytes mean a broken or forged writer: one of the two tensors cannot hold what it claims.
// After sorting by begin, any overlap shows up between neighbours.
void check_no_overlap(std::vector<Entry*> entries, const std::string& path) {
  // Empty tensors occupy no bytes and cannot overlap anything.
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [](const Entry* e) { return e->begin == e->end; }),
                entries.end());
  std::sort(entries.begin(), entries.end(), [](const Entry* a, const Entry* b) {
    return std::tie(a->begin, a->end) < std::tie(b->begin, b->end);
  });
  for (size_t i = 1; i < entries.size(); ++i) {
    const Entry& prev = *entries[i - 1];
    const Entry& cur = *entries[i];
    if (cur.begin < prev.end) {
      throw LoadError(cat(path, ": tensors \"", prev.view.name, "\" [", prev.begin, ", ", prev.end,
                          ") and \"", cur.view.name, "\" [", cur.begin, ", ", cur.end,
                          ") overlap in the data section"));
    }
  }
}

std::string join_path(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

bool is_regular_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

// weight_map of an index file: tensor name -> shard file name.
std::map<std::string, std::string> read_weight_map(const std::string& index_path) {
  const std::string text = util::read_text_file(index_path);
  json index;
  try {
    index = json::parse(text);
  } catch (const json::exception& e) {
    throw LoadError(cat(index_path, ": not valid JSON (", e.what(), ")"));
  }
  const JsonFail fail = [&index_path](const std::string& message) {
    throw LoadError(cat(index_path, ": ", message));
  };
  const JsonReader root(index, fail);
  if (!index.is_object()) {
    root.fail(cat("must be an object with a \"weight_map\", got ", root.describe()));
  }
  const JsonReader map =
      root.at("weight_map", "give an object mapping tensor names to shard files");
  if (!map.value().is_object()) {
    map.fail(cat("must be an object mapping tensor names to shard files, got ", map.describe()));
  }
  std::map<std::string, std::string> weight_map;
  for (const auto& item : map.value().items()) {
    const JsonReader shard = map.child(item.key());
    if (!shard.value().is_string()) {
      shard.fail(cat("must be a shard file name, got ", shard.describe()));
    }
    const std::string& shard_name = shard.as_string();
    // Shards sit next to the index; a path would let the index reach outside the checkpoint.
    if (shard_name.empty() || shard_name.find('/') != std::string::npos || shard_name == "." ||
        shard_name == "..") {
      shard.fail(cat("names shard \"", shard_name,
                     "\"; expected a plain file name in the checkpoint directory"));
    }
    weight_map[item.key()] = shard_name;
  }
  if (weight_map.empty()) map.fail("is empty; list the shard of every tensor");
  return weight_map;
}

}  // namespace

std::string_view safetensors_dtype_name(util::Dtype dtype) {
  return util::name_of(kSafetensorsDtypes, dtype);
}

int64_t TensorView::numel() const {
  // A zero dimension first: the other dimensions alone may overflow (parse accepts them).
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  int64_t n = 1;
  for (int64_t dim : shape) n *= dim;
  return n;
}

std::vector<TensorView> parse_safetensors(const uint8_t* data, size_t size, const std::string& path,
                                          std::map<std::string, std::string>* metadata) {
  if (size < kLengthPrefixBytes) {
    throw LoadError(cat(path, ": file is ", size, " bytes, shorter than the ", kLengthPrefixBytes,
                        "-byte header length; the file is truncated or not a safetensors file"));
  }
  const uint64_t header_length = read_le64(data);
  const uint64_t after_prefix = size - kLengthPrefixBytes;
  if (header_length > after_prefix) {
    throw LoadError(cat(path, ": header length is ", header_length, " bytes but only ",
                        after_prefix,
                        " bytes follow the length prefix; the file is truncated or not a "
                        "safetensors file"));
  }
  const char* header_begin = reinterpret_cast<const char*>(data + kLengthPrefixBytes);
  const json header = parse_header_json(header_begin, header_begin + header_length, path);
  const JsonFail fail = header_fail(path);
  const JsonReader root(header, fail);
  if (!header.is_object()) {
    root.fail(cat("must be an object mapping tensor names to dtype, shape and data_offsets, got ",
                  root.describe()));
  }

  const uint8_t* data_section = data + kLengthPrefixBytes + header_length;
  const uint64_t data_size = after_prefix - header_length;
  if (metadata != nullptr) metadata->clear();
  std::vector<Entry> entries;
  entries.reserve(header.size());
  for (const auto& item : header.items()) {
    const JsonReader value = root.child(item.key());
    if (item.key() == kMetadataKey) {
      read_metadata(value, metadata);
    } else {
      entries.push_back(read_entry(item.key(), value, data_size));
    }
  }
  std::vector<Entry*> by_offset;
  for (Entry& entry : entries) by_offset.push_back(&entry);
  check_no_overlap(std::move(by_offset), path);

  std::vector<TensorView> views;
  views.reserve(entries.size());
  for (Entry& entry : entries) {
    entry.view.data = data_section + entry.begin;
    entry.view.file = &path;
    views.push_back(std::move(entry.view));
  }
  return views;  // sorted by name: nlohmann keeps object keys sorted
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  // In the body, not the initializer list: metadata_ is constructed after tensors_.
  tensors_ = parse_safetensors(file_.data(), file_.size(), file_.path(), &metadata_);
}

const TensorView* SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorView& t, std::string_view n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

Checkpoint::Checkpoint(const std::string& dir) : dir_(dir) {
  const std::string single_path = join_path(dir, kSingleFileName);
  const std::string index_path = join_path(dir, kIndexFileName);
  // transformers prefers the single file when both exist; so do we, to load the same weights.
  if (is_regular_file(single_path)) {
    files_.push_back(std::make_unique<SafetensorsFile>(single_path));
    for (const TensorView& tensor : files_.back()->tensors()) by_name_[tensor.name] = &tensor;
    return;
  }
  if (!is_regular_file(index_path)) {
    std::error_code ec;
    const bool dir_exists = std::filesystem::is_directory(dir, ec);
    throw LoadError(cat("no safetensors checkpoint in ", dir, ": looked for ", single_path, " and ",
                        index_path, dir_exists ? "" : " (the directory does not exist)"));
  }

  const std::map<std::string, std::string> weight_map = read_weight_map(index_path);
  std::set<std::string> shard_names;
  for (const auto& [tensor, shard] : weight_map) {
    if (shard_names.insert(shard).second && !is_regular_file(join_path(dir, shard))) {
      throw LoadError(cat(index_path, " lists shard ", shard, " (for tensor \"", tensor,
                          "\" and maybe others) but ", join_path(dir, shard), " does not exist"));
    }
  }

  std::map<std::string, std::string> shard_of;  // tensor -> shard it was found in
  for (const std::string& shard : shard_names) {
    files_.push_back(std::make_unique<SafetensorsFile>(join_path(dir, shard)));
    for (const TensorView& tensor : files_.back()->tensors()) {
      auto [it, inserted] = shard_of.emplace(tensor.name, shard);
      if (!inserted) {
        throw LoadError(cat("checkpoint ", dir, ": tensor \"", tensor.name,
                            "\" appears in two shards, ", it->second, " and ", shard));
      }
      by_name_[tensor.name] = &tensor;
    }
  }
  for (const auto& [tensor, shard] : weight_map) {
    auto it = shard_of.find(tensor);
    if (it == shard_of.end()) {
      throw LoadError(cat(index_path, " places tensor \"", tensor, "\" in shard ", shard,
                          ", but no shard holds it"));
    }
    if (it->second != shard) {
      throw LoadError(cat(index_path, " places tensor \"", tensor, "\" in shard ", shard,
                          ", but it is in shard ", it->second));
    }
  }
  for (const auto& [tensor, shard] : shard_of) {
    if (weight_map.count(tensor) == 0) {
      throw LoadError(cat("checkpoint ", dir, ": shard ", shard, " holds tensor \"", tensor,
                          "\", which ", index_path, " does not list"));
    }
  }
}

const TensorView* Checkpoint::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const TensorView& Checkpoint::get(std::string_view name) const {
  const TensorView* tensor = find(name);
  if (tensor == nullptr) {
    throw LoadError(cat("checkpoint ", dir_, " has no tensor \"", name, "\" (it holds ",
                        by_name_.size(), " tensors)"));
  }
  return *tensor;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& [name, tensor] : by_name_) out.push_back(name);
  return out;
}

}  // namespace safrl::io
