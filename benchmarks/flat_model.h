// A model that is nothing but float32 parameter tensors of the given sizes,
// named p0, p1, ...: the checkpoint benchmarks measure how many tensors a
// model has and how large they are, not what it computes.
#ifndef BENCHMARKS_FLAT_MODEL_H_
#define BENCHMARKS_FLAT_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "framework/model/model.h"

namespace benchmarks {

class FlatModel : public framework::Model {
 public:
  explicit FlatModel(const std::vector<int64_t>& elements) {
    for (size_t i = 0; i < elements.size(); ++i) {
      register_parameter("p" + std::to_string(i), torch::randn({elements[i]}));
    }
  }
  torch::Tensor forward(torch::Tensor x) override { return x; }
};

}  // namespace benchmarks

#endif  // BENCHMARKS_FLAT_MODEL_H_
