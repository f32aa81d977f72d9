#include "trainer/checkpoint.h"

#include <fcntl.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "engine/weights/safetensors.h"
#include "engine/weights/state_dict.h"
#include "nlohmann/json.hpp"

namespace infusion::trainer {

using engine::LoadStateDict;
using engine::ModelConfig;
using engine::SafetensorsFile;
using engine::StateDict;
using engine::WriteSafetensors;

namespace fs = std::filesystem;
using Json = nlohmann::json;

static constexpr char kLatest[] = "latest";
static constexpr char kStepPrefix[] = "step_";

static absl::Status FsyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path));
  const int rc = ::fsync(fd);
  const int fsync_errno = errno;
  ::close(fd);
  if (rc != 0) return absl::ErrnoToStatus(fsync_errno, absl::StrCat(path, ": fsync failed"));
  return absl::OkStatus();
}

static absl::Status FsyncDirectory(const std::string& dir) {
  return FsyncPath(dir, O_RDONLY | O_DIRECTORY);
}

absl::Status WriteFileDurably(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp));
  }
  RETURN_IF_ERROR(FsyncPath(tmp, O_RDONLY));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return FsyncDirectory(fs::path(path).parent_path().string());
}

static absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::Status Checkpointer::Save(const TrainingState& state, const ModelConfig& config,
                                const std::string& tokenizer_path, const torch::nn::Module& model,
                                const Ema* ema, torch::optim::Optimizer& optimizer) const {
  const std::string name = absl::StrFormat("%s%06d", kStepPrefix, state.step);
  const std::string tmp = absl::StrCat(dir_, "/.tmp-", name);
  const std::string final_dir = absl::StrCat(dir_, "/", name);
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", tmp, ": ", ec.message()));

  RETURN_IF_ERROR(WriteFileDurably(tmp + "/config.json", config.ToJson()));
  ASSIGN_OR_RETURN(std::string tokenizer, ReadFile(tokenizer_path));
  RETURN_IF_ERROR(WriteFileDurably(TokenizerPath(tmp), tokenizer));
  RETURN_IF_ERROR(StateDict::FromModule(model).Save(tmp + "/model.safetensors"));
  if (ema != nullptr) RETURN_IF_ERROR(WriteSafetensors(tmp + "/ema.safetensors", ema->tensors()));
  {
    torch::serialize::OutputArchive archive;
    optimizer.save(archive);
    std::ostringstream bytes;
    archive.save_to(bytes);
    RETURN_IF_ERROR(WriteFileDurably(tmp + "/optimizer.pt", bytes.str()));
  }
  Json j = {{"step", state.step}, {"seed", state.seed}};
  RETURN_IF_ERROR(WriteFileDurably(tmp + "/state.json", j.dump(2) + "\n"));
  RETURN_IF_ERROR(FsyncDirectory(tmp));

  fs::remove_all(final_dir, ec);  // left by a run that died before naming it in `latest`
  fs::rename(tmp, final_dir, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat("cannot rename ", tmp, ": ", ec.message()));
  RETURN_IF_ERROR(FsyncDirectory(dir_));
  RETURN_IF_ERROR(WriteFileDurably(absl::StrCat(dir_, "/", kLatest), name + "\n"));

  // Names sort by step (zero-padded), so the oldest come first.
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_, ec)) {
    const std::string n = entry.path().filename().string();
    if (entry.is_directory() && absl::StartsWith(n, kStepPrefix)) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  for (size_t i = 0; i + keep_ < names.size(); ++i) {
    if (names[i] != name) fs::remove_all(absl::StrCat(dir_, "/", names[i]), ec);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Checkpointer::Latest() const {
  const std::string path = absl::StrCat(dir_, "/", kLatest);
  absl::StatusOr<std::string> name = ReadFile(path);
  if (!name.ok())
    return absl::NotFoundError(absl::StrCat("no checkpoint to resume from: ", path, " is missing"));
  const std::string dir = absl::StrCat(dir_, "/", absl::StripAsciiWhitespace(*name));
  if (!fs::is_directory(dir)) {
    return absl::NotFoundError(absl::StrCat(path, " names ", dir, ", which does not exist"));
  }
  return dir;
}

absl::StatusOr<ModelConfig> Checkpointer::LoadConfig(const std::string& checkpoint) {
  return ModelConfig::FromFile(checkpoint + "/config.json");
}

absl::StatusOr<TrainingState> Checkpointer::Load(const std::string& checkpoint,
                                                 torch::nn::Module& model, Ema* ema,
                                                 torch::optim::Optimizer& optimizer) {
  ASSIGN_OR_RETURN(StateDict weights, StateDict::Load(checkpoint + "/model.safetensors"));
  RETURN_IF_ERROR(LoadStateDict(model, weights, /*strict=*/true));
  if (ema != nullptr) {
    const std::string path = checkpoint + "/ema.safetensors";
    ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(path));
    std::vector<std::pair<std::string, at::Tensor>> saved;
    for (const std::string& name : file->names()) {
      ASSIGN_OR_RETURN(at::Tensor t, file->ReadF32(name));
      saved.emplace_back(name, t);
    }
    absl::Status s = ema->Restore(saved);
    if (!s.ok()) return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
  }
  const std::string optimizer_path = checkpoint + "/optimizer.pt";
  ASSIGN_OR_RETURN(std::string optimizer_bytes, ReadFile(optimizer_path));
  try {
    std::istringstream in(optimizer_bytes);
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    optimizer.load(archive);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(optimizer_path, ": ", e.what()));
  }
  const std::string state_path = checkpoint + "/state.json";
  ASSIGN_OR_RETURN(std::string state_text, ReadFile(state_path));
  const Json j = Json::parse(state_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.contains("step") || !j["step"].is_number_integer() ||
      !j.contains("seed") || !j["seed"].is_number_integer()) {
    return absl::DataLossError(absl::StrCat(state_path, ": expected {\"step\": N, \"seed\": S}"));
  }
  return TrainingState{j["step"].get<int64_t>(), j["seed"].get<uint64_t>()};
}

}  // namespace infusion::trainer
