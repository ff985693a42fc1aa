// Early stopping: the callback "early_stopping" (--early_stop_patience,
// --early_stop_min_delta) ends training when the --monitor metric has not
// improved for `patience` epochs.
//
// As PyTorch Lightning's EarlyStopping: an epoch improves on the best value
// when its value is better by more than min_delta (below best - min_delta
// for a metric to minimise, above best + min_delta for one to maximise); a
// value that is not finite ends training at once. The decision is taken when
// the epoch ends, before that epoch's checkpoint is saved, so the checkpoint
// holds the state that led to it (best value and epoch, epochs without
// improvement), and the run ends with a final checkpoint and exit 0. Every
// rank sees the same (all-reduced) validation values and so stops at the
// same epoch.
#ifndef FRAMEWORK_TRAIN_EARLY_STOPPING_H_
#define FRAMEWORK_TRAIN_EARLY_STOPPING_H_

#include <cstdint>
#include <optional>
#include <string>

#include "framework/core/declared_options.h"

namespace framework {

struct EarlyStoppingState {
  std::optional<double> best;  // none before the first epoch
  int64_t best_epoch = 0;
  int64_t epochs_without_improvement = 0;
};

struct EarlyStoppingRule {
  int64_t patience = 1;
  double min_delta = 0;
  bool maximize = false;
};

// Takes epoch `epoch`'s `value` into `state`; returns why training must end,
// or nullopt to go on.
std::optional<std::string> ObserveEpoch(const EarlyStoppingRule& rule, const std::string& monitor,
                                        int64_t epoch, double value, EarlyStoppingState& state);

// The options of callback "early_stopping".
const DeclaredOptions& EarlyStoppingOptions();

}  // namespace framework

#endif  // FRAMEWORK_TRAIN_EARLY_STOPPING_H_
