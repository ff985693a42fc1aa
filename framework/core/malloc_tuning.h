// glibc malloc tuned for tensors: a training step frees and allocates the
// same few-megabyte buffers (activations, gradients, attention scores) again
// and again. By default glibc serves such sizes with mmap and returns them to
// the kernel on free (and trims the heap's top), so every step page-faults
// its buffers in afresh: on //experiments:char_gpt that was about 7% of the
// time in the kernel, where Python PyTorch's process spends 4%. Serving them
// from the heap and keeping freed memory for reuse removes that; memory then
// stays at the run's peak, as with PyTorch's caching allocators on GPUs.
// A user's own GLIBC_TUNABLES or MALLOC_* settings are left alone.
#ifndef FRAMEWORK_CORE_MALLOC_TUNING_H_
#define FRAMEWORK_CORE_MALLOC_TUNING_H_

namespace framework {

// Call once, early in main(). Returns false when the user's environment
// already tunes malloc (and nothing was changed).
bool TuneMallocForTensors();

}  // namespace framework

#endif  // FRAMEWORK_CORE_MALLOC_TUNING_H_
