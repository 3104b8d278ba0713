// The spellings of compute devices and dtypes, in one place for the config file, the command line
// and the torch layer (which turns them into torch types). Torch-free; pure functions.
#pragma once

#include <string_view>

namespace safrl::util {

enum class Dtype { kFloat32, kBfloat16, kFloat16 };

// "float32" | "bfloat16" | "float16"; throws util::InputError listing them otherwise.
Dtype parse_dtype(std::string_view name);
std::string_view dtype_name(Dtype dtype);

struct DeviceName {
  bool cuda = false;
  int index = 0;  // the CUDA device ("cuda" is cuda:0)
};

// "cpu" | "cuda" | "cuda:N"; throws util::InputError listing them otherwise.
DeviceName parse_device(std::string_view name);

}  // namespace safrl::util
