#include "framework/core/random_state.h"

#include <mutex>

#include <ATen/CPUGeneratorImpl.h>

namespace framework {

uint64_t MixSeed(uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

at::Generator MakeGenerator(uint64_t seed) {
  return at::detail::createCPUGenerator(seed);
}

uint64_t EpochSeed(uint64_t run_seed, int64_t epoch) {
  return MixSeed(MixSeed(run_seed) ^ static_cast<uint64_t>(epoch));
}

uint64_t RankSeed(uint64_t run_seed, int64_t rank, int64_t global_step) {
  // Apart from EpochSeed's stream by a constant, so that no (epoch) and
  // (rank, step) pair meet.
  constexpr uint64_t kRankStream = 0x72616e6b5f726e67;  // "rank_rng"
  return MixSeed(MixSeed(MixSeed(run_seed ^ kRankStream) ^ static_cast<uint64_t>(rank)) ^
                 static_cast<uint64_t>(global_step));
}

void SeedGlobalGenerator(uint64_t seed) {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_current_seed(seed);
}

at::Tensor GlobalGeneratorState() {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void RestoreGlobalGeneratorState(const at::Tensor& state) {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

}  // namespace framework
