#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model/model_directory.h"
#include "engine/tokenizer/tokenizer.h"
#include "tools/infusion_tool/commands.h"
#include "tools/infusion_tool/flags.h"

namespace infusion::tool {

using engine::CodecName;
using engine::ModelConfig;
using engine::ModelDirectory;
using engine::ModelExport;
using engine::PatchEncoderName;
using engine::Tokenizer;
using engine::TokenizerTrainOptions;
using engine::TrainTokenizer;
using engine::TransfusionModel;
using engine::WriteModelDirectory;
using engine::WriteTextFile;

static absl::StatusOr<std::vector<std::string>> ReadLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

absl::Status RunInit() {
  const std::string config_path = absl::GetFlag(FLAGS_config);
  const std::string out = absl::GetFlag(FLAGS_out);
  const std::string tokenizer = absl::GetFlag(FLAGS_tokenizer);
  const std::string corpus = absl::GetFlag(FLAGS_tokenizer_corpus);
  if (config_path.empty()) return absl::InvalidArgumentError("--config is required");
  if (out.empty()) return absl::InvalidArgumentError("--out is required");
  if (tokenizer.empty() == corpus.empty()) {
    return absl::InvalidArgumentError("give exactly one of --tokenizer and --tokenizer_corpus");
  }
  ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::FromFile(config_path));

  std::filesystem::create_directories(out);
  ModelExport e;
  e.tokenizer_path = tokenizer;
  if (!corpus.empty()) {
    ASSIGN_OR_RETURN(std::vector<std::string> sentences, ReadLines(corpus));
    TokenizerTrainOptions options;
    options.vocab_size = config.vocab_size;
    e.tokenizer_path = ModelDirectory::Tokenizer(out);
    RETURN_IF_ERROR(TrainTokenizer(sentences, options, e.tokenizer_path));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::Load(e.tokenizer_path));
  RETURN_IF_ERROR(tok->CheckCompatible(config.tokens, config.vocab_size));

  e.model = TransfusionModel(config);
  e.model->InitWeights(absl::GetFlag(FLAGS_seed));
  e.codec_weights_dir = absl::GetFlag(FLAGS_codec_weights);
  RETURN_IF_ERROR(WriteModelDirectory(out, e));
  int64_t params = 0;
  for (const auto& p : e.model->parameters()) params += p.numel();
  RETURN_IF_ERROR(WriteTextFile(
      ModelDirectory::Card(out),
      absl::StrCat("# Randomly initialised model\n\nWritten by `infusion-tool init --config ",
                   config_path, " --seed ", absl::GetFlag(FLAGS_seed),
                   "`. Its weights are random: it has not been trained and produces noise.\n\n",
                   "Parameters: ", params, ". Patch layers: ",
                   PatchEncoderName(config.image.patch_encoder), ". Codec: ",
                   CodecName(config.image.codec), ".\n")));
  std::printf("wrote %s (%lld parameters, tokenizer of %d pieces)\n", out.c_str(),
              static_cast<long long>(params), tok->vocab_size());
  return absl::OkStatus();
}

}  // namespace infusion::tool
