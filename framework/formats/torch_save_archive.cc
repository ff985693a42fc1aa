#include "framework/formats/torch_save_archive.h"

#include <cstring>
#include <memory>

#include <caffe2/serialize/inline_container.h>

#include "absl/strings/str_cat.h"
#include "framework/core/durable_file.h"
#include "framework/core/env.h"
#include "glog/logging.h"

namespace framework {

namespace {

// The zip reader's view of a file opened through the Env. A read error is
// kept, for the caller to report in place of the reader's own words.
class EnvReadAdapter : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit EnvReadAdapter(std::unique_ptr<RandomAccessFile> file) : file_(std::move(file)) {}

  size_t size() const override {
    absl::StatusOr<uint64_t> size = file_->Size();
    if (!size.ok()) error_ = size.status();
    return size.ok() ? *size : 0;
  }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    absl::StatusOr<size_t> read = file_->Read(pos, n, buf);
    if (!read.ok()) error_ = read.status();
    return read.ok() ? *read : 0;
  }
  const absl::Status& error() const { return error_; }

 private:
  std::unique_ptr<RandomAccessFile> file_;
  mutable absl::Status error_;
};

}  // namespace

bool IsZipFile(const std::string& path) {
  absl::StatusOr<std::string> head = ReadFileHead(path, 4);
  return head.ok() && *head == std::string("PK\x03\x04", 4);
}

absl::StatusOr<PyRef> LoadPickleRoot(const std::string& path, const DeviceMap& devices) {
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file =
      Env::Default()->NewRandomAccessFile(path, /*sequential=*/false);
  if (!file.ok()) return file.status();
  {
    std::string head(4, '\0');
    absl::StatusOr<size_t> n = (*file)->Read(0, head.size(), head.data());
    if (!n.ok()) return n.status();
    head.resize(*n);
    if (head != std::string("PK\x03\x04", 4)) {
      if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x80) {
        return absl::FailedPreconditionError(absl::StrCat(
            path, " is in the legacy (non-zip) format of PyTorch before 1.6, which is not "
                  "supported; re-save it with torch.save(obj, path) from PyTorch >= 1.6"));
      }
      return absl::InvalidArgumentError(absl::StrCat(path, " is not a PyTorch file (no zip archive)"));
    }
  }
  auto adapter = std::make_shared<EnvReadAdapter>(*std::move(file));
  try {
    caffe2::serialize::PyTorchStreamReader reader(adapter);
    if (!reader.hasRecord("data.pkl")) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": zip archive without data.pkl (a TorchScript or other archive, not torch.save's)"));
    }
    auto [pickle_data, pickle_size] = reader.getRecord("data.pkl");
    auto load_storage = [&](const std::string& key, c10::ScalarType dtype, int64_t numel,
                            const std::string& location) -> absl::StatusOr<at::Tensor> {
      const std::string record = "data/" + key;
      if (!reader.hasRecord(record)) {
        return absl::DataLossError(absl::StrCat(path, ": storage record ", record, " is missing"));
      }
      auto [data, size] = reader.getRecord(record);
      uint64_t bytes = 0;
      if (numel < 0 ||
          __builtin_mul_overflow(static_cast<uint64_t>(numel), c10::elementSize(dtype), &bytes) ||
          bytes != size) {
        return absl::DataLossError(absl::StrCat(path, ": storage ", record, " has ", size,
                                                " bytes, expected ", numel, " x ",
                                                c10::elementSize(dtype)));
      }
      auto owner = std::make_shared<at::DataPtr>(std::move(data));
      at::Tensor storage = torch::from_blob(owner->get(), {numel}, [owner](void*) {},
                                            torch::TensorOptions().dtype(dtype));
      absl::StatusOr<c10::Device> device = devices.Map(location);
      if (!device.ok()) {
        return absl::Status(device.status().code(),
                            absl::StrCat(path, ": storage ", key, " ", device.status().message()));
      }
      return device->is_cpu() ? storage : storage.to(*device);
    };
    return Unpickle(path, static_cast<const char*>(pickle_data.get()), pickle_size, load_storage);
  } catch (const c10::Error& e) {
    if (!adapter->error().ok()) return adapter->error();
    return absl::DataLossError(absl::StrCat(path, ": unreadable PyTorch zip archive: ",
                                            e.what_without_backtrace()));
  }
}

std::vector<NamedTensor> StateDictTensors(const std::string& path, const PyRef& state_dict) {
  std::vector<NamedTensor> tensors;
  bool all_prefixed = !state_dict->entries.empty();
  for (const auto& [key, value] : state_dict->entries) {
    tensors.push_back({key->text, value->tensor});
    if (key->text.rfind("module.", 0) != 0) all_prefixed = false;
  }
  if (all_prefixed) {
    for (NamedTensor& named : tensors) named.name = named.name.substr(7);
    LOG(INFO) << path << ": stripped the 'module.' prefix (DataParallel) from every key";
  }
  return tensors;
}

absl::Status WritePickleArchive(const std::string& path, const PickleWriter& pickle,
                                const std::vector<at::Tensor>& storages) {
  absl::StatusOr<std::unique_ptr<WritableFile>> file = Env::Default()->NewWritableFile(path);
  if (!file.ok()) return file.status();
  // The first write error, reported in place of the zip writer's own words.
  absl::Status write_error;
  try {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) -> size_t {
      if (!write_error.ok()) return 0;
      write_error = (*file)->Append(data, size);
      return write_error.ok() ? size : 0;
    });
    writer.writeRecord("data.pkl", pickle.bytes().data(), pickle.bytes().size());
    for (size_t i = 0; i < storages.size(); ++i) {
      writer.writeRecord("data/" + std::to_string(i), storages[i].data_ptr(), storages[i].nbytes());
    }
    writer.writeEndOfFile();
  } catch (const c10::Error& e) {
    if (!write_error.ok()) return write_error;
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", e.what_without_backtrace()));
  }
  if (!write_error.ok()) return write_error;
  return (*file)->Close();
}

bool IsStateDict(const PyRef& value) {
  if (value->kind != PyValue::Kind::kDict) return false;
  for (const auto& [key, item] : value->entries) {
    if (key->kind != PyValue::Kind::kString || item->kind != PyValue::Kind::kTensor) return false;
  }
  return true;
}
}  // namespace framework
