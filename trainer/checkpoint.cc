#include "trainer/checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
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
static constexpr char kTmpPrefix[] = ".tmp-";     // being written
static constexpr char kAsidePrefix[] = ".old-";   // replaced by a newer save of the same name
static constexpr char kDeletePrefix[] = ".del-";  // pruned, being deleted

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

namespace {

Checkpointer::CrashHook& CrashHookSlot() {
  static Checkpointer::CrashHook* hook = new Checkpointer::CrashHook();
  return *hook;
}

void Reached(int64_t step, std::string_view point) {
  if (const Checkpointer::CrashHook& hook = CrashHookSlot(); hook) hook(step, point);
}

// Renames `from` to `to` and fsyncs their folder: the one atomic step of every change here.
absl::Status RenameDurably(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot rename ", from, " to ", to));
  }
  return FsyncDirectory(fs::path(to).parent_path().string());
}

}  // namespace

void Checkpointer::SetCrashHook(CrashHook hook) { CrashHookSlot() = std::move(hook); }

absl::Status Checkpointer::InstallCrashHookFromEnvironment() {
  const char* value = std::getenv("INFUSION_CHECKPOINT_CRASH_AT");
  if (value == nullptr || *value == '\0') return absl::OkStatus();
  const std::string text = value;
  const size_t colon = text.find(':');
  int64_t step = 0;
  const std::string point = colon == std::string::npos ? "" : text.substr(colon + 1);
  const bool known = std::find(std::begin(kCrashPoints), std::end(kCrashPoints), point) !=
                     std::end(kCrashPoints);
  if (colon == std::string::npos || !absl::SimpleAtoi(text.substr(0, colon), &step) || !known) {
    return absl::InvalidArgumentError(
        absl::StrCat("INFUSION_CHECKPOINT_CRASH_AT=", text, ": expected STEP:POINT, POINT one of ",
                     absl::StrJoin(std::vector<std::string>(std::begin(kCrashPoints),
                                                            std::end(kCrashPoints)),
                                   ", ")));
  }
  SetCrashHook([step, point](int64_t at_step, std::string_view at_point) {
    if (at_step == step && at_point == point) ::raise(SIGKILL);
  });
  return absl::OkStatus();
}

absl::Status Checkpointer::Save(const TrainingState& state, const ModelConfig& config,
                                const std::string& tokenizer_path, const torch::nn::Module& model,
                                const Ema* ema, torch::optim::Optimizer& optimizer) const {
  const int64_t step = state.step;
  const std::string name = absl::StrFormat("%s%06d", kStepPrefix, step);
  const std::string tmp = absl::StrCat(dir_, "/", kTmpPrefix, name);
  const std::string aside = absl::StrCat(dir_, "/", kAsidePrefix, name);
  const std::string final_dir = absl::StrCat(dir_, "/", name);
  std::error_code ec;
  fs::remove_all(tmp, ec);  // never named anywhere: left by a save that died
  fs::create_directories(tmp, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", tmp, ": ", ec.message()));

  RETURN_IF_ERROR(WriteFileDurably(tmp + "/config.json", config.ToJson()));
  Reached(step, "config");
  ASSIGN_OR_RETURN(std::string tokenizer, ReadFile(tokenizer_path));
  RETURN_IF_ERROR(WriteFileDurably(TokenizerPath(tmp), tokenizer));
  Reached(step, "tokenizer");
  // Both safetensors writers write PATH.tmp, fsync and rename.
  RETURN_IF_ERROR(StateDict::FromModule(model).Save(tmp + "/model.safetensors"));
  Reached(step, "model");
  if (ema != nullptr) RETURN_IF_ERROR(WriteSafetensors(tmp + "/ema.safetensors", ema->tensors()));
  Reached(step, "ema");
  {
    torch::serialize::OutputArchive archive;
    optimizer.save(archive);
    std::ostringstream bytes;
    archive.save_to(bytes);
    RETURN_IF_ERROR(WriteFileDurably(tmp + "/optimizer.pt", bytes.str()));
  }
  Reached(step, "optimizer");
  Json j = {{"step", step}, {"seed", state.seed}};
  RETURN_IF_ERROR(WriteFileDurably(tmp + "/state.json", j.dump(2) + "\n"));
  Reached(step, "state");
  RETURN_IF_ERROR(FsyncDirectory(tmp));
  Reached(step, "synced");

  // A folder of this name already (a run resumed from an older checkpoint writes the same steps
  // again, and `latest` may name it): moved aside in one rename, never deleted in place, so that
  // Latest() always finds a complete one.
  if (fs::exists(final_dir)) {
    fs::remove_all(aside, ec);
    RETURN_IF_ERROR(RenameDurably(final_dir, aside));
  }
  Reached(step, "moved_aside");
  RETURN_IF_ERROR(RenameDurably(tmp, final_dir));
  Reached(step, "renamed");
  RETURN_IF_ERROR(WriteFileDurably(absl::StrCat(dir_, "/", kLatest), name + "\n"));
  Reached(step, "latest");

  // `latest` names the new checkpoint: the leftovers of this and earlier saves can go.
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_, ec)) {
    const std::string n = entry.path().filename().string();
    if (!entry.is_directory()) continue;
    if (absl::StartsWith(n, kStepPrefix)) {
      names.push_back(n);
    } else if (absl::StartsWith(n, kTmpPrefix) || absl::StartsWith(n, kAsidePrefix) ||
               absl::StartsWith(n, kDeletePrefix)) {
      fs::remove_all(entry.path(), ec);
    }
  }
  // Names sort by step (zero-padded), so the oldest come first. Each is renamed away before it
  // is deleted: a deletion cut short leaves a dot-folder, never a partial step_N.
  std::sort(names.begin(), names.end());
  for (size_t i = 0; i + keep_ < names.size(); ++i) {
    if (names[i] == name) continue;
    const std::string doomed = absl::StrCat(dir_, "/", kDeletePrefix, names[i]);
    fs::remove_all(doomed, ec);
    if (::rename(absl::StrCat(dir_, "/", names[i]).c_str(), doomed.c_str()) == 0) {
      fs::remove_all(doomed, ec);
    }
  }
  Reached(step, "pruned");
  return absl::OkStatus();
}

absl::StatusOr<std::string> Checkpointer::Latest() const {
  const std::string path = absl::StrCat(dir_, "/", kLatest);
  absl::StatusOr<std::string> name = ReadFile(path);
  if (!name.ok())
    return absl::NotFoundError(absl::StrCat("no checkpoint to resume from: ", path, " is missing"));
  const std::string stripped(absl::StripAsciiWhitespace(*name));
  const std::string dir = absl::StrCat(dir_, "/", stripped);
  if (fs::is_directory(dir)) return dir;
  // A save of the same name died between moving the old folder aside and renaming the new one
  // into place: the old one is complete.
  const std::string aside = absl::StrCat(dir_, "/", kAsidePrefix, stripped);
  if (fs::is_directory(aside)) return aside;
  return absl::NotFoundError(absl::StrCat(path, " names ", dir, ", which does not exist"));
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
