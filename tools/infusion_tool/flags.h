#ifndef INFUSION_TOOLS_INFUSION_TOOL_FLAGS_H_
#define INFUSION_TOOLS_INFUSION_TOOL_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/flags/declare.h"

ABSL_DECLARE_FLAG(std::string, config);
ABSL_DECLARE_FLAG(std::string, out);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_DECLARE_FLAG(std::string, tokenizer);
ABSL_DECLARE_FLAG(std::string, tokenizer_corpus);
ABSL_DECLARE_FLAG(std::string, codec_weights);
ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(std::string, input);
ABSL_DECLARE_FLAG(std::string, image);
ABSL_DECLARE_FLAG(std::string, patches);
ABSL_DECLARE_FLAG(int, threads);

#endif  // INFUSION_TOOLS_INFUSION_TOOL_FLAGS_H_
