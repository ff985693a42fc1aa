// Callbacks: training logic a plugin adds to the loop, with state that every
// checkpoint carries under the callback's name, so a resumed run continues
// it exactly.
//
// A callback is a LoopObserver (loop_state.h: after backward, before and
// after the optimizer step, at each step's end, after evaluation, at an
// epoch's end) that also saves and restores its state. The framework's own
// techniques are callbacks (the weights' moving average "ema", "early_
// stopping"); a plugin adds one with a declaration of its options:
//
//   const DeclaredOptions kSmoothedLossOptions = {
//       DoubleOption("beta", 0.98, "Smoothing factor.").AtLeast(0).Below(1)};
//   REGISTER_CALLBACK("smoothed_loss", BuildSmoothedLoss, kSmoothedLossOptions);
//
// and `--callbacks=smoothed_loss` selects it (its options come from
// `--callback_options={"smoothed_loss":{"beta":0.9}}`, checked against the
// declaration and recorded, run-defining, as "callback.smoothed_loss.beta").
//
// State is small JSON values (counters, best values) and named tensors (such
// as averaged weights). A checkpoint stores the values in its manifest under
// "callbacks" and the tensors in state.safetensors as
// "callback.<name>.<tensor>"; a resume refuses a checkpoint that holds state
// for a callback this run does not load, or lacks state for one it does,
// naming the callback. A callback may change the tensors of its state only
// from AfterOptimizerStep() to the next BeforeOptimizerStep(): an
// asynchronous checkpoint may be copying them until then.
#ifndef FRAMEWORK_TRAIN_CALLBACK_H_
#define FRAMEWORK_TRAIN_CALLBACK_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/core/declared_options.h"
#include "framework/core/named_tensor.h"
#include "framework/core/registry.h"
#include "framework/model/model.h"
#include "framework/train/loop_state.h"
#include "nlohmann/json.hpp"

namespace framework {

// What a callback carries from one run segment to the next.
struct CallbackState {
  nlohmann::json values = nlohmann::json::object();
  // Names are the callback's own ("conv1.weight"); the checkpoint prefixes
  // them.
  std::vector<NamedTensor> tensors;
};

class Callback : public LoopObserver {
 public:
  // Tensors may refer to the live ones; the checkpoint copies them before
  // the next BeforeOptimizerStep() returns.
  virtual CallbackState State() const { return {}; }
  // `state` is what State() returned when the checkpoint `source` was saved.
  virtual absl::Status LoadState(const CallbackState& state, const std::string& source) {
    return absl::OkStatus();
  }
  // The names of the values AfterEvaluation() adds to every epoch's record
  // ("valid_ema_loss"), given the trainer's metrics: so that --monitor can
  // be checked before training starts.
  virtual std::vector<std::string> AddedValues(const std::vector<std::string>& metrics) const {
    return {};
  }
};

// What a callback's build function gets.
struct CallbackContext {
  std::string name;      // as selected, for messages
  OptionValues options;  // checked against the callback's declaration
  // The validation metric that --monitor names, and whether larger is better.
  std::string monitor = "valid_loss";
  bool monitor_maximizes = false;
  // A fresh model of the run's architecture (on its device), for a callback
  // that keeps weights of its own; the global generator is left as it was,
  // so building one changes no other random draw of the run.
  std::function<absl::StatusOr<std::shared_ptr<Model>>()> build_model;
};

using CallbackFactory =
    std::function<absl::StatusOr<std::unique_ptr<Callback>>(const CallbackContext& context)>;

struct CallbackEntry {
  CallbackFactory build;
  DeclaredOptions options;
};

Registry<CallbackEntry>& CallbackRegistry();

// The registered callback `name`'s options from `given` (see ResolveOptions
// for `where`).
absl::StatusOr<OptionValues> ResolveCallbackOptions(
    const std::string& name, const nlohmann::json& given,
    const std::function<std::string(const std::string& key)>& where);

// Builds the registered callback context.name with its resolved options.
absl::StatusOr<std::unique_ptr<Callback>> BuildCallback(const CallbackContext& context);

}  // namespace framework

#define REGISTER_CALLBACK(name, factory, declared_options)                   \
  static ::framework::Registration<::framework::CallbackEntry>               \
      FRAMEWORK_REGISTRY_UNIQUE_NAME(callback_registration_)(                \
          ::framework::CallbackRegistry(), name,                             \
          ::framework::CallbackEntry{factory, declared_options}, __FILE__)

#endif  // FRAMEWORK_TRAIN_CALLBACK_H_
