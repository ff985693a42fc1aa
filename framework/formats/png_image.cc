#include "framework/formats/png_image.h"

#include <png.h>

#include <csetjmp>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace framework {
namespace {

struct MemoryReader {
  const std::string* bytes;
  size_t offset;
};

void ReadFromMemory(png_structp png, png_bytep out, png_size_t length) {
  auto* reader = static_cast<MemoryReader*>(png_get_io_ptr(png));
  if (reader->offset + length > reader->bytes->size()) png_error(png, "the file ends early");
  std::memcpy(out, reader->bytes->data() + reader->offset, length);
  reader->offset += length;
}

void RecordError(png_structp png, png_const_charp message) {
  auto* error = static_cast<char*>(png_get_error_ptr(png));
  std::strncpy(error, message, 255);
  error[255] = '\0';
  png_longjmp(png, 1);
}

void IgnoreWarning(png_structp, png_const_charp) {}

// Decodes into `pixels` (rows of 8-bit gray or RGB); returns the channels
// (1 or 3), 0 on error with `error` set. Plain data only between setjmp
// and longjmp.
int DecodeRows(const std::string& bytes, std::vector<uint8_t>& pixels, uint32_t& width,
               uint32_t& height, char* error) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, error, RecordError, IgnoreWarning);
  if (png == nullptr) {
    std::strcpy(error, "libpng could not start");
    return 0;
  }
  png_infop info = png_create_info_struct(png);
  MemoryReader reader{&bytes, 0};
  std::vector<png_bytep>* rows = new std::vector<png_bytep>();
  int channels = 0;
  if (setjmp(png_jmpbuf(png)) == 0) {
    png_set_read_fn(png, &reader, ReadFromMemory);
    png_read_info(png, info);
    width = png_get_image_width(png, info);
    height = png_get_image_height(png, info);
    const int depth = png_get_bit_depth(png, info);
    const int type = png_get_color_type(png, info);
    if (depth == 16) {
      png_error(png, "a 16-bit PNG (refused: convert it to 8 bits)");
    }
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    channels = png_get_channels(png, info);
    if (channels != 1 && channels != 3) png_error(png, "an unexpected channel layout");
    pixels.resize(static_cast<size_t>(width) * height * channels);
    rows->resize(height);
    for (uint32_t y = 0; y < height; ++y) (*rows)[y] = pixels.data() + static_cast<size_t>(y) * width * channels;
    png_read_image(png, rows->data());
    png_read_end(png, nullptr);
  } else {
    channels = 0;
  }
  delete rows;
  png_destroy_read_struct(&png, &info, nullptr);
  return channels;
}

}  // namespace

bool LooksLikePng(const std::string& bytes) {
  return bytes.size() >= 8 && png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) == 0;
}

absl::StatusOr<torch::Tensor> DecodePng(const std::string& bytes, const std::string& source,
                                        PixelMode mode) {
  if (!LooksLikePng(bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a PNG file (no PNG signature)"));
  }
  std::vector<uint8_t> pixels;
  uint32_t width = 0, height = 0;
  char error[256] = {};
  const int channels = DecodeRows(bytes, pixels, width, height, error);
  if (channels == 0) {
    return absl::DataLossError(absl::StrCat(source, ": cannot decode this PNG: ", error));
  }
  const int64_t h = height, w = width;
  torch::Tensor hwc =
      torch::from_blob(pixels.data(), {h, w, channels}, torch::kUInt8).clone();
  return ConvertPixels(hwc, mode);
}

namespace {

void AppendToString(png_structp png, png_bytep data, png_size_t length) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), length);
}

void FlushNothing(png_structp) {}

// Plain data only between setjmp and longjmp; false with `error` set.
bool EncodeRows(const uint8_t* interleaved, uint32_t width, uint32_t height, int channels,
                std::string& out, char* error) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, error, RecordError, IgnoreWarning);
  if (png == nullptr) {
    std::strcpy(error, "libpng could not start");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  bool ok = false;
  if (setjmp(png_jmpbuf(png)) == 0) {
    png_set_write_fn(png, &out, AppendToString, FlushNothing);
    png_set_IHDR(png, info, width, height, 8, channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (uint32_t row = 0; row < height; ++row) {
      png_write_row(png, const_cast<png_bytep>(interleaved + static_cast<size_t>(row) * width * channels));
    }
    png_write_end(png, nullptr);
    ok = true;
  }
  png_destroy_write_struct(&png, &info);
  return ok;
}

}  // namespace

absl::StatusOr<std::string> EncodePng(const torch::Tensor& pixels) {
  if (pixels.dim() != 3 || (pixels.size(0) != 1 && pixels.size(0) != 3) ||
      pixels.scalar_type() != torch::kUInt8) {
    return absl::InvalidArgumentError(
        absl::StrCat("a PNG holds uint8 [1 or 3, H, W] pixels, not ", pixels.toString(),
                     " of shape ", c10::str(pixels.sizes())));
  }
  const torch::Tensor interleaved = pixels.permute({1, 2, 0}).contiguous();
  std::string out;
  char error[256] = "";
  if (!EncodeRows(interleaved.data_ptr<uint8_t>(), static_cast<uint32_t>(pixels.size(2)),
                  static_cast<uint32_t>(pixels.size(1)), static_cast<int>(pixels.size(0)), out,
                  error)) {
    return absl::InternalError(absl::StrCat("encoding a PNG: ", error));
  }
  return out;
}

}  // namespace framework
