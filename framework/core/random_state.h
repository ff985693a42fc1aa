// Random number generation that a run can reproduce and resume.
//
// Data order and generated data use private generators seeded from the run's
// seed, so they never depend on how many numbers the model consumed. The
// global CPU generator (used by parameter initialisation and dropout) is
// captured and restored as bytes, so a resumed run continues the exact
// stream it would have produced without stopping.
#ifndef FRAMEWORK_CORE_RANDOM_STATE_H_
#define FRAMEWORK_CORE_RANDOM_STATE_H_

#include <cstdint>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace framework {

// SplitMix64's finaliser: decorrelates nearby seeds such as (seed, epoch).
uint64_t MixSeed(uint64_t value);

// A new CPU generator in a fixed state derived from `seed`.
at::Generator MakeGenerator(uint64_t seed);

// Seed of the generator that orders the samples of `epoch`.
uint64_t EpochSeed(uint64_t run_seed, int64_t epoch);

// Seed of data-parallel rank `rank`'s global generator (dropout) from
// `global_step` on: each rank draws different masks, and a run resumed at
// another world size derives every rank's afresh.
uint64_t RankSeed(uint64_t run_seed, int64_t rank, int64_t global_step);

// Seeds LibTorch's global CPU generator.
void SeedGlobalGenerator(uint64_t seed);

// The global CPU generator's full state (a uint8 tensor), and its restore.
at::Tensor GlobalGeneratorState();
void RestoreGlobalGeneratorState(const at::Tensor& state);

}  // namespace framework

#endif  // FRAMEWORK_CORE_RANDOM_STATE_H_
