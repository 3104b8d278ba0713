// `safrl forward`: runs a checkpoint on token ids, one JSON line in, one JSON line out, so the
// engine can be checked against a reference by hand or by script.
#include <iostream>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/json_lines.h"
#include "cli/runtime_flags.h"
#include "engine/engine.h"
#include "util/error.h"

namespace safrl::cli {

namespace {

struct ForwardArgs {
  std::string model_dir;
  std::string dtype;
  std::string storage_dtype;
  std::string device = "cpu";
};

std::vector<int32_t> ids_of(const nlohmann::json& line) {
  if (!line.is_object() || !line.contains("ids")) {
    throw util::InputError("expected an object with an \"ids\" field, e.g. {\"ids\": [1, 2, 3]}");
  }
  const nlohmann::json& ids = line["ids"];
  if (!ids.is_array()) throw util::InputError("\"ids\" must be an array of token ids");
  if (ids.empty()) throw util::InputError("\"ids\" is empty; give at least one token id");
  std::vector<int32_t> out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!ids[i].is_number_integer() || ids[i].get<int64_t>() < 0 ||
        ids[i].get<int64_t>() > INT32_MAX) {
      throw util::InputError(util::cat("\"ids\"[", i, "] is ", ids[i].dump(),
                                       "; token ids are non-negative integers"));
    }
    out.push_back(ids[i].get<int32_t>());
  }
  return out;
}

std::vector<float> to_vector(const at::Tensor& row) {
  at::Tensor contiguous = row.to(at::kFloat).contiguous().cpu();
  const float* data = contiguous.data_ptr<float>();
  return std::vector<float>(data, data + contiguous.numel());
}

// The Stream guard labels every position: each head's logits, one row per input token, under the
// official output names.
nlohmann::json stream_json(const model::StreamLogits& logits) {
  const auto rows = [](const at::Tensor& matrix) {
    nlohmann::json out = nlohmann::json::array();
    for (int64_t r = 0; r < matrix.size(0); ++r) out.push_back(to_vector(matrix[r]));
    return out;
  };
  return nlohmann::json{{"risk_level_logits", rows(logits.risk)},
                        {"category_logits", rows(logits.category)},
                        {"query_risk_level_logits", rows(logits.query_risk)},
                        {"query_category_logits", rows(logits.query_category)}};
}

int run_forward(const ForwardArgs& args) {
  model::RunOptions options;
  options.device = engine::parse_device(args.device);
  check_device(args.device, "--device", "use --device cpu");
  const std::string default_dtype = options.device.is_cuda() ? "bfloat16" : "float32";
  options.compute_dtype = engine::parse_dtype(args.dtype.empty() ? default_dtype : args.dtype);
  options.storage_dtype =
      args.storage_dtype.empty() ? options.compute_dtype : engine::parse_dtype(args.storage_dtype);
  engine::Engine engine(args.model_dir, options);
  const io::HeadKind head = engine.config().head;
  return run_json_lines(std::cin, std::cout, std::cerr, [&](const nlohmann::json& line) {
    const std::vector<int32_t> ids = ids_of(line);
    const std::vector<engine::SequenceInput> inputs = {{ids}};
    if (head == io::HeadKind::kCausalLM) {
      return nlohmann::json{{"logits", to_vector(engine.last_logits(inputs)[0])}};
    }
    if (head == io::HeadKind::kStreamGuard) return stream_json(engine.stream_logits(inputs));
    return nlohmann::json{{"score", to_vector(engine.scores(inputs)[0])}};
  });
}

}  // namespace

void add_forward_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ForwardArgs>();
  CLI::App* cmd = app.add_subcommand(
      "forward",
      "Run a checkpoint on token ids: JSON lines {\"ids\": [...]} in; {\"logits\": [...]} (last "
      "position, whole vocabulary), {\"score\": [...]}, or a Stream guard's four logit lists "
      "at every position out");
  cmd->add_option("--model", args->model_dir, "Hugging Face checkpoint directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--dtype", args->dtype,
                  "compute dtype: float32 (CPU default) | bfloat16 (CUDA default) | float16");
  cmd->add_option("--storage-dtype", args->storage_dtype,
                  "dtype the weights are kept in (default: the compute dtype); bfloat16 with "
                  "float32 compute halves CPU memory");
  cmd->add_option("--device", args->device, "cpu | cuda | cuda:N")->capture_default_str();
  cmd->callback([args, exit_code] { *exit_code = run_forward(*args); });
}

}  // namespace safrl::cli
