#include "framework/distributed/gradient_averager.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace framework {

GradientAverager::GradientAverager(Communicator& communicator,
                                   std::vector<at::Tensor> parameters, int64_t bucket_bytes,
                                   int64_t step_sums)
    : communicator_(communicator), parameters_(std::move(parameters)), step_sums_(step_sums) {
  CHECK_GT(bucket_bytes, 0);
  bucket_of_.assign(parameters_.size(), -1);
  seen_.assign(parameters_.size(), false);
  // Reverse order; a bucket holds one dtype and device, and closes when full.
  int64_t bytes = 0;
  for (int64_t i = static_cast<int64_t>(parameters_.size()) - 1; i >= 0; --i) {
    const at::Tensor& parameter = parameters_[i];
    CHECK(parameter.requires_grad()) << "parameter " << i << " does not require a gradient";
    const bool fits = !buckets_.empty() && bytes < bucket_bytes &&
                      parameters_[buckets_.back().parameters.front()].options().type_equal(
                          parameter.options());
    if (!fits) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().parameters.push_back(i);
    bucket_of_[i] = static_cast<int64_t>(buckets_.size()) - 1;
    bytes += static_cast<int64_t>(parameter.numel() * parameter.element_size());
  }
  CHECK(!buckets_.empty()) << "no parameters to average";
  const at::ScalarType first_type = parameters_[buckets_.front().parameters.front()].scalar_type();
  sums_in_first_bucket_ = first_type == at::kFloat || first_type == at::kDouble;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    int64_t elements = 0;
    for (int64_t i : bucket.parameters) elements += parameters_[i].numel();
    if (b == 0 && sums_in_first_bucket_) elements += step_sums_;
    bucket.flat = at::zeros({elements}, parameters_[bucket.parameters.front()].options()
                                            .requires_grad(false));
  }
  for (int64_t i = 0; i < static_cast<int64_t>(parameters_.size()); ++i) {
    std::shared_ptr<torch::autograd::Node> accumulator =
        torch::autograd::impl::grad_accumulator(parameters_[i]);
    CHECK(accumulator != nullptr) << "parameter " << i << " is not a leaf";
    hook_keys_.push_back(accumulator->add_post_hook(
        std::make_unique<torch::autograd::utils::LambdaPostHook>(
            [this, i](const torch::autograd::variable_list& outputs,
                      const torch::autograd::variable_list&) {
              OnGradientReady(i);
              return outputs;
            })));
    accumulators_.push_back(std::move(accumulator));
  }
}

GradientAverager::~GradientAverager() {
  for (size_t i = 0; i < accumulators_.size(); ++i) accumulators_[i]->del_post_hook(hook_keys_[i]);
}

void GradientAverager::StartStep(double share, std::vector<double> sums) {
  std::lock_guard<std::mutex> lock(mutex_);
  CHECK(!armed_) << "StartStep() twice without FinishStep()";
  CHECK_EQ(static_cast<int64_t>(sums.size()), step_sums_) << "sums to add up";
  armed_ = true;
  share_ = share;
  sums_ = std::move(sums);
  if (step_sums_ > 0 && !sums_in_first_bucket_) {
    separate_sums_ = at::tensor(sums_, at::TensorOptions().dtype(at::kDouble));
    std::vector<at::Tensor> tensors = {separate_sums_};
    separate_sums_pending_ = communicator_.StartAllReduceSum(tensors, "the step's sums");
  }
  next_bucket_ = 0;
  seen_.assign(parameters_.size(), false);
  for (Bucket& bucket : buckets_) bucket.ready = 0;
}

void GradientAverager::OnGradientReady(int64_t parameter) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Backward passes outside a training step (none in the loop) are not ours.
  if (!armed_ || seen_[parameter]) return;
  seen_[parameter] = true;
  ++buckets_[bucket_of_[parameter]].ready;
  StartReadyBuckets(/*all=*/false);
}

void GradientAverager::StartReadyBuckets(bool all) {
  while (next_bucket_ < static_cast<int64_t>(buckets_.size())) {
    Bucket& bucket = buckets_[next_bucket_];
    if (!all && bucket.ready < static_cast<int64_t>(bucket.parameters.size())) return;
    int64_t offset = 0;
    for (int64_t i : bucket.parameters) {
      const at::Tensor& parameter = parameters_[i];
      at::Tensor slice = bucket.flat.narrow(0, offset, parameter.numel());
      const at::Tensor& grad = parameter.grad();
      if (grad.defined() && share_ != 0) {
        at::mul_out(slice, grad.reshape({-1}), share_);
      } else {
        slice.zero_();
      }
      offset += parameter.numel();
    }
    if (next_bucket_ == 0 && sums_in_first_bucket_ && step_sums_ > 0) {
      bucket.flat.narrow(0, offset, step_sums_)
          .copy_(at::tensor(sums_, at::TensorOptions().dtype(at::kDouble)));
    }
    std::vector<at::Tensor> tensors = {bucket.flat};
    bucket.pending = communicator_.StartAllReduceSum(
        tensors, absl::StrCat("gradient bucket ", next_bucket_, " of ", buckets_.size()));
    ++next_bucket_;
  }
}

absl::Status GradientAverager::FinishStep(std::vector<double>* sums) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    CHECK(armed_) << "FinishStep() without StartStep()";
    StartReadyBuckets(/*all=*/true);
    armed_ = false;
  }
  absl::Status status = separate_sums_pending_.Wait();
  for (Bucket& bucket : buckets_) {
    absl::Status waited = bucket.pending.Wait();
    if (status.ok()) status = waited;
  }
  if (!status.ok()) return status;
  if (sums != nullptr && step_sums_ > 0) {
    const at::Tensor totals =
        (sums_in_first_bucket_
             ? buckets_.front().flat.narrow(0, buckets_.front().flat.numel() - step_sums_,
                                            step_sums_)
             : separate_sums_)
            .to(at::kDouble);
    sums->assign(totals.data_ptr<double>(), totals.data_ptr<double>() + step_sums_);
  }
  for (Bucket& bucket : buckets_) {
    int64_t offset = 0;
    for (int64_t i : bucket.parameters) {
      at::Tensor& parameter = parameters_[i];
      at::Tensor averaged = bucket.flat.narrow(0, offset, parameter.numel()).view(parameter.sizes());
      if (parameter.mutable_grad().defined()) {
        parameter.mutable_grad().copy_(averaged);
      } else {
        parameter.mutable_grad() = averaged.clone();
      }
      offset += parameter.numel();
    }
  }
  return absl::OkStatus();
}

}  // namespace framework
