#include "framework/distributed/gradient_averager.h"

#include <algorithm>
#include <cstddef>

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
  through_shared_memory_ = communicator_.all_reduce_in_shared_memory() &&
                           parameters_[buckets_.front().parameters.front()].device().is_cpu();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    for (int64_t i : bucket.parameters) bucket.elements += parameters_[i].numel();
    if (b == 0 && sums_in_first_bucket_) bucket.elements += step_sums_;
    if (!through_shared_memory_) {
      bucket.flat = at::zeros({bucket.elements}, parameters_[bucket.parameters.front()].options()
                                                     .requires_grad(false));
    }
  }
  if (through_shared_memory_) KeepGradientsInSharedMemory();
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
  if (resident_ == nullptr) return;
  // The segment goes with this object; the grads stay.
  const std::byte* slot = resident_->own_slot();
  for (at::Tensor& parameter : parameters_) {
    at::Tensor& grad = parameter.mutable_grad();
    if (!grad.defined()) continue;
    const auto* data = static_cast<const std::byte*>(grad.data_ptr());
    if (data >= slot && data < slot + resident_->slot_bytes()) grad = grad.clone();
  }
}

void GradientAverager::KeepGradientsInSharedMemory() {
  for (const at::Tensor& parameter : parameters_) {
    const at::ScalarType type = parameter.scalar_type();
    if ((type != at::kFloat && type != at::kDouble) || !parameter.is_contiguous()) return;
  }
  // Each bucket on cache lines of its own: ranks summing neighbouring
  // buckets write no line in common.
  constexpr size_t kLine = 64;
  size_t bytes = 0;
  gradient_offset_.assign(parameters_.size(), 0);
  for (Bucket& bucket : buckets_) {
    bytes = (bytes + kLine - 1) / kLine * kLine;
    bucket.offset = bytes;
    const size_t element = parameters_[bucket.parameters.front()].element_size();
    size_t offset = bytes;
    for (int64_t i : bucket.parameters) {
      gradient_offset_[i] = offset;
      offset += static_cast<size_t>(parameters_[i].numel()) * element;
    }
    bytes += static_cast<size_t>(bucket.elements) * element;  // with the step's sums, in bucket 0
  }
  absl::StatusOr<std::unique_ptr<SharedMemoryAllReduce>> joined =
      communicator_.JoinSharedMemory(bytes);
  if (!joined.ok()) {
    if (communicator_.rank() == 0) {
      LOG(INFO) << "The gradients are copied into shared memory to be summed, not kept there: "
                << joined.status().message();
    }
    return;
  }
  resident_ = std::move(*joined);
  for (int64_t i = 0; i < static_cast<int64_t>(parameters_.size()); ++i) {
    MoveGradientToItsPlace(i);
  }
}

void GradientAverager::MoveGradientToItsPlace(int64_t i) {
  at::Tensor& parameter = parameters_[i];
  at::Tensor place =
      at::from_blob(resident_->own_slot() + gradient_offset_[i], parameter.sizes(),
                    at::TensorOptions().dtype(parameter.scalar_type()));
  at::Tensor& grad = parameter.mutable_grad();
  if (grad.defined()) {
    place.copy_(grad);
  } else {
    place.zero_();
  }
  grad = place;
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
  shared_memory_sums_.assign(step_sums_, 0.0);
  for (Bucket& bucket : buckets_) {
    bucket.ready = 0;
    bucket.summed = absl::OkStatus();
  }
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
    if (through_shared_memory_) {
      bucket.summed =
          resident_ != nullptr ? StartSumInPlace(next_bucket_) : SumInSharedMemory(next_bucket_);
      ++next_bucket_;
      continue;
    }
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

absl::Status GradientAverager::SumInSharedMemory(int64_t b) {
  const Bucket& bucket = buckets_[b];
  const at::Tensor& first = parameters_[bucket.parameters.front()];
  const at::ScalarType type = first.scalar_type();
  const at::TensorOptions options = at::TensorOptions().dtype(type);
  const size_t element = first.element_size();
  for (int64_t i : bucket.parameters) {
    at::Tensor& grad = parameters_[i].mutable_grad();
    if (grad.defined() && !grad.is_contiguous()) grad = grad.contiguous();
  }
  // The step's sums, at the end of bucket 0: values [sums_at, elements).
  const int64_t sums_at =
      bucket.elements - (b == 0 && sums_in_first_bucket_ ? step_sums_ : 0);
  // Calls `each(i, from, to, place)` for parameter i's values [from, to)
  // that lie in the piece [begin, begin + count), at `place` in the piece.
  auto for_each_in = [&](int64_t begin, int64_t count, const auto& each) {
    int64_t offset = 0;
    for (int64_t i : bucket.parameters) {
      const int64_t numel = parameters_[i].numel();
      const int64_t from = std::max(begin, offset);
      const int64_t to = std::min(begin + count, offset + numel);
      if (from < to) each(i, from - offset, to - offset, from - begin);
      offset += numel;
    }
  };
  // The same weighting, types and rounding as the Gloo path's buffer.
  auto fill = [&](int64_t begin, int64_t count, void* destination) {
    auto* bytes = static_cast<std::byte*>(destination);
    for_each_in(begin, count, [&](int64_t i, int64_t from, int64_t to, int64_t place) {
      at::Tensor into = at::from_blob(bytes + place * element, {to - from}, options);
      const at::Tensor& grad = parameters_[i].grad();
      if (grad.defined() && share_ != 0) {
        at::mul_out(into, grad.view({-1}).narrow(0, from, to - from), share_);
      } else {
        into.zero_();
      }
    });
    const int64_t from = std::max(begin, sums_at);
    const int64_t to = begin + count;
    if (from < to) {
      at::from_blob(bytes + (from - begin) * element, {to - from}, options)
          .copy_(at::tensor(sums_, at::TensorOptions().dtype(at::kDouble))
                     .narrow(0, from - sums_at, to - from));
    }
  };
  auto drain = [&](int64_t begin, int64_t count, const void* summed) {
    auto* bytes = static_cast<std::byte*>(const_cast<void*>(summed));
    for_each_in(begin, count, [&](int64_t i, int64_t from, int64_t to, int64_t place) {
      at::Tensor& parameter = parameters_[i];
      at::Tensor& grad = parameter.mutable_grad();
      if (!grad.defined()) {
        grad = at::empty(parameter.sizes(), parameter.options().requires_grad(false));
      }
      grad.view({-1}).narrow(0, from, to - from).copy_(
          at::from_blob(bytes + place * element, {to - from}, options));
    });
    const int64_t from = std::max(begin, sums_at);
    const int64_t to = begin + count;
    if (from < to) {
      const at::Tensor totals =
          at::from_blob(bytes + (from - begin) * element, {to - from}, options).to(at::kDouble);
      std::copy(totals.data_ptr<double>(), totals.data_ptr<double>() + (to - from),
                shared_memory_sums_.begin() + (from - sums_at));
    }
  };
  return communicator_.AllReduceSumInPieces(
      bucket.elements, type, fill, drain,
      absl::StrCat("gradient bucket ", b, " of ", buckets_.size()));
}

absl::Status GradientAverager::StartSumInPlace(int64_t b) {
  const Bucket& bucket = buckets_[b];
  const at::Tensor& first = parameters_[bucket.parameters.front()];
  const at::ScalarType type = first.scalar_type();
  std::byte* const slot = resident_->own_slot();
  for (int64_t i : bucket.parameters) {
    // Where a grad is not in its place (set to none, or replaced), it is
    // copied there; a missing one contributes zeros.
    at::Tensor& parameter = parameters_[i];
    at::Tensor& grad = parameter.mutable_grad();
    if (grad.defined() && grad.data_ptr() == slot + gradient_offset_[i] &&
        grad.sizes() == parameter.sizes() && grad.is_contiguous()) {
      continue;
    }
    MoveGradientToItsPlace(i);
  }
  const int64_t sums_at = bucket.elements - (b == 0 ? SumsInSlot() : 0);
  if (b == 0 && SumsInSlot() > 0) {
    // Rounded to the bucket's type, as in the Gloo path's buffer.
    StepSumsInSlot().copy_(at::tensor(sums_, at::TensorOptions().dtype(at::kDouble)));
  }
  return communicator_.StartSumInSlots(
      *resident_, bucket.offset, bucket.elements, type, share_, /*weighted=*/sums_at,
      absl::StrCat("gradient bucket ", b, " of ", buckets_.size()));
}

int64_t GradientAverager::SumsInSlot() const {
  return resident_ != nullptr && sums_in_first_bucket_ ? step_sums_ : 0;
}

at::Tensor GradientAverager::StepSumsInSlot() const {
  const Bucket& bucket = buckets_.front();
  const at::Tensor& first = parameters_[bucket.parameters.front()];
  const size_t element = first.element_size();
  const int64_t sums_at = bucket.elements - step_sums_;
  std::byte* const place =
      resident_->own_slot() + bucket.offset + static_cast<size_t>(sums_at) * element;
  return at::from_blob(place, {step_sums_}, at::TensorOptions().dtype(first.scalar_type()));
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
    if (status.ok()) status = bucket.summed;
  }
  if (status.ok() && resident_ != nullptr) {
    status = communicator_.FinishSumsInSlots(
        *resident_, absl::StrCat("the ", buckets_.size(), " gradient buckets"));
    if (status.ok() && SumsInSlot() > 0) {
      const at::Tensor totals = StepSumsInSlot().to(at::kDouble);
      std::copy(totals.data_ptr<double>(), totals.data_ptr<double>() + step_sums_,
                shared_memory_sums_.begin());
    }
  }
  if (!status.ok()) return status;
  if (sums != nullptr && step_sums_ > 0) {
    if (through_shared_memory_ && sums_in_first_bucket_) {
      *sums = shared_memory_sums_;
    } else {
      const at::Tensor totals =
          (sums_in_first_bucket_
               ? buckets_.front().flat.narrow(0, buckets_.front().flat.numel() - step_sums_,
                                              step_sums_)
               : separate_sums_)
              .to(at::kDouble);
      sums->assign(totals.data_ptr<double>(), totals.data_ptr<double>() + step_sums_);
    }
  }
  if (through_shared_memory_) return absl::OkStatus();  // the grads hold the sums already
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
