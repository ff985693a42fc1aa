// CRC-32C (Castagnoli), the checksum of TFRecord framing (TensorBoard event
// files), with the "masked" form those files store so that a CRC of data that
// itself contains CRCs stays well distributed.
#ifndef FRAMEWORK_CORE_CRC32C_H_
#define FRAMEWORK_CORE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace framework {

// CRC-32C of `size` bytes at `data`, continuing from `crc` (0 to start).
uint32_t Crc32c(const void* data, size_t size, uint32_t crc = 0);

// TFRecord's mask: rotate right by 15 bits and add a constant.
inline uint32_t MaskCrc32c(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

}  // namespace framework

#endif  // FRAMEWORK_CORE_CRC32C_H_
