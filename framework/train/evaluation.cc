#include "framework/train/evaluation.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <tuple>
#include <vector>

#include <torch/csrc/autograd/grad_mode.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace framework {

Batch GatherBatch(const Dataset& data, const torch::Tensor& indices, const torch::Device& device,
                  int64_t epoch) {
  Batch batch;
  std::tie(batch.inputs, batch.targets) = data.Gather(indices, epoch);
  if (device != batch.inputs.device()) {
    batch.inputs = batch.inputs.to(device);
    batch.targets = batch.targets.to(device);
  }
  return batch;
}

absl::StatusOr<std::map<std::string, double>> EvaluateModel(Model& model, Trainer& trainer,
                                                            const Dataset& data,
                                                            const EvaluationOptions& options) {
  const std::vector<MetricSpec> metrics = trainer.Metrics();
  Communicator* group = options.communicator;
  const int64_t rank = group == nullptr ? 0 : group->rank();
  const int64_t world_size = group == nullptr ? 1 : group->world_size();
  try {
    torch::NoGradGuard no_grad;
    model.eval();
    // Data parallel: rank r evaluates chunks r, r + world size, ...; the sums
    // are then added up, so every rank gets the whole set's values.
    double loss_sum = 0;
    std::vector<double> sums(metrics.size(), 0.0);
    double counted = 0, skipped = 0;  // samples evaluated, and left out
    const int64_t size = data.size();
    const int64_t chunk = options.batch_size;
    std::vector<torch::Tensor> chunks;
    for (int64_t start = rank * chunk; start < size; start += world_size * chunk) {
      const int64_t length = std::min(chunk, size - start);
      chunks.push_back(
          torch::arange(start, start + length, torch::TensorOptions().dtype(torch::kInt64)));
    }
    const size_t count = chunks.size();
    BatchPrefetcher batches(data, /*epoch=*/0, std::move(chunks), options.prefetch);
    for (size_t c = 0; c < count; ++c) {
      absl::StatusOr<GatheredBatch> gathered = batches.Next();
      if (!gathered.ok()) return gathered.status();
      const int64_t length = gathered->targets.size(0);
      counted += static_cast<double>(length);
      skipped += static_cast<double>(gathered->skipped);
      if (length == 0) continue;
      Batch batch;
      batch.inputs = gathered->inputs.to(options.device);
      batch.targets = gathered->targets.to(options.device);
      StepResult result;
      {
        AutocastScope autocast(options.precision, options.device);
        result = trainer.EvalStep(model, batch);
      }
      loss_sum += result.loss.item<double>() * static_cast<double>(length);
      for (size_t i = 0; i < sums.size(); ++i) sums[i] += result.metric_sums[i];
    }
    if (group != nullptr) {
      std::vector<double> local = {loss_sum, counted, skipped};
      local.insert(local.end(), sums.begin(), sums.end());
      std::vector<at::Tensor> reduced = {
          torch::tensor(local, torch::TensorOptions().dtype(torch::kFloat64))};
      if (absl::Status status = group->AllReduceSum(reduced, "the evaluation's metrics");
          !status.ok()) {
        return status;
      }
      const double* total = reduced[0].data_ptr<double>();
      loss_sum = total[0];
      counted = total[1];
      skipped = total[2];
      for (size_t i = 0; i < sums.size(); ++i) sums[i] = total[i + 3];
    }
    std::map<std::string, double> values;
    values["loss"] = counted > 0 ? loss_sum / counted : 0.0;
    for (size_t i = 0; i < metrics.size(); ++i) {
      values[metrics[i].name] = counted > 0 ? sums[i] / counted : 0.0;
    }
    if (data.skip_bad_samples) values["skipped_samples"] = skipped;
    return values;
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("evaluation failed: ", e.what()));
  }
}

std::string FormatMetrics(double loss, const std::vector<MetricSpec>& metrics,
                          const std::vector<double>& means) {
  std::string text = absl::StrFormat("Loss: %.4f", loss);
  for (size_t i = 0; i < metrics.size(); ++i) {
    const double mean = means[i];
    std::string name = metrics[i].name;
    if (!name.empty()) name[0] = static_cast<char>(std::toupper(name[0]));
    if (metrics[i].percent) {
      absl::StrAppendFormat(&text, " %s:%.2f%%", name, 100.0 * mean);
    } else {
      absl::StrAppendFormat(&text, " %s: %.4f", name, mean);
    }
  }
  return text;
}

}  // namespace framework
