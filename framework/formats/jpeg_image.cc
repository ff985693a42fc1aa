#include "framework/formats/jpeg_image.h"

#include <turbojpeg.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace framework {
namespace {

struct Handle {
  tjhandle handle = tjInitDecompress();
  ~Handle() {
    if (handle != nullptr) tjDestroy(handle);
  }
};

}  // namespace

bool LooksLikeJpeg(const std::string& bytes) {
  return bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
         static_cast<unsigned char>(bytes[1]) == 0xD8 && static_cast<unsigned char>(bytes[2]) == 0xFF;
}

absl::StatusOr<torch::Tensor> DecodeJpeg(const std::string& bytes, const std::string& source,
                                         PixelMode mode) {
  if (!LooksLikeJpeg(bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a JPEG file (no SOI marker)"));
  }
  Handle decoder;
  if (decoder.handle == nullptr) return absl::InternalError("TurboJPEG could not start");
  auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(decoder.handle, data, bytes.size(), &width, &height, &subsampling,
                          &colorspace) != 0) {
    return absl::DataLossError(
        absl::StrCat(source, ": cannot read this JPEG's header: ", tjGetErrorStr2(decoder.handle)));
  }
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": a CMYK JPEG (refused: convert it to RGB)"));
  }
  const bool gray_file = colorspace == TJCS_GRAY;
  const int channels = gray_file ? 1 : 3;
  std::vector<unsigned char> pixels(static_cast<size_t>(width) * height * channels);
  // Flags 0: the accurate DCT and fancy upsampling, as PIL decodes. A
  // warning (a truncated file's "premature end of data") is refused too, as
  // PIL refuses truncated images.
  if (tjDecompress2(decoder.handle, data, bytes.size(), pixels.data(), width, 0, height,
                    gray_file ? TJPF_GRAY : TJPF_RGB, 0) != 0) {
    return absl::DataLossError(
        absl::StrCat(source, ": cannot decode this JPEG: ", tjGetErrorStr2(decoder.handle)));
  }
  const torch::Tensor hwc =
      torch::from_blob(pixels.data(), {height, width, channels}, torch::kUInt8).clone();
  return ConvertPixels(hwc, mode);
}

}  // namespace framework
