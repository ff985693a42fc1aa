// Paths as the user typed them. Under `bazel run` a program starts inside
// Bazel's runfiles tree, but a user's relative path means the directory they
// ran Bazel from (BUILD_WORKING_DIRECTORY); started directly, it means the
// current directory.
#ifndef FRAMEWORK_CORE_USER_PATH_H_
#define FRAMEWORK_CORE_USER_PATH_H_

#include <string>

namespace framework {

// `path` made absolute against the user's directory, normalised.
std::string ResolveUserPath(const std::string& path);

}  // namespace framework

#endif  // FRAMEWORK_CORE_USER_PATH_H_
