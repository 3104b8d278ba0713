#include "io/safetensors.h"

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/safetensors_writer.h"
#include "support/test_support.h"

namespace safrl::io {
namespace {

using testing::contains_all;
using testing::length_prefix;
using testing::load_error;
using testing::safetensors_bytes;
using testing::SafetensorsWriter;
using testing::TempDir;
using testing::write_file;

std::string view_bytes(const TensorView& view) {
  return std::string(reinterpret_cast<const char*>(view.data), view.nbytes);
}

TEST(DType, SafetensorsNames) {
  EXPECT_EQ(safetensors_dtype_name(util::Dtype::kFloat32), "F32");
  EXPECT_EQ(safetensors_dtype_name(util::Dtype::kFloat16), "F16");
  EXPECT_EQ(safetensors_dtype_name(util::Dtype::kBfloat16), "BF16");
  EXPECT_EQ(safetensors_dtype_name(util::Dtype::kInt32), "I32");
  EXPECT_EQ(safetensors_dtype_name(util::Dtype::kInt64), "I64");
}

TEST(SafetensorsFile, RoundTripsEveryDTypeExactly) {
  TempDir dir;
  const std::vector<float> f32 = {1.0f, -2.5f, 3.25f,
                                  0.0f, -0.0f, std::numeric_limits<float>::infinity()};
  // Bit patterns: 1.0, -2.5, 65504 (largest half), smallest subnormal.
  const std::vector<uint16_t> f16 = {0x3C00, 0xC100, 0x7BFF, 0x0001};
  // Bit patterns: 1.0, -2.5, +inf, 0.
  const std::vector<uint16_t> bf16 = {0x3F80, 0xC020, 0x7F80, 0x0000};
  const std::vector<int32_t> i32 = {std::numeric_limits<int32_t>::min(), -1, 0,
                                    std::numeric_limits<int32_t>::max()};
  const std::vector<int64_t> i64 = {std::numeric_limits<int64_t>::min(), -1, 0, int64_t{1} << 40,
                                    std::numeric_limits<int64_t>::max()};
  const std::vector<float> scalar = {42.5f};
  SafetensorsWriter writer;
  writer.add_values("f32", "F32", {2, 3}, f32)
      .add_values("f16", "F16", {4}, f16)
      .add_values("bf16", "BF16", {2, 2}, bf16)
      .add_values("i32", "I32", {4, 1}, i32)
      .add_values("i64", "I64", {5}, i64)
      .add_values("scalar", "F32", {}, scalar)
      .add("empty", "F32", {0, 4}, "");
  const std::string path = dir.file("all.safetensors");
  writer.write(path);

  SafetensorsFile file(path);
  EXPECT_EQ(file.path(), path);
  ASSERT_EQ(file.tensors().size(), 7u);
  std::vector<std::string> names;
  for (const TensorView& t : file.tensors()) names.push_back(t.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"bf16", "empty", "f16", "f32", "i32", "i64", "scalar"}));

  // The reference writer pads the header with spaces to a multiple of 8 bytes.
  ASSERT_EQ(writer.header().size() % 8, 0u);

  struct Expected {
    const char* name;
    util::Dtype dtype;
    std::vector<int64_t> shape;
    std::string bytes;
    size_t offset;  // within the data section
  };
  const std::vector<Expected> expected = {
      {"f32", util::Dtype::kFloat32, {2, 3}, testing::raw_bytes(f32), 0},
      {"f16", util::Dtype::kFloat16, {4}, testing::raw_bytes(f16), 24},
      {"bf16", util::Dtype::kBfloat16, {2, 2}, testing::raw_bytes(bf16), 32},
      {"i32", util::Dtype::kInt32, {4, 1}, testing::raw_bytes(i32), 40},
      {"i64", util::Dtype::kInt64, {5}, testing::raw_bytes(i64), 56},
      {"scalar", util::Dtype::kFloat32, {}, testing::raw_bytes(scalar), 96},
      {"empty", util::Dtype::kFloat32, {0, 4}, "", 100},
  };
  const TensorView* first = file.find("f32");
  ASSERT_NE(first, nullptr);
  const uint8_t* data_section = first->data;
  for (const Expected& e : expected) {
    SCOPED_TRACE(e.name);
    const TensorView* t = file.find(e.name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->name, e.name);
    EXPECT_EQ(t->dtype, e.dtype);
    EXPECT_EQ(t->shape, e.shape);
    EXPECT_EQ(t->nbytes, e.bytes.size());
    EXPECT_EQ(t->numel(), static_cast<int64_t>(e.bytes.size() / dtype_size(e.dtype)));
    EXPECT_EQ(view_bytes(*t), e.bytes);
    EXPECT_EQ(t->data, data_section + e.offset);
    ASSERT_NE(t->file, nullptr);
    EXPECT_EQ(*t->file, path);
  }
  // Read back through the views as typed values, not just bytes.
  float f = 0;
  std::memcpy(&f, file.find("f32")->data + 4, sizeof f);
  EXPECT_EQ(f, -2.5f);
  int64_t i = 0;
  std::memcpy(&i, file.find("i64")->data + 3 * 8, sizeof i);
  EXPECT_EQ(i, int64_t{1} << 40);
  EXPECT_EQ(file.find("scalar")->numel(), 1);
  EXPECT_EQ(file.find("empty")->numel(), 0);
  EXPECT_EQ(file.find("missing"), nullptr);
  EXPECT_TRUE(file.metadata().empty());
}

TEST(SafetensorsFile, DataSectionStartsAfterHeader) {
  TempDir dir;
  SafetensorsWriter writer;
  writer.add_values("w", "I32", {2}, std::vector<int32_t>{7, 9});
  const std::string bytes = writer.bytes();
  const auto* raw = reinterpret_cast<const uint8_t*>(bytes.data());
  const std::string path = "in-memory";
  auto views = parse_safetensors(raw, bytes.size(), path);
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].data, raw + 8 + writer.header().size());
  EXPECT_EQ(views[0].file, &path);
}

TEST(SafetensorsFile, ReadsMetadata) {
  TempDir dir;
  const std::string path = dir.file("meta.safetensors");
  SafetensorsWriter()
      .add_metadata("format", "pt")
      .add_metadata("note", "a b\"c")
      .add_values("w", "F32", {1}, std::vector<float>{1.5f})
      .write(path);
  SafetensorsFile file(path);
  EXPECT_EQ(file.metadata(),
            (std::map<std::string, std::string>{{"format", "pt"}, {"note", "a b\"c"}}));
  ASSERT_EQ(file.tensors().size(), 1u);
  EXPECT_EQ(file.tensors()[0].name, "w");
}

TEST(SafetensorsFile, EmptyTensorsMaySharePlacesWithOthers) {
  TempDir dir;
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("e1":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                             R"("e2":{"dtype":"I64","shape":[3,0],"data_offsets":[0,0]}})";
  const std::string path = dir.file("empty.safetensors");
  write_file(path, safetensors_bytes(header, std::string(8, '\x01')));
  SafetensorsFile file(path);
  EXPECT_EQ(file.tensors().size(), 3u);
  EXPECT_EQ(file.find("e2")->numel(), 0);
  EXPECT_EQ(file.find("e2")->nbytes, 0u);
}

// Each test writes one broken file, bad.safetensors, and checks the exact message.
class SafetensorsCorruption : public ::testing::Test {
 protected:
  std::string open_error(const std::string& bytes) const {
    write_file(path_, bytes);
    return load_error([&] { SafetensorsFile file(path_); });
  }

  // The message for a file made of `header` and `data_bytes` zero bytes of data.
  std::string header_error(const std::string& header, size_t data_bytes) const {
    return open_error(safetensors_bytes(header, std::string(data_bytes, '\0')));
  }

  TempDir dir_;
  const std::string path_ = dir_.file("bad.safetensors");
};

TEST_F(SafetensorsCorruption, FileShorterThanLengthPrefix) {
  EXPECT_EQ(open_error("abcde"),
            path_ +
                ": file is 5 bytes, shorter than the 8-byte header length; the file is "
                "truncated or not a safetensors file");
  EXPECT_EQ(open_error(""),
            path_ +
                ": file is 0 bytes, shorter than the 8-byte header length; the file is "
                "truncated or not a safetensors file");
}

TEST_F(SafetensorsCorruption, HeaderLengthLargerThanFile) {
  EXPECT_EQ(open_error(length_prefix(1000) + std::string(20, '{')),
            path_ +
                ": header length is 1000 bytes but only 20 bytes follow the length prefix; "
                "the file is truncated or not a safetensors file");
}

TEST_F(SafetensorsCorruption, HugeHeaderLengthIsRefusedWithoutReading) {
  EXPECT_EQ(open_error(length_prefix(uint64_t{1} << 63) + "{}"),
            path_ +
                ": header length is 9223372036854775808 bytes but only 2 bytes follow the "
                "length prefix; the file is truncated or not a safetensors file");
  EXPECT_TRUE(
      contains_all(open_error(length_prefix(std::numeric_limits<uint64_t>::max())),
                   {path_, "header length is 18446744073709551615 bytes but only 0 bytes follow"}));
}

TEST_F(SafetensorsCorruption, TruncatedDataSection) {
  std::string bytes =
      SafetensorsWriter().add_values("w", "F32", {4}, std::vector<float>(4, 1.0f)).bytes();
  bytes.resize(bytes.size() - 4);
  EXPECT_EQ(open_error(bytes),
            path_ +
                ": safetensors header w.data_offsets: [0, 16] reaches past the end of the data "
                "section (12 bytes); the file is truncated or corrupt");
}

TEST_F(SafetensorsCorruption, HeaderNotJson) {
  EXPECT_TRUE(contains_all(header_error("{\"w\": nope}", 0),
                           {path_, ": safetensors header is not valid JSON (",
                            "the file is corrupt or not a safetensors file"}));
  // Numbers beyond double range make nlohmann throw out_of_range, not parse_error.
  EXPECT_TRUE(contains_all(header_error("[1e400]", 0),
                           {path_, ": safetensors header is not valid JSON ("}));
  EXPECT_TRUE(
      contains_all(header_error("", 0), {path_, ": safetensors header is not valid JSON ("}));
}

TEST_F(SafetensorsCorruption, HeaderNotAnObject) {
  // The deep one must not exhaust the stack while the JSON value is parsed or destroyed.
  for (const std::string& header :
       {std::string("[1, 2]"), std::string(100000, '[') + std::string(100000, ']')}) {
    EXPECT_EQ(header_error(header, 0),
              path_ +
                  ": safetensors header must be an object mapping tensor names to dtype, shape "
                  "and data_offsets, got an array");
  }
}

TEST_F(SafetensorsCorruption, RepeatedKey) {
  const std::string header = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  EXPECT_EQ(header_error(header, 8),
            path_ +
                ": safetensors header repeats the key \"w\" within one object; each tensor "
                "and field may appear once");
  const std::string field =
      R"({"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})";
  EXPECT_TRUE(contains_all(header_error(field, 4), {path_, "repeats the key \"dtype\""}));
}

TEST_F(SafetensorsCorruption, OffsetsOutOfRange) {
  const std::string header = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}})";
  EXPECT_EQ(header_error(header, 24),
            path_ +
                ": safetensors header w.data_offsets: [16, 32] reaches past the end of the data "
                "section (24 bytes); the file is truncated or corrupt");
}

TEST_F(SafetensorsCorruption, OffsetsReversed) {
  const std::string header = R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})";
  EXPECT_EQ(header_error(header, 8),
            path_ + ": safetensors header w.data_offsets: [8, 4] has begin after end");
}

TEST_F(SafetensorsCorruption, OverlappingTensors) {
  const std::string header = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                             R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})";
  EXPECT_EQ(header_error(header, 24),
            path_ + ": tensors \"a\" [0, 16) and \"b\" [8, 24) overlap in the data section");
  // Same range twice, and a tensor inside another: both caught.
  const std::string same = R"({"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},)"
                           R"("z":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_EQ(header_error(same, 8),
            path_ + ": tensors \"a\" [0, 8) and \"z\" [0, 8) overlap in the data section");
  const std::string inside = R"({"big":{"dtype":"F32","shape":[8],"data_offsets":[0,32]},)"
                             R"("small":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})";
  EXPECT_EQ(header_error(inside, 32),
            path_ + ": tensors \"big\" [0, 32) and \"small\" [12, 16) overlap in the data section");
}

TEST_F(SafetensorsCorruption, ByteLengthMismatch) {
  const std::string header = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})";
  EXPECT_EQ(header_error(header, 16),
            path_ +
                ": safetensors header w.data_offsets: [0, 12] spans 12 bytes, but shape [2, 2] "
                "of F32 needs 16 bytes");
}

TEST_F(SafetensorsCorruption, UnsupportedDTypes) {
  for (const std::string dtype : {"F64", "I8", "U8", "BOOL", "F8_E4M3", "f32", ""}) {
    SCOPED_TRACE(dtype);
    const std::string header =
        R"({"model.embed":{"dtype":")" + dtype + R"(","shape":[1],"data_offsets":[0,8]}})";
    EXPECT_EQ(header_error(header, 8),
              path_ + ": safetensors header [\"model.embed\"].dtype: \"" + dtype +
                  "\" is not supported (supported: F32, F16, BF16, I32, I64)");
  }
}

TEST_F(SafetensorsCorruption, FieldsOfWrongType) {
  struct Case {
    const char* entry;
    const char* message;
  };
  const std::vector<Case> cases = {
      {R"([1])", "w: must be an object with dtype, shape and data_offsets, got an array"},
      {R"({"shape":[2],"data_offsets":[0,8]})",
       "w.dtype: missing; each tensor needs dtype, shape and data_offsets"},
      {R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})",
       "w.dtype: must be a string, got a number (4)"},
      {R"({"dtype":"F32","data_offsets":[0,8]})",
       "w.shape: missing; each tensor needs dtype, shape and data_offsets"},
      {R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})",
       "w.shape: must be an array, got a number (2)"},
      {R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})",
       "w.shape[0]: must be an integer >= 0, got a number (-2)"},
      {R"({"dtype":"F32","shape":[1,2.0],"data_offsets":[0,8]})",
       "w.shape[1]: must be an integer >= 0, got a number (2.0)"},
      {R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})",
       "w.shape[0]: must be an integer >= 0, got a string (\"2\")"},
      {R"({"dtype":"F32","shape":[[2]],"data_offsets":[0,8]})",
       "w.shape[0]: must be an integer >= 0, got an array"},
      {R"({"dtype":"F32","shape":[2]})",
       "w.data_offsets: missing; each tensor needs dtype, shape and data_offsets"},
      {R"({"dtype":"F32","shape":[2],"data_offsets":{"a":1}})",
       "w.data_offsets: must be an array, got an object"},
      {R"({"dtype":"F32","shape":[2],"data_offsets":[0,4,8]})",
       "w.data_offsets: has 3 elements, expected 2 ([begin, end])"},
      {R"({"dtype":"F32","shape":[2],"data_offsets":[-1,8]})",
       "w.data_offsets[0]: must be an integer >= 0, got a number (-1)"},
      {R"({"dtype":"F32","shape":[2],"data_offsets":[0,null]})",
       "w.data_offsets[1]: must be an integer >= 0, got null"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.entry);
    const std::string header = std::string(R"({"w":)") + c.entry + "}";
    EXPECT_EQ(header_error(header, 8), path_ + ": safetensors header " + c.message);
  }
}

TEST_F(SafetensorsCorruption, ABadShapeEntryIsNamedByItsKeyPathInTheHeader) {
  // A tensor name with dots is one key, so the path quotes it: ["..."], then .shape[1].
  const std::string header =
      R"({"model.layers.0.mlp.up_proj.weight":{"dtype":"BF16","shape":[4,-3],)"
      R"("data_offsets":[0,24]}})";
  EXPECT_EQ(header_error(header, 24),
            path_ +
                ": safetensors header [\"model.layers.0.mlp.up_proj.weight\"].shape[1]: must be "
                "an integer >= 0, got a number (-3)");
}

TEST_F(SafetensorsCorruption, DeeplyNestedDimension) {
  const std::string header = R"({"w":{"dtype":"F32","data_offsets":[0,4],"shape":[)" +
                             std::string(100000, '[') + std::string(100000, ']') + "]}}";
  EXPECT_EQ(header_error(header, 4),
            path_ + ": safetensors header w.shape[0]: must be an integer >= 0, got an array");
}

TEST_F(SafetensorsCorruption, ShapeOverflow) {
  const std::string huge_product =
      R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})";
  EXPECT_EQ(header_error(huge_product, 8),
            path_ +
                ": safetensors header w.shape: [4294967296, 4294967296] of F32 has a byte size "
                "that overflows 64 bits");
  // numel fits int64 but times 8 bytes does not.
  const std::string huge_bytes =
      R"({"w":{"dtype":"I64","shape":[2305843009213693952],"data_offsets":[0,8]}})";
  EXPECT_TRUE(contains_all(
      header_error(huge_bytes, 8),
      {path_, "w.shape: [2305843009213693952] of I64 has a byte size that overflows"}));
  const std::string beyond_int64 =
      R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})";
  EXPECT_EQ(header_error(beyond_int64, 8),
            path_ +
                ": safetensors header w.shape[0]: must be an integer from 0 to "
                "9223372036854775807, got a number (18446744073709551615)");
}

TEST_F(SafetensorsCorruption, BadMetadata) {
  EXPECT_EQ(header_error(R"({"__metadata__":{"format":1}})", 0),
            path_ + ": safetensors header __metadata__.format: must be a string, got a number (1)");
  EXPECT_EQ(
      header_error(R"({"__metadata__":"pt"})", 0),
      path_ +
          ": safetensors header __metadata__: must be an object of string values, got a string "
          "(\"pt\")");
}

// A tiny two-shard checkpoint laid out like Hugging Face's sharded saves.
class ShardedCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    SafetensorsWriter()
        .add_values("model.embed_tokens.weight", "BF16", {2, 2},
                    std::vector<uint16_t>{0x3F80, 0x4000, 0x4040, 0x4080})
        .add_values("model.layers.0.weight", "F32", {2}, std::vector<float>{0.5f, -0.5f})
        .write(dir_.file(kShard1));
    SafetensorsWriter()
        .add_values("model.norm.weight", "F32", {3}, std::vector<float>{1.f, 2.f, 3.f})
        .write(dir_.file(kShard2));
  }

  void write_index(const nlohmann::json& weight_map) const {
    nlohmann::json index = {{"metadata", {{"total_size", 36}}}, {"weight_map", weight_map}};
    write_file(index_path(), index.dump(2));
  }

  nlohmann::json good_weight_map() const {
    return {{"model.embed_tokens.weight", kShard1},
            {"model.layers.0.weight", kShard1},
            {"model.norm.weight", kShard2}};
  }

  std::string index_path() const { return dir_.file("model.safetensors.index.json"); }

  static constexpr const char* kShard1 = "model-00001-of-00002.safetensors";
  static constexpr const char* kShard2 = "model-00002-of-00002.safetensors";
  TempDir dir_;
};

TEST_F(ShardedCheckpoint, LoadsAllShards) {
  write_index(good_weight_map());
  Checkpoint checkpoint(dir_.path());
  EXPECT_EQ(checkpoint.dir(), dir_.path());
  EXPECT_EQ(checkpoint.names(),
            (std::vector<std::string>{"model.embed_tokens.weight", "model.layers.0.weight",
                                      "model.norm.weight"}));
  const TensorView& embed = checkpoint.get("model.embed_tokens.weight");
  EXPECT_EQ(embed.dtype, util::Dtype::kBfloat16);
  EXPECT_EQ(embed.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(view_bytes(embed), std::string("\x80\x3F\x00\x40\x40\x40\x80\x40", 8));
  EXPECT_EQ(*embed.file, dir_.file(kShard1));
  const TensorView& norm = checkpoint.get("model.norm.weight");
  EXPECT_EQ(view_bytes(norm), testing::raw_bytes(std::vector<float>{1.f, 2.f, 3.f}));
  EXPECT_EQ(*norm.file, dir_.file(kShard2));
  EXPECT_EQ(checkpoint.find("lm_head.weight"), nullptr);
  EXPECT_EQ(checkpoint.find("model.norm.weight"), &norm);
}

TEST_F(ShardedCheckpoint, GetNamesMissingTensorAndDir) {
  write_index(good_weight_map());
  Checkpoint checkpoint(dir_.path());
  EXPECT_EQ(load_error([&] { checkpoint.get("lm_head.weight"); }),
            "checkpoint " + dir_.path() + " has no tensor \"lm_head.weight\" (it holds 3 tensors)");
}

TEST_F(ShardedCheckpoint, MissingShard) {
  nlohmann::json map = good_weight_map();
  map["lm_head.weight"] = "model-00003-of-00002.safetensors";
  write_index(map);
  EXPECT_EQ(load_error([&] { Checkpoint c(dir_.path()); }),
            index_path() +
                " lists shard model-00003-of-00002.safetensors (for tensor "
                "\"lm_head.weight\" and maybe others) but " +
                dir_.file("model-00003-of-00002.safetensors") + " does not exist");
}

TEST_F(ShardedCheckpoint, TensorInWrongShard) {
  nlohmann::json map = good_weight_map();
  map["model.norm.weight"] = kShard1;
  map["model.layers.0.weight"] = kShard2;
  write_index(map);
  EXPECT_EQ(load_error([&] { Checkpoint c(dir_.path()); }),
            index_path() + " places tensor \"model.layers.0.weight\" in shard " + kShard2 +
                ", but it is in shard " + kShard1);
}

TEST_F(ShardedCheckpoint, TensorInTwoShards) {
  SafetensorsWriter()
      .add_values("model.norm.weight", "F32", {3}, std::vector<float>{1.f, 2.f, 3.f})
      .add_values("model.layers.0.weight", "F32", {2}, std::vector<float>{0.5f, -0.5f})
      .write(dir_.file(kShard2));
  write_index(good_weight_map());
  EXPECT_EQ(load_error([&] { Checkpoint c(dir_.path()); }),
            "checkpoint " + dir_.path() +
                ": tensor \"model.layers.0.weight\" appears in two "
                "shards, " +
                kShard1 + " and " + kShard2);
}

TEST_F(ShardedCheckpoint, ShardTensorNotInIndex) {
  nlohmann::json map = good_weight_map();
  map.erase("model.layers.0.weight");
  write_index(map);
  EXPECT_EQ(load_error([&] { Checkpoint c(dir_.path()); }),
            "checkpoint " + dir_.path() + ": shard " + kShard1 +
                " holds tensor \"model.layers.0.weight\", which " + index_path() +
                " does not list");
}

TEST_F(ShardedCheckpoint, IndexTensorInNoShard) {
  nlohmann::json map = good_weight_map();
  map["lm_head.weight"] = kShard2;
  write_index(map);
  EXPECT_EQ(load_error([&] { Checkpoint c(dir_.path()); }),
            index_path() + " places tensor \"lm_head.weight\" in shard " + kShard2 +
                ", but no shard holds it");
}

TEST_F(ShardedCheckpoint, CorruptShardNamesItsFile) {
  write_index(good_weight_map());
  write_file(dir_.file(kShard2), "short");
  EXPECT_TRUE(contains_all(load_error([&] { Checkpoint c(dir_.path()); }),
                           {dir_.file(kShard2), ": file is 5 bytes"}));
}

TEST_F(ShardedCheckpoint, BadIndex) {
  write_file(index_path(), "{\"weight_map\": ");
  EXPECT_TRUE(contains_all(load_error([&] { Checkpoint c(dir_.path()); }),
                           {index_path(), ": not valid JSON ("}));
  write_file(index_path(), R"({"metadata": {}})");
  EXPECT_EQ(
      load_error([&] { Checkpoint c(dir_.path()); }),
      index_path() + ": weight_map: missing; give an object mapping tensor names to shard files");
  write_file(index_path(), R"({"weight_map": {"w": 3}})");
  EXPECT_EQ(load_error([&] { Checkpoint c(dir_.path()); }),
            index_path() + ": weight_map.w: must be a shard file name, got a number (3)");
  write_file(index_path(), R"({"weight_map": {"w": "../model.safetensors"}})");
  EXPECT_EQ(load_error([&] { Checkpoint c(dir_.path()); }),
            index_path() +
                ": weight_map.w: names shard \"../model.safetensors\"; expected a plain file "
                "name in the checkpoint directory");
  write_file(index_path(), R"({"weight_map": {}})");
  EXPECT_EQ(load_error([&] { Checkpoint c(dir_.path()); }),
            index_path() + ": weight_map: is empty; list the shard of every tensor");
}

TEST(Checkpoint, SingleFile) {
  TempDir dir;
  SafetensorsWriter()
      .add_values("b", "I64", {1}, std::vector<int64_t>{-7})
      .add_values("a", "F16", {1}, std::vector<uint16_t>{0x3C00})
      .write(dir.file("model.safetensors"));
  Checkpoint checkpoint(dir.path());
  EXPECT_EQ(checkpoint.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(view_bytes(checkpoint.get("b")), testing::raw_bytes(std::vector<int64_t>{-7}));
  EXPECT_EQ(*checkpoint.get("a").file, dir.file("model.safetensors"));
}

TEST(Checkpoint, SingleFileWinsOverIndexAsInTransformers) {
  TempDir dir;
  SafetensorsWriter()
      .add_values("w", "F32", {1}, std::vector<float>{3.f})
      .write(dir.file("model.safetensors"));
  write_file(dir.file("model.safetensors.index.json"), "not read");
  Checkpoint checkpoint(dir.path());
  EXPECT_EQ(checkpoint.names(), (std::vector<std::string>{"w"}));
}

TEST(Checkpoint, NoWeightFiles) {
  TempDir dir;
  EXPECT_EQ(load_error([&] { Checkpoint c(dir.path()); }),
            "no safetensors checkpoint in " + dir.path() + ": looked for " +
                dir.file("model.safetensors") + " and " + dir.file("model.safetensors.index.json"));
  const std::string missing = dir.file("nope");
  EXPECT_EQ(load_error([&] { Checkpoint c(missing); }),
            "no safetensors checkpoint in " + missing + ": looked for " + missing +
                "/model.safetensors and " + missing +
                "/model.safetensors.index.json (the directory does not exist)");
}

}  // namespace
}  // namespace safrl::io
