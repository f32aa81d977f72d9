// Per-request options of text generation, as a user of vLLM or the OpenAI API knows them.
#ifndef INFUSION_ENGINE_SAMPLER_SAMPLING_PARAMS_H_
#define INFUSION_ENGINE_SAMPLER_SAMPLING_PARAMS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace infusion::engine {

struct SamplingParams {
  float temperature = 1.0f;             // >= 0; 0 = greedy (argmax).
  int32_t top_k = 0;                    // >= 0; 0 = off.
  float top_p = 1.0f;                   // (0, 1]; 1 = off.
  float min_p = 0.0f;                   // [0, 1]; 0 = off.
  float repetition_penalty = 1.0f;      // > 0; 1 = off. Applies to tokens of prompt and output.
  uint64_t seed = 0;                    // Same seed, same prompt, same model => same tokens.
  int32_t max_tokens = 256;             // >= 1; generated tokens, the stop token included.
  std::vector<int32_t> stop_token_ids;  // Each >= 0; generation ends after one is sampled.
  std::vector<std::string> stop;  // Non-empty strings; generation ends before the first match.

  // InvalidArgument naming the first offending field, e.g. "top_p must be in (0, 1], got 0".
  absl::Status Validate() const;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_SAMPLER_SAMPLING_PARAMS_H_
