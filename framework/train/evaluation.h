// Evaluation of a model on a data set through its trainer: the mean loss and
// the trainer's metrics over every sample, in batches. The training loop
// evaluates with it after each epoch and //tools:evaluate with it alone, so
// a file evaluated later shows the numbers its run logged.
//
//   absl::StatusOr<std::map<std::string, double>> values =
//       EvaluateModel(model, trainer, data.valid, {.batch_size = 1000});
//   values->at("loss"), values->at("acc")
#ifndef FRAMEWORK_TRAIN_EVALUATION_H_
#define FRAMEWORK_TRAIN_EVALUATION_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "framework/data/batch_prefetcher.h"
#include "framework/data/dataset.h"
#include "framework/distributed/communicator.h"
#include "framework/model/model.h"
#include "framework/train/mixed_precision.h"
#include "framework/train/trainer.h"

namespace framework {

struct EvaluationOptions {
  int64_t batch_size = 1000;
  torch::Device device = torch::kCPU;  // where batches go
  // Data parallel: rank r evaluates chunks r, r + world size, ... and the
  // sums are added up, so every rank gets the whole set's values. Not owned.
  Communicator* communicator = nullptr;
  Precision precision = Precision::kFp32;  // autocast of the forward passes
  PrefetchOptions prefetch;  // workers that gather the batches ahead
};

// "loss" and each of trainer.Metrics() by name, means over `data`.
absl::StatusOr<std::map<std::string, double>> EvaluateModel(Model& model, Trainer& trainer,
                                                            const Dataset& data,
                                                            const EvaluationOptions& options);

// The samples of `data` at `indices` in epoch `epoch`, on `device`.
// Evaluation uses epoch 0: a validation set's samples do not change.
Batch GatherBatch(const Dataset& data, const torch::Tensor& indices, const torch::Device& device,
                  int64_t epoch = 0);

// "Loss: 0.2763 Acc:90.07%", as the loop's log lines show metrics.
std::string FormatMetrics(double loss, const std::vector<MetricSpec>& metrics,
                          const std::vector<double>& means);

}  // namespace framework

#endif  // FRAMEWORK_TRAIN_EVALUATION_H_
