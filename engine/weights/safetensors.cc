#include "engine/weights/safetensors.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

// Tensor bytes are copied between the file and memory as they are.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian");

namespace infusion::engine {
namespace {

// Ordered, so that names() keeps the file's order.
using Json = nlohmann::ordered_json;

constexpr char kMetadataKey[] = "__metadata__";
constexpr uint64_t kLengthFieldBytes = 8;
// The reference implementation refuses larger headers; so do we, before parsing a corrupt length.
constexpr uint64_t kMaxHeaderBytes = 100 << 20;

size_t ElementSize(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
      return 2;
  }
  return 0;
}

at::ScalarType ScalarTypeOf(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return at::kFloat;
    case DType::kF16:
      return at::kHalf;
    case DType::kBF16:
      return at::kBFloat16;
  }
  return at::kFloat;
}

std::string ShapeString(at::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status FileError(const std::string& path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

absl::Status TensorError(const std::string& path, const std::string& name,
                         absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "': ", problem));
}

// A JSON number that is a non-negative integer fitting int64 (shapes and offsets both do).
bool AsNonNegative(const Json& value, uint64_t* out) {
  if (value.is_number_unsigned()) {
    *out = value.get<uint64_t>();
  } else if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(value.get<int64_t>());
  } else {
    return false;
  }
  return *out <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}

// Validates one header entry against a data section of `data_size` bytes. Returns the problem
// without naming the file or tensor; the caller adds both.
absl::StatusOr<TensorInfo> ParseTensorInfo(const Json& entry, uint64_t data_size) {
  if (!entry.is_object()) return absl::InvalidArgumentError("entry is not a JSON object");
  TensorInfo info;

  const auto dtype = entry.find("dtype");
  if (dtype == entry.end() || !dtype->is_string()) {
    return absl::InvalidArgumentError("missing string field 'dtype'");
  }
  ASSIGN_OR_RETURN(info.dtype, ParseDType(dtype->get_ref<const std::string&>()));

  const auto shape = entry.find("shape");
  if (shape == entry.end() || !shape->is_array()) {
    return absl::InvalidArgumentError("missing array field 'shape'");
  }
  uint64_t byte_size = ElementSize(info.dtype);
  for (const Json& dim_json : *shape) {
    uint64_t dim = 0;
    if (!AsNonNegative(dim_json, &dim)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad dimension ", dim_json.dump(), " in shape"));
    }
    if (__builtin_mul_overflow(byte_size, dim, &byte_size)) {
      return absl::InvalidArgumentError(absl::StrCat("shape ", shape->dump(), " is too large"));
    }
    info.shape.push_back(static_cast<int64_t>(dim));
  }

  const auto offsets = entry.find("data_offsets");
  if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
      !AsNonNegative((*offsets)[0], &info.begin) || !AsNonNegative((*offsets)[1], &info.end) ||
      info.begin > info.end) {
    return absl::InvalidArgumentError("'data_offsets' must be [begin, end] with 0 <= begin <= end");
  }
  if (info.end > data_size) {
    // What a file cut short (a copy or download that stopped) looks like: say so.
    return absl::InvalidArgumentError(absl::StrCat("truncated file? data_offsets [", info.begin,
                                                   ", ", info.end,
                                                   "] go beyond the data section of ", data_size,
                                                   " bytes"));
  }
  if (info.end - info.begin != byte_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data_offsets [", info.begin, ", ", info.end, "] hold ", info.end - info.begin,
        " bytes, but ", DTypeName(info.dtype), " ", ShapeString(info.shape), " needs ", byte_size));
  }
  return info;
}

// Writes all of `size` bytes, retrying short writes.
absl::Status WriteAll(int fd, const void* data, size_t size, const std::string& path) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd, bytes, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat(path, ": write failed"));
    }
    bytes += written;
    size -= static_cast<size_t>(written);
  }
  return absl::OkStatus();
}

// Makes a completed rename durable: the new directory entry is only on disk once the directory is.
absl::Status SyncDirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat(dir, ": cannot open directory"));
  const int rc = ::fsync(fd);
  const int fsync_errno = errno;
  ::close(fd);
  if (rc != 0) return absl::ErrnoToStatus(fsync_errno, absl::StrCat(dir, ": fsync failed"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DType> ParseDType(const std::string& name) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    if (name == DTypeName(dtype)) return dtype;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported dtype '", name, "' (expected F32, F16 or BF16)"));
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file->fd_ < 0) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));

  struct stat st;
  if (::fstat(file->fd_, &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot stat"));
  }
  if (!S_ISREG(st.st_mode)) return FileError(path, "not a regular file");
  if (static_cast<uint64_t>(st.st_size) < kLengthFieldBytes) {
    return FileError(path, absl::StrCat("truncated file: ", st.st_size,
                                        " bytes, too short for the 8-byte header length"));
  }
  void* map = ::mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, file->fd_, 0);
  if (map == MAP_FAILED) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": mmap failed"));
  file->map_ = static_cast<const uint8_t*>(map);
  file->map_size_ = static_cast<size_t>(st.st_size);

  RETURN_IF_ERROR(file->ParseHeader());
  return file;
}

absl::Status SafetensorsFile::ParseHeader() {
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(map_[i]) << (8 * i);
  const uint64_t after_length = map_size_ - kLengthFieldBytes;
  if (header_size > after_length) {
    return FileError(
        path_, absl::StrCat("truncated file: header length ", header_size, " goes beyond the ",
                            after_length, " bytes that follow it"));
  }
  if (header_size > kMaxHeaderBytes) {
    return FileError(path_, absl::StrCat("header length ", header_size, " exceeds the limit of ",
                                         kMaxHeaderBytes));
  }
  const uint8_t* header_begin = map_ + kLengthFieldBytes;
  data_ = header_begin + header_size;
  const uint64_t data_size = after_length - header_size;

  const Json header = Json::parse(header_begin, data_, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) return FileError(path_, "header is not valid JSON");
  if (!header.is_object()) return FileError(path_, "header is not a JSON object");

  for (const auto& [name, entry] : header.items()) {
    if (name == kMetadataKey) {
      if (!entry.is_object()) return FileError(path_, "'__metadata__' is not a JSON object");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) {
          return FileError(path_, absl::StrCat("metadata '", key, "' is not a string"));
        }
        metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    absl::StatusOr<TensorInfo> info = ParseTensorInfo(entry, data_size);
    if (!info.ok()) return TensorError(path_, name, info.status().message());
    names_.push_back(name);
    infos_.emplace(name, *std::move(info));
  }

  // Tensors must not share bytes: a writer never produces that, so it means a corrupt header.
  // Sorted by offset, non-empty byte ranges are disjoint when each begins after the one before.
  std::vector<std::pair<const std::string*, const TensorInfo*>> by_offset;
  for (const auto& [name, info] : infos_) {
    if (info.begin < info.end) by_offset.emplace_back(&name, &info);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i].second->begin < by_offset[i - 1].second->end) {
      return TensorError(
          path_, *by_offset[i].first,
          absl::StrCat("data_offsets overlap those of tensor '", *by_offset[i - 1].first, "'"));
    }
  }
  return absl::OkStatus();
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), map_size_);
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<TensorInfo> SafetensorsFile::Info(const std::string& name) const {
  const auto it = infos_.find(name);
  if (it == infos_.end()) {
    return absl::NotFoundError(absl::StrCat(path_, ": tensor '", name, "' not found"));
  }
  return it->second;
}

absl::StatusOr<at::Tensor> SafetensorsFile::ReadF32(const std::string& name) const {
  ASSIGN_OR_RETURN(const TensorInfo info, Info(name));
  at::Tensor stored = at::empty(info.shape, at::TensorOptions().dtype(ScalarTypeOf(info.dtype)));
  // The data section is not necessarily aligned for the element type: copy bytes. A tensor with
  // no elements has no storage (data_ptr() is null), and memcpy must not be given null.
  if (info.end > info.begin) {
    std::memcpy(stored.data_ptr(), data_ + info.begin, info.end - info.begin);
  }
  return stored.to(at::kFloat);
}

absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata, DType dtype) {
  Json header = Json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::vector<at::Tensor> converted;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty() || name == kMetadataKey) {
      return FileError(path, absl::StrCat("invalid tensor name '", name, "'"));
    }
    if (header.contains(name)) return TensorError(path, name, "duplicate tensor name");
    if (!tensor.defined() || !tensor.is_floating_point()) {
      return TensorError(path, name, "only defined floating-point tensors can be written");
    }
    at::Tensor stored = tensor.detach().to(at::kCPU, ScalarTypeOf(dtype)).contiguous();
    const uint64_t size = stored.nbytes();
    header[name] = Json::object({{"dtype", DTypeName(dtype)},
                                 {"shape", stored.sizes().vec()},
                                 {"data_offsets", Json::array({offset, offset + size})}});
    offset += size;
    converted.push_back(std::move(stored));
  }

  std::string header_text = header.dump();
  // Pad with spaces so that the data section starts 8-byte aligned, as the reference writer does.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  uint8_t length_field[kLengthFieldBytes];
  for (int i = 0; i < 8; ++i) length_field[i] = static_cast<uint8_t>(header_text.size() >> (8 * i));

  // Written to a temporary name and renamed, so that a reader never sees a half-written file.
  const std::string tmp_path = path + ".tmp";
  const int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat(tmp_path, ": cannot create"));
  bool renamed = false;
  absl::Cleanup remove_tmp = [&] {
    if (!renamed) ::unlink(tmp_path.c_str());
  };
  absl::Status status = WriteAll(fd, length_field, sizeof(length_field), tmp_path);
  if (status.ok()) status = WriteAll(fd, header_text.data(), header_text.size(), tmp_path);
  for (const at::Tensor& stored : converted) {
    if (status.ok()) status = WriteAll(fd, stored.data_ptr(), stored.nbytes(), tmp_path);
  }
  if (status.ok() && ::fsync(fd) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat(tmp_path, ": fsync failed"));
  }
  if (::close(fd) != 0 && status.ok()) {
    status = absl::ErrnoToStatus(errno, absl::StrCat(tmp_path, ": close failed"));
  }
  RETURN_IF_ERROR(status);
  if (::rename(tmp_path.c_str(), path.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot rename ", tmp_path, " to it"));
  }
  renamed = true;
  return SyncDirectoryOf(path);
}

}  // namespace infusion::engine
