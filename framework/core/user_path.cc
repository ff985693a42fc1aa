#include "framework/core/user_path.h"

#include <cstdlib>
#include <filesystem>

namespace framework {

std::string ResolveUserPath(const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  const char* base = std::getenv("BUILD_WORKING_DIRECTORY");
  std::filesystem::path root = base != nullptr && *base != '\0' ? std::filesystem::path(base)
                                                                : std::filesystem::current_path();
  return (root / p).lexically_normal().string();
}

}  // namespace framework
