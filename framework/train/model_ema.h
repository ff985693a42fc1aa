// An exponential moving average of the model's weights, kept beside the
// trained ones and evaluated after every epoch: the callback "ema"
// (--ema_decay, see docs/training-techniques.md).
//
// The rule is timm's ModelEmaV3 with the update count as its step, as timm's
// train.py calls it: after the n-th optimizer step, every floating-point
// parameter and buffer e of the average moves towards the model's m as
// e.lerp_(m, 1 - decay(n)), and every other buffer (counters) is copied;
// decay(n) is 0 (a copy) for n <= update_after_step + 1 and then the decay
// given, or with warm-up 1 - (1 + k / gamma)^-power for k = n -
// update_after_step - 1, at most the decay given and at least min_decay.
// The average and n are the callback's state: a checkpoint holds them and a
// resumed run goes on from them.
#ifndef FRAMEWORK_TRAIN_MODEL_EMA_H_
#define FRAMEWORK_TRAIN_MODEL_EMA_H_

#include <cstdint>
#include <vector>

#include "framework/core/declared_options.h"
#include "framework/core/named_tensor.h"

namespace framework {

struct EmaSchedule {
  double decay = 0.9999;
  bool warmup = false;
  double warmup_gamma = 1.0;
  double warmup_power = 2.0 / 3.0;
  double min_decay = 0.0;
  int64_t update_after_step = 0;
};

// The decay of the `update`-th update (1-based), as ModelEmaV3.get_decay.
double EmaDecay(const EmaSchedule& schedule, int64_t update);

// One update: `average` and `live` are state dicts of one architecture, in
// the same order.
void UpdateEma(const std::vector<NamedTensor>& average, const std::vector<NamedTensor>& live,
               double decay);

// The options of callback "ema" (its flags: --ema_decay, --ema_warmup).
const DeclaredOptions& EmaOptions();

}  // namespace framework

#endif  // FRAMEWORK_TRAIN_MODEL_EMA_H_
