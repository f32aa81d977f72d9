// model.safetensors and the codec's weights: SafetensorsFile::Open from a file (the entry point
// every loader uses), then every tensor read back as float32 as the model loader does.
//
// Properties: no crash or undefined behaviour, every refusal is a Status; an accepted tensor has
// the element count of its shape and reads back with it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/weights/safetensors.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/memory_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const infusion::MemoryFile file(data, size);
  absl::StatusOr<std::unique_ptr<infusion::engine::SafetensorsFile>> opened =
      infusion::engine::SafetensorsFile::Open(file.path());
  if (!opened.ok()) {
    FUZZ_CHECK(opened.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  for (const std::string& name : (*opened)->names()) {
    absl::StatusOr<infusion::engine::TensorInfo> info = (*opened)->Info(name);
    FUZZ_CHECK(info.ok());
    int64_t elements = 1;
    for (int64_t dim : info->shape) elements *= dim;
    // Reading allocates the tensor as float32: skip ones larger than libFuzzer's memory limit
    // allows (their bytes are in the file, so the input itself would be that large).
    if (elements > (64 << 20)) continue;
    absl::StatusOr<at::Tensor> tensor = (*opened)->ReadF32(name);
    FUZZ_CHECK(tensor.ok());
    FUZZ_CHECK(tensor->numel() == elements);
    FUZZ_CHECK(tensor->sizes().vec() == info->shape);
  }
  return 0;
}
