#include "data/text/text_dataset.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace infusion::data {

using engine::Rng;

absl::Status TextDataOptions::Validate() const {
  if (chunk_chars <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("chunk_chars must be > 0, got ", chunk_chars));
  }
  if (held_out_lines < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("held_out_lines must be >= 0, got ", held_out_lines));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> EnsureKingJamesBible(const std::string& cache_dir) {
  const std::string path = cache_dir + "/bible-kjv.txt";
  if (std::filesystem::exists(path)) return path;
  std::error_code ec;
  std::filesystem::create_directories(cache_dir, ec);
  if (ec)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", cache_dir, ": ", ec.message()));
  FILE* pipe = popen("bible -f -m 8000000 gen1:1-rev22:21 2>/dev/null", "r");
  if (pipe == nullptr) return absl::InternalError("cannot run the bible program");
  std::string text;
  char buffer[1 << 16];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) text.append(buffer, n);
  if (pclose(pipe) != 0 || text.empty()) {
    return absl::FailedPreconditionError(
        "text data: no files given and `bible -f -m 8000000 gen1:1-rev22:21` failed; install "
        "Debian's bible-kjv or list text files in the data source's \"files\"");
  }
  // Each line is "<book><chapter>:<verse> <text>"; keep the text.
  std::string verses;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const size_t space = text.find(' ', begin);
    if (space != std::string::npos && space < end) {
      verses.append(text, space + 1, end - space - 1);
      verses.push_back('\n');
    }
    begin = end + 1;
  }
  // Written under a name of this process's own, then renamed: processes that start together
  // all leave the same complete file.
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  std::ofstream(tmp, std::ios::binary) << verses;
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat("cannot write ", path, ": ", ec.message()));
  return path;
}

absl::StatusOr<std::unique_ptr<TextDataset>> TextDataset::Create(const TextDataOptions& options,
                                                                 const std::string& cache_dir) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  std::vector<std::string> files = options.files;
  if (files.empty()) {
    absl::StatusOr<std::string> bible = EnsureKingJamesBible(cache_dir);
    if (!bible.ok()) return bible.status();
    files.push_back(*bible);
  }
  std::vector<std::string> lines;
  for (const std::string& file : files) {
    std::ifstream in(file);
    if (!in) return absl::NotFoundError(absl::StrCat("text data: cannot read ", file));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) lines.push_back(std::move(line));
    }
  }
  if (lines.size() <= static_cast<size_t>(options.held_out_lines)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "text data: ", files.front(), " has ", lines.size(),
        " non-empty lines, not more than held_out_lines = ", options.held_out_lines));
  }
  lines.resize(lines.size() - options.held_out_lines);
  return std::unique_ptr<TextDataset>(new TextDataset(std::move(lines), options.chunk_chars));
}

TextDataset::TextDataset(std::vector<std::string> lines, int chunk_chars)
    : lines_(std::move(lines)) {
  std::string chunk;
  for (const std::string& line : lines_) {
    if (!chunk.empty() && chunk.size() + 1 + line.size() > static_cast<size_t>(chunk_chars)) {
      chunks_.push_back(std::move(chunk));
      chunk.clear();
    }
    if (!chunk.empty()) chunk.push_back('\n');
    chunk += line;
  }
  chunks_.push_back(std::move(chunk));
}

Example TextDataset::Get(int64_t index, Rng& /*rng*/) const {
  Example e;
  e.kind = ExampleKind::kText;
  e.text = chunks_[index];
  return e;
}

}  // namespace infusion::data
