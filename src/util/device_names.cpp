#include "util/device_names.h"

#include <stdexcept>
#include <string>

#include "util/enum_names.h"
#include "util/error.h"

namespace safrl::util {
namespace {

// The spellings parse_dtype accepts: the compute dtypes only.
constexpr EnumName<Dtype> kComputeDtypeNames[] = {
    {Dtype::kFloat32, "float32"},
    {Dtype::kBfloat16, "bfloat16"},
    {Dtype::kFloat16, "float16"},
};

constexpr EnumName<Dtype> kIntegerDtypeNames[] = {
    {Dtype::kInt32, "int32"},
    {Dtype::kInt64, "int64"},
};

}  // namespace

bool is_compute_dtype(Dtype dtype) {
  return dtype != Dtype::kInt32 && dtype != Dtype::kInt64;
}

size_t dtype_size(Dtype dtype) {
  switch (dtype) {
    case Dtype::kFloat32:
    case Dtype::kInt32:
      return 4;
    case Dtype::kBfloat16:
    case Dtype::kFloat16:
      return 2;
    case Dtype::kInt64:
      return 8;
  }
  throw std::logic_error("dtype_size: Dtype value out of range");
}

Dtype parse_dtype(std::string_view name) {
  return parse_name(kComputeDtypeNames, name, "dtype");
}

std::string_view dtype_name(Dtype dtype) {
  return is_compute_dtype(dtype) ? name_of(kComputeDtypeNames, dtype)
                                 : name_of(kIntegerDtypeNames, dtype);
}

DeviceName parse_device(std::string_view name) {
  if (name == "cpu") return {};
  if (name == "cuda") return {true, 0};
  constexpr std::string_view kCudaPrefix = "cuda:";
  const std::string_view index = name.substr(std::min(name.size(), kCudaPrefix.size()));
  if (name.rfind(kCudaPrefix, 0) == 0 && !index.empty() && index.size() <= 4 &&
      index.find_first_not_of("0123456789") == std::string_view::npos) {
    return {true, std::stoi(std::string(index))};
  }
  throw InputError(cat("unknown device \"", name, "\"; valid values: cpu, cuda, cuda:N"));
}

}  // namespace safrl::util
