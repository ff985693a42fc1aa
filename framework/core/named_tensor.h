// A tensor with its state-dict name ("conv1.weight", "optimizer.0.3.exp_avg"):
// the unit every file format, checkpoint and state dict of the framework
// trades in.
#ifndef FRAMEWORK_CORE_NAMED_TENSOR_H_
#define FRAMEWORK_CORE_NAMED_TENSOR_H_

#include <string>

#include <ATen/core/Tensor.h>

namespace framework {

struct NamedTensor {
  std::string name;
  at::Tensor tensor;
};

}  // namespace framework

#endif  // FRAMEWORK_CORE_NAMED_TENSOR_H_
