// What the fuzz targets share: the readers under test take paths, so each
// input is written to a scratch file (in memory where /dev/shm exists), and
// inputs that stand for several files are split at a separator line.
#ifndef FUZZ_FUZZ_INPUT_H_
#define FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fuzzing {

// A directory private to this process, created on first use and removed at
// exit.
const std::string& ScratchDirectory();

// Writes `bytes` to ScratchDirectory()/name and returns its path.
std::string WriteScratchFile(const std::string& name, const std::string& bytes);

// The separator between files in a multi-file input; a line of its own.
inline constexpr char kFileSeparator[] = "\n--8<-- next file --8<--\n";

// `data` split at kFileSeparator into exactly `parts` pieces (missing
// pieces are empty; extra separators stay in the last piece).
std::vector<std::string> SplitInput(const uint8_t* data, size_t size, int parts);

}  // namespace fuzzing

#endif  // FUZZ_FUZZ_INPUT_H_
