// The one converter from safrl's dtypes (util/device_names.h) to LibTorch's, for the loader (the
// dtype of each safetensors tensor) and the engine (the config's and command line's dtypes).
#pragma once

#include <c10/core/ScalarType.h>

#include "util/device_names.h"

namespace safrl::model {

c10::ScalarType scalar_type(util::Dtype dtype);

}  // namespace safrl::model
