#include "model/loader.h"

#include <cstring>
#include <set>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/cuda.h>

#include "io/safetensors.h"
#include "model/scalar_type.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace safrl::model {

namespace {

std::string shape_string(c10::IntArrayRef shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// The tensor's bytes as a CPU tensor of its own dtype. Safetensors gives no alignment guarantee,
// so a misaligned tensor is copied to an aligned buffer first.
at::Tensor tensor_of(const io::TensorView& view) {
  const auto dtype = scalar_type(view.dtype);
  const auto options = at::TensorOptions().dtype(dtype);
  auto* data = const_cast<uint8_t*>(view.data);
  if (reinterpret_cast<uintptr_t>(data) % util::dtype_size(view.dtype) == 0) {
    return at::from_blob(data, view.shape, options);
  }
  at::Tensor aligned = at::empty(view.shape, options);
  std::memcpy(aligned.data_ptr(), data, view.nbytes);
  return aligned;
}

// A Stream guard's lm_head.weight is skipped, not loaded (see loader.h), but still checked: a
// wrong shape means the config.json does not describe this checkpoint.
void check_skipped_lm_head(const io::TensorView& view, const io::ModelConfig& config) {
  const std::vector<int64_t> expected = {config.vocab_size, config.hidden_size};
  if (view.shape != expected) {
    throw util::LoadError(util::cat(
        "tensor lm_head.weight in ", *view.file, " has shape ", shape_string(view.shape), " but ",
        io::architecture_name(config.architecture), " with this config.json expects ",
        shape_string(expected), " (it is skipped, not used, but must match)"));
  }
}

bool knowingly_ignored(const std::string& name, const io::ModelConfig& config) {
  // Tied checkpoints sometimes carry lm_head.weight too; the embedding is the one used.
  if (name == "lm_head.weight" && config.head == io::HeadKind::kCausalLM &&
      config.tie_word_embeddings) {
    return true;
  }
  // The Stream guard never computes token logits (loader.h).
  if (name == "lm_head.weight" && config.head == io::HeadKind::kStreamGuard) return true;
  // Old exports saved the rotary buffer; it is recomputed from rope_theta.
  const std::string suffix = ".rotary_emb.inv_freq";
  return name.size() > suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string list_names(const std::vector<std::string>& names) {
  constexpr size_t kShown = 8;
  std::string out;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > kShown) out += util::cat(" and ", names.size() - kShown, " more");
  return out;
}

}  // namespace

std::string device_unusable_reason(const c10::Device& device) {
  if (!device.is_cuda()) return "";
  const size_t visible = torch::cuda::is_available() ? torch::cuda::device_count() : 0;
  if (visible == 0) {
    return "no GPU is visible to this process (none installed, hidden by CUDA_VISIBLE_DEVICES, "
           "or a LibTorch without CUDA)";
  }
  const size_t index = device.has_index() ? static_cast<size_t>(device.index()) : 0;
  if (index >= visible) {
    return util::cat("only ", visible, visible == 1 ? " GPU is" : " GPUs are",
                     " visible (cuda:0 to cuda:", visible - 1, ")");
  }
  return "";
}

void check_run_options(const RunOptions& options) {
  if (const std::string reason = device_unusable_reason(options.device); !reason.empty()) {
    throw util::LoadError(util::cat("device ", options.device.str(), " was asked for, but ", reason,
                                    "; run on device cpu"));
  }
  for (auto dtype : {options.compute_dtype, options.storage_dtype}) {
    if (dtype != c10::kFloat && dtype != c10::kBFloat16 && dtype != c10::kHalf) {
      throw util::LoadError(util::cat("unsupported dtype ", c10::toString(dtype),
                                      "; use float32, bfloat16 or float16"));
    }
  }
}

QwenWithHead load_model(const std::string& dir, const RunOptions& options) {
  check_run_options(options);
  const io::ModelConfig config = io::load_model_config(dir);
  const io::Checkpoint checkpoint(dir);
  c10::NoGradGuard no_grad;
  QwenWithHead model(config, options.storage_dtype);

  std::set<std::string> claimed;
  std::vector<std::string> missing;
  for (auto& item : model->named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    const io::TensorView* view = checkpoint.find(name);
    if (view == nullptr) {
      missing.push_back(name);
      continue;
    }
    at::Tensor& param = item.value();
    if (c10::IntArrayRef(view->shape) != param.sizes()) {
      throw util::LoadError(
          util::cat("tensor ", name, " in ", *view->file, " has shape ", shape_string(view->shape),
                    " but ", io::architecture_name(config.architecture),
                    " with this config.json expects ", shape_string(param.sizes())));
    }
    if (!util::is_compute_dtype(view->dtype)) {
      throw util::LoadError(util::cat("tensor ", name, " in ", *view->file, " has integer dtype ",
                                      io::safetensors_dtype_name(view->dtype),
                                      "; weights must be F32, F16 or BF16"));
    }
    param.copy_(tensor_of(*view));
    util::drop_pages(view->data, view->nbytes);  // the file's pages need not stay resident
    claimed.insert(name);
  }
  if (!missing.empty()) {
    throw util::LoadError(util::cat(dir, " lacks ", missing.size(), " tensor(s) that ",
                                    io::architecture_name(config.architecture),
                                    " needs: ", list_names(missing)));
  }
  if (config.head == io::HeadKind::kStreamGuard) {
    if (const io::TensorView* lm_head = checkpoint.find("lm_head.weight")) {
      check_skipped_lm_head(*lm_head, config);
    }
  }
  std::vector<std::string> unclaimed;
  for (const std::string& name : checkpoint.names()) {
    if (claimed.count(name) == 0 && !knowingly_ignored(name, config)) unclaimed.push_back(name);
  }
  if (!unclaimed.empty()) {
    throw util::LoadError(
        util::cat(dir, " holds ", unclaimed.size(), " tensor(s) that ",
                  io::architecture_name(config.architecture),
                  " does not use (wrong architecture in config.json?): ", list_names(unclaimed)));
  }
  model->to(options.device);
  model->eval();
  return model;
}

}  // namespace safrl::model
