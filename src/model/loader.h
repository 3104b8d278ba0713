// Loads a Hugging Face Qwen2 / Qwen3 checkpoint directory (config.json + safetensors) into a
// QwenWithHead, strictly: every parameter the architecture needs must be in the checkpoint with
// the expected shape, and every tensor in the checkpoint must be claimed by a parameter or be on
// the short list of tensors that are knowingly ignored (a tied lm_head copy, stale rotary
// inv_freq buffers). Any mismatch is a util::LoadError that names the tensor and both shapes.
#pragma once

#include <string>

#include "model/options.h"
#include "model/qwen.h"

namespace safrl::model {

// Validates `options` (CUDA present when asked for, supported dtypes) and loads the model in
// inference mode on options.device with weights in options.storage_dtype.
QwenWithHead load_model(const std::string& dir, const RunOptions& options);

}  // namespace safrl::model
