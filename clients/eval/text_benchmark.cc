#include "clients/eval/text_benchmark.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "clients/eval/perplexity.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "data/text/text_dataset.h"
#include "engine/model/compute_threads.h"
#include "engine/model/model_directory.h"
#include "engine/model/reference_forward.h"
#include "engine/model/transfusion_model.h"
#include "engine/tokenizer/tokenizer.h"

namespace infusion::eval {

using data::EnsureKingJamesBible;
using engine::LoadTransfusionModel;
using engine::ModelConfig;
using engine::ModelDirectory;
using engine::ReferenceForward;
using engine::ReferenceOutput;
using engine::SequencePart;
using engine::SetComputeThreads;
using engine::Tokenizer;
using engine::TransfusionModel;

namespace {

// The last `count` non-empty lines of `path`, joined by '\n' as the trainer joins them.
absl::StatusOr<std::string> ReadTail(const std::string& path, int count, int* lines_read) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("text: cannot read ", path));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
  }
  if (lines.empty()) return absl::InvalidArgumentError(absl::StrCat("text: ", path, " is empty"));
  const size_t first = lines.size() > static_cast<size_t>(count) ? lines.size() - count : 0;
  *lines_read = static_cast<int>(lines.size() - first);
  return absl::StrJoin(lines.begin() + first, lines.end(), "\n");
}

}  // namespace

absl::Status TextBenchmarkOptions::Validate() const {
  if (held_out_lines < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("held_out_lines must be >= 1, got ", held_out_lines));
  }
  if (num_threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat("num_threads must be >= 0, got ", num_threads));
  }
  return absl::OkStatus();
}

Json TextResults::ToJson() const {
  return Json{{"source", source},
              {"lines", lines},
              {"tokens", tokens},
              {"mean_nll", mean_nll},
              {"perplexity", perplexity}};
}

absl::StatusOr<TextResults> RunTextBenchmark(const TextBenchmarkOptions& options,
                                             const std::string& model_dir) {
  RETURN_IF_ERROR(options.Validate());
  if (options.num_threads > 0) SetComputeThreads(options.num_threads);
  TextResults results;
  results.source = options.file;
  if (results.source.empty()) {
    ASSIGN_OR_RETURN(results.source, EnsureKingJamesBible(options.cache_dir));
  }
  ASSIGN_OR_RETURN(const std::string text,
                   ReadTail(results.source, options.held_out_lines, &results.lines));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                   Tokenizer::Load(ModelDirectory::Tokenizer(model_dir)));
  ASSIGN_OR_RETURN(TransfusionModel model, LoadTransfusionModel(model_dir));
  const ModelConfig& config = model->config();

  const absl::Time start = absl::Now();
  c10::InferenceMode guard;
  PerplexityMeter meter;
  for (const std::vector<int>& window : SplitIntoWindows(tokenizer->Encode(text), config.tokens.bos,
                                                         config.max_position_embeddings)) {
    const ReferenceOutput out = ReferenceForward(*model, {SequencePart::Text(window)});
    meter.AddWindow(out.logits, window);
  }
  results.tokens = meter.tokens();
  results.mean_nll = meter.mean_nll();
  results.perplexity = meter.perplexity();
  LOG(INFO) << "text: perplexity " << results.perplexity << " over " << results.tokens
            << " tokens of the last " << results.lines << " lines of " << results.source << " in "
            << absl::ToDoubleSeconds(absl::Now() - start) << " s";
  return results;
}

}  // namespace infusion::eval
