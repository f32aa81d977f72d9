// Fuzz input as a file without touching the disk: for the loaders whose entry point is a path
// (safetensors, tokenizer.model), so that the fuzzer exercises exactly what the server runs.
#ifndef INFUSION_FUZZ_MEMORY_FILE_H_
#define INFUSION_FUZZ_MEMORY_FILE_H_

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace infusion {

// An anonymous in-memory file (memfd) holding `size` bytes, opened by path through /proc.
class MemoryFile {
 public:
  MemoryFile(const uint8_t* data, size_t size) : fd_(memfd_create("fuzz-input", MFD_CLOEXEC)) {
    if (fd_ < 0) std::abort();  // the fuzzer itself is broken, not the code under test
    for (size_t written = 0; written < size;) {
      const ssize_t n = ::write(fd_, data + written, size - written);
      if (n <= 0) std::abort();
      written += static_cast<size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemoryFile() { ::close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

}  // namespace infusion

#endif  // INFUSION_FUZZ_MEMORY_FILE_H_
