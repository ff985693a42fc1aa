// Fault injection points in the framework's file operations, for tests of
// what a full disk, an I/O error or a crash at a given moment does to a run.
//
// The durable-file primitives ask InjectedFault(operation, path) before each
// system call: "create", "write", "sync", "rename" (path: the destination),
// "sync_directory" and "remove". Nothing is installed in a user's binary, so
// each point costs one atomic load and is never taken. Test binaries link
// //framework/testing:fault_injection_from_env, which installs an injector
// from the environment; unit tests may call SetFaultInjector directly.
#ifndef FRAMEWORK_CORE_FAULT_INJECTION_H_
#define FRAMEWORK_CORE_FAULT_INJECTION_H_

#include <functional>
#include <string>

namespace framework {

// Returns 0 to let the operation proceed, or an errno value that the
// operation then fails with, exactly as if its system call had returned it.
// An injector may also end the process (a simulated crash).
using FaultInjector = std::function<int(const char* operation, const std::string& path)>;

// Installs `injector` (or removes it, when empty). Not thread-safe with
// respect to operations in flight: install before starting work.
void SetFaultInjector(FaultInjector injector);

// What the installed injector says about `operation` on `path`; 0 if none.
int InjectedFault(const char* operation, const std::string& path);

}  // namespace framework

#endif  // FRAMEWORK_CORE_FAULT_INJECTION_H_
