#include "util/device_names.h"

#include <string>

#include "util/enum_names.h"
#include "util/error.h"

namespace safrl::util {
namespace {

constexpr EnumName<Dtype> kDtypeNames[] = {
    {Dtype::kFloat32, "float32"},
    {Dtype::kBfloat16, "bfloat16"},
    {Dtype::kFloat16, "float16"},
};

}  // namespace

Dtype parse_dtype(std::string_view name) {
  return parse_name(kDtypeNames, name, "dtype");
}

std::string_view dtype_name(Dtype dtype) {
  return name_of(kDtypeNames, dtype);
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
