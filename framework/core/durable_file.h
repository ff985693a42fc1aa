// Write patterns that survive a crash, over Env::Default(): a rename that
// persists, and a file replaced whole (a reader sees the old contents or the
// new, never a mix). Plus reading a whole file. Used by the checkpoint,
// model-file and log writers.
#ifndef FRAMEWORK_CORE_DURABLE_FILE_H_
#define FRAMEWORK_CORE_DURABLE_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/core/env.h"

namespace framework {

// Reads a whole file.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Reads the first `size` bytes of a file (fewer if it is shorter), as a
// format sniffer does.
absl::StatusOr<std::string> ReadFileHead(const std::string& path, size_t size);

// Creates (or truncates) `path` and writes `contents` into it, with `sync`
// fsynced before closing.
absl::Status WriteStringToFile(const std::string& path, const std::string& contents, bool sync);

// rename(2) (atomic on POSIX file systems), then, with `sync`, fsync of the
// parent directory. (On ext4's default data=ordered, that fsync also flushes
// the renamed files' data, so it is skipped when durability is not wanted.)
absl::Status RenameDurably(const std::string& from, const std::string& to, bool sync = true);

// Replaces the file at `path` with `contents`: written beside it, then renamed
// over it, so a reader sees the old or the new contents, never a mix.
absl::Status ReplaceFileContents(const std::string& path, const std::string& contents,
                                 bool sync = true);

}  // namespace framework

#endif  // FRAMEWORK_CORE_DURABLE_FILE_H_
