#include "model/scalar_type.h"

#include <stdexcept>

namespace safrl::model {

c10::ScalarType scalar_type(util::Dtype dtype) {
  switch (dtype) {
    case util::Dtype::kFloat32:
      return c10::kFloat;
    case util::Dtype::kBfloat16:
      return c10::kBFloat16;
    case util::Dtype::kFloat16:
      return c10::kHalf;
    case util::Dtype::kInt32:
      return c10::kInt;
    case util::Dtype::kInt64:
      return c10::kLong;
  }
  throw std::logic_error("scalar_type: Dtype value out of range");
}

}  // namespace safrl::model
