#include "framework/train/trainer.h"

namespace framework {

Registry<TrainerFactory>& TrainerRegistry() {
  static auto* registry = new Registry<TrainerFactory>("trainer");
  return *registry;
}

absl::StatusOr<std::unique_ptr<Trainer>> BuildTrainer(const std::string& name) {
  absl::StatusOr<TrainerFactory> factory = TrainerRegistry().Find(name);
  if (!factory.ok()) return factory.status();
  return (*factory)();
}

}  // namespace framework
