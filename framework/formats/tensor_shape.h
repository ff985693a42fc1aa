// A tensor's shape as safetensors headers and checkpoint manifests hold it:
// its dimensions inline up to four, so a file of 10,000 tensors allocates
// nothing per shape (allocating and freeing them was a tenth of a
// 10,000-tensor resume). A header of its own so that what records shapes
// (the manifest's tensor records) need not include a file format.
#ifndef FRAMEWORK_FORMATS_TENSOR_SHAPE_H_
#define FRAMEWORK_FORMATS_TENSOR_SHAPE_H_

#include <cstdint>

#include "absl/container/inlined_vector.h"

namespace framework {

using TensorShape = absl::InlinedVector<int64_t, 4>;

}  // namespace framework

#endif  // FRAMEWORK_FORMATS_TENSOR_SHAPE_H_
