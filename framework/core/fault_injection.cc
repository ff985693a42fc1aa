#include "framework/core/fault_injection.h"

#include <atomic>
#include <utility>

namespace framework {
namespace {

std::atomic<bool> installed{false};

FaultInjector& Injector() {
  static auto* injector = new FaultInjector();
  return *injector;
}

}  // namespace

void SetFaultInjector(FaultInjector injector) {
  installed.store(false, std::memory_order_release);
  Injector() = std::move(injector);
  installed.store(static_cast<bool>(Injector()), std::memory_order_release);
}

int InjectedFault(const char* operation, const std::string& path) {
  if (!installed.load(std::memory_order_acquire)) return 0;
  return Injector()(operation, path);
}

}  // namespace framework
