// The framework's version, and the symbol that stamps it into every plugin.
//
// Every file that registers a plugin includes this header (through
// registry.h), so a plugin shared object carries the version it was compiled
// against as the exported symbol `torchtrain_plugin_framework_version`. The
// loader (plugin_library.h) refuses a library whose version differs from the
// binary's: registries, options structs and interfaces may change between
// versions, and a mismatch would corrupt memory instead of failing.
#ifndef FRAMEWORK_CORE_VERSION_H_
#define FRAMEWORK_CORE_VERSION_H_

// Bump on every change to a header under framework/ that plugins include.
// Only tests define it on the command line, to build a plugin "against another
// framework version".
#ifndef TORCHTRAIN_VERSION
#define TORCHTRAIN_VERSION "0.5.0"
#endif

namespace framework {
// The version this binary was built with (defined in registry.cc, so a plugin
// that reads it gets the binary's, not its own).
extern const char kFrameworkVersion[];
}  // namespace framework

// One weak definition per translation unit; the linker keeps one. Looked up
// with dlsym() in each loaded plugin library.
extern "C" __attribute__((weak, visibility("default"))) const char
    torchtrain_plugin_framework_version[] = TORCHTRAIN_VERSION;

#endif  // FRAMEWORK_CORE_VERSION_H_
