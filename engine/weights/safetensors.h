// Reading and writing the safetensors format (https://huggingface.co/docs/safetensors):
// an 8-byte little-endian header length N, N bytes of JSON describing each tensor
// ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}),
// then the raw little-endian tensor bytes. Files are memory-mapped for reading.
#ifndef INFUSION_ENGINE_WEIGHTS_SAFETENSORS_H_
#define INFUSION_ENGINE_WEIGHTS_SAFETENSORS_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace infusion::engine {

enum class DType { kF32, kF16, kBF16 };

// "F32" / "F16" / "BF16".
const char* DTypeName(DType dtype);
// The inverse of DTypeName; InvalidArgument for any other name.
absl::StatusOr<DType> ParseDType(const std::string& name);

// Describes one tensor of a safetensors file as stored on disk.
struct TensorInfo {
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
};

// A read-only, memory-mapped safetensors file. Every structural problem (truncated file, bad
// JSON, offsets out of range or overlapping, unsupported dtype, size that does not match the
// shape) is reported by Open() as a Status naming the file and, where it applies, the tensor.
class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Tensor names in file order.
  const std::vector<std::string>& names() const { return names_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool Contains(const std::string& name) const { return infos_.count(name) > 0; }
  absl::StatusOr<TensorInfo> Info(const std::string& name) const;

  // A float32 CPU copy of the tensor (F16 and BF16 are widened). NotFound names the tensor.
  absl::StatusOr<at::Tensor> ReadF32(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  // Parses and validates the JSON header of the mapped file into names_, infos_, metadata_.
  absl::Status ParseHeader();

  std::string path_;
  int fd_ = -1;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section inside map_
  std::vector<std::string> names_;
  std::map<std::string, TensorInfo> infos_;
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` (CPU, any float dtype; converted to `dtype`) in the given order, atomically:
// to PATH.tmp, fsync, rename. Tensor names must be unique.
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata = {},
                              DType dtype = DType::kF32);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_WEIGHTS_SAFETENSORS_H_
