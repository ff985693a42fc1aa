#include "framework/core/malloc_tuning.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace framework {

bool TuneMallocForTensors() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if ((tunables != nullptr && std::strstr(tunables, "malloc") != nullptr) ||
      std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr ||
      std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr) {
    return false;
  }
  // Blocks below 256 MiB from the heap, and up to 1 GiB of free memory at
  // its top kept rather than trimmed.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return true;
}

}  // namespace framework
