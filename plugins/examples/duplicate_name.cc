// A plugin whose model name is already taken (by plugins/models/lenet.cc):
// loading it must fail and name both sources. For tests.
#include "framework/model/model.h"

REGISTER_MODEL("lenet", [](const nlohmann::json&) -> absl::StatusOr<std::shared_ptr<framework::Model>> {
  return absl::UnimplementedError("never built");
});
