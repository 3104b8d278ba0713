// Loads a Hugging Face Qwen2 / Qwen3 checkpoint directory (config.json + safetensors) into a
// QwenWithHead, strictly: every parameter the architecture needs must be in the checkpoint with
// the expected shape, and every tensor in the checkpoint must be claimed by a parameter or be on
// the short list of tensors that are knowingly ignored (a tied lm_head copy, stale rotary
// inv_freq buffers). Any mismatch is a util::LoadError that names the tensor and both shapes.
//
// Qwen3ForGuardModel (Qwen3Guard-Stream): its eight head tensors load like any others, under
// their checkpoint names. A checkpoint may also hold lm_head.weight (vLLM's port of the model
// keeps an LM head; transformers' save_pretrained of the remote code may write one): it is
// accepted and skipped, after checking its shape [vocab_size, hidden_size], not registered and
// loaded. The Stream guard reads only its four label heads; loading the LM head would hold
// vocab_size x hidden_size weights (311 MB in bf16 at 0.6B) that no call ever reads, and a
// checkpoint without one (tied, or saved without it) must load too. Any other tensor outside the
// architecture is refused as for the other heads.
#pragma once

#include <string>

#include "model/options.h"
#include "model/qwen.h"

namespace safrl::model {

// Why `device` cannot run a model here, or "" when it can: the CPU always can; cuda:N needs a
// LibTorch built with CUDA and more than N visible GPUs. Callers that check before loading use it
// to say which of their settings asked for the device.
std::string device_unusable_reason(const c10::Device& device);

// Throws util::LoadError unless the device can run a model here (device_unusable_reason) and the
// dtypes are supported ones.
void check_run_options(const RunOptions& options);

// Checks `options` (check_run_options) and loads the model in inference mode on options.device
// with weights in options.storage_dtype.
QwenWithHead load_model(const std::string& dir, const RunOptions& options);

}  // namespace safrl::model
