// Read-only access to safetensors checkpoints (no LibTorch).
//
// SafetensorsFile maps one .safetensors file and validates its header completely before any
// tensor is handed out: header length bounded by the file, well-formed JSON, known dtypes,
// offsets inside the data section, byte length equal to shape x dtype size, no overlapping
// tensors. Checkpoint opens a Hugging Face model directory: model.safetensors, or the shards
// listed by model.safetensors.index.json. Every error is a util::LoadError that names the file
// and, where there is one, the tensor.
//
// Tensor views point into the mapping and stay valid while their file object lives. Both classes
// are immutable after construction and safe to read from several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/device_names.h"
#include "util/mapped_file.h"

namespace safrl::io {

// The safetensors spelling of a dtype (util/device_names.h): "F32", "F16", "BF16", "I32", "I64".
std::string_view safetensors_dtype_name(util::Dtype dtype);

struct TensorView {
  std::string name;
  util::Dtype dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapped file; not necessarily aligned
  size_t nbytes = 0;
  const std::string* file = nullptr;  // path of the file that holds it, for messages

  int64_t numel() const;
};

// Parses and validates a safetensors header against a buffer of `size` bytes (the whole file).
// Exposed apart from the file class so the fuzz target can drive it on raw bytes.
// `path` is used in error messages, and each view's `file` points at it, so it must outlive them.
std::vector<TensorView> parse_safetensors(const uint8_t* data, size_t size, const std::string& path,
                                          std::map<std::string, std::string>* metadata = nullptr);

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  // Neither copyable nor movable: the views' `file` points at the path held here.
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return file_.path(); }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when absent.
  const TensorView* find(std::string_view name) const;

 private:
  util::MappedFile file_;
  std::vector<TensorView> tensors_;  // sorted by name
  std::map<std::string, std::string> metadata_;
};

class Checkpoint {
 public:
  // `dir` holds model.safetensors or model.safetensors.index.json with its shards. With an index,
  // every listed shard must exist, every tensor must sit in the shard the index names, and no
  // tensor may appear twice.
  explicit Checkpoint(const std::string& dir);

  const std::string& dir() const { return dir_; }
  // nullptr when absent.
  const TensorView* find(std::string_view name) const;
  // Throws LoadError naming the tensor and the directory when absent.
  const TensorView& get(std::string_view name) const;
  // All tensor names, sorted.
  std::vector<std::string> names() const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*, std::less<>> by_name_;
};

}  // namespace safrl::io
