// The spellings of compute devices and dtypes, in one place for the config file, the command line,
// the safetensors reader and the torch layer (which turns them into torch types). Torch-free; pure
// functions.
#pragma once

#include <cstddef>
#include <string_view>

namespace safrl::util {

// The element types safrl reads or computes in: the floating compute dtypes a model runs and keeps
// its weights in, and the integer types a safetensors file may also hold (never weights).
enum class Dtype { kFloat32, kBfloat16, kFloat16, kInt32, kInt64 };

// A dtype a model may compute in or store its weights in: float32, bfloat16, float16.
bool is_compute_dtype(Dtype dtype);
// Bytes per element.
size_t dtype_size(Dtype dtype);

// A compute dtype: "float32" | "bfloat16" | "float16"; throws util::InputError listing them
// otherwise (the integer types are not spellings of the config or the command line).
Dtype parse_dtype(std::string_view name);
// "float32", "bfloat16", "float16", "int32", "int64".
std::string_view dtype_name(Dtype dtype);

struct DeviceName {
  bool cuda = false;
  int index = 0;  // the CUDA device ("cuda" is cuda:0)
};

// "cpu" | "cuda" | "cuda:N"; throws util::InputError listing them otherwise.
DeviceName parse_device(std::string_view name);

}  // namespace safrl::util
