// The idx format of MNIST-like data sets: a big-endian magic number (2051 for
// images, 2049 for labels), the dimensions, then uint8 values; gzip-compressed
// or not. The header's dimensions (checked products, at most 2 GiB) bound how
// much is decompressed: a small file cannot expand to fill memory.
#ifndef FRAMEWORK_FORMATS_IDX_FILE_H_
#define FRAMEWORK_FORMATS_IDX_FILE_H_

#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"

namespace framework {

enum class IdxKind {
  kImages,  // uint8 [N, H, W]
  kLabels,  // uint8 [N]
};

absl::StatusOr<at::Tensor> ReadIdxFile(const std::string& path, IdxKind kind);

}  // namespace framework

#endif  // FRAMEWORK_FORMATS_IDX_FILE_H_
