#include "engine/model/model_directory.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace infusion::engine {

namespace fs = std::filesystem;

absl::Status WriteTextFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot rename to ", path, ": ", ec.message()));
  return absl::OkStatus();
}

absl::Status CopyFile(const std::string& src, const std::string& dst) {
  std::ifstream in(src, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", src));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return WriteTextFile(dst, bytes);
}

absl::Status WriteModelDirectory(const std::string& dir, const ModelExport& e) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const ModelConfig& config = e.model->config();
  RETURN_IF_ERROR(WriteTextFile(ModelDirectory::Config(dir), config.ToJson()));
  RETURN_IF_ERROR(SaveTransfusionWeights(*e.model, ModelDirectory::Weights(dir), e.weights_dtype));
  if (fs::absolute(e.tokenizer_path) != fs::absolute(ModelDirectory::Tokenizer(dir))) {
    RETURN_IF_ERROR(CopyFile(e.tokenizer_path, ModelDirectory::Tokenizer(dir)));
  }
  RETURN_IF_ERROR(WriteTextFile(ModelDirectory::Generation(dir), e.generation.ToJson()));
  if (config.image.codec == CodecKind::kTaef2) {
    const std::string codec_dir = ModelDirectory::Codec(dir);
    fs::create_directories(codec_dir, ec);
    if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", codec_dir));
    for (const char* name : {"taef2_encoder.safetensors", "taef2_decoder.safetensors", "LICENSE"}) {
      const std::string src = e.codec_weights_dir + "/" + name, dst = codec_dir + "/" + name;
      if (fs::exists(dst) && fs::equivalent(src, dst, ec)) continue;
      RETURN_IF_ERROR(CopyFile(src, dst));
    }
  }
  return absl::OkStatus();
}

}  // namespace infusion::engine
