// The one place where device and dtype spellings are checked (config file, command line, engine).
#include "util/device_names.h"

#include <gtest/gtest.h>

#include "util/error.h"

namespace safrl::util {
namespace {

std::string input_error(const std::string& name, bool device) {
  try {
    device ? (void)parse_device(name) : (void)parse_dtype(name);
  } catch (const InputError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(DeviceNames, Dtypes) {
  EXPECT_EQ(parse_dtype("float32"), Dtype::kFloat32);
  EXPECT_EQ(parse_dtype("bfloat16"), Dtype::kBfloat16);
  EXPECT_EQ(parse_dtype("float16"), Dtype::kFloat16);
  EXPECT_EQ(dtype_name(Dtype::kBfloat16), "bfloat16");
  EXPECT_EQ(input_error("bf16", false),
            "unknown dtype \"bf16\"; valid values: float32, bfloat16, float16");
  // The integer types safetensors files hold are no compute dtype: the config cannot name them.
  EXPECT_EQ(input_error("int32", false),
            "unknown dtype \"int32\"; valid values: float32, bfloat16, float16");
}

TEST(DeviceNames, DtypeSizesNamesAndTheComputeSubset) {
  const struct {
    Dtype dtype;
    size_t size;
    const char* name;
    bool compute;
  } kCases[] = {
      {Dtype::kFloat32, 4, "float32", true}, {Dtype::kBfloat16, 2, "bfloat16", true},
      {Dtype::kFloat16, 2, "float16", true}, {Dtype::kInt32, 4, "int32", false},
      {Dtype::kInt64, 8, "int64", false},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(dtype_size(c.dtype), c.size) << c.name;
    EXPECT_EQ(dtype_name(c.dtype), c.name);
    EXPECT_EQ(is_compute_dtype(c.dtype), c.compute) << c.name;
  }
}

TEST(DeviceNames, Devices) {
  EXPECT_FALSE(parse_device("cpu").cuda);
  EXPECT_TRUE(parse_device("cuda").cuda);
  EXPECT_EQ(parse_device("cuda").index, 0);
  EXPECT_EQ(parse_device("cuda:12").index, 12);
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", "cuda:1 ", "cuda:99999"}) {
    EXPECT_EQ(input_error(bad, true),
              std::string("unknown device \"") + bad + "\"; valid values: cpu, cuda, cuda:N")
        << bad;
  }
}

}  // namespace
}  // namespace safrl::util
