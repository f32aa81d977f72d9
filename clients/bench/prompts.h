// The benchmark's prompts: questions and captions of the shapes world, varied by index.
#ifndef INFUSION_CLIENTS_BENCH_PROMPTS_H_
#define INFUSION_CLIENTS_BENCH_PROMPTS_H_

#include <string>

namespace infusion::bench {

std::string ChatPrompt(int index);     // e.g. "what color is the circle at the top left?"
std::string ImagePrompt(int index);    // e.g. "a red circle at the top left"

}  // namespace infusion::bench

#endif  // INFUSION_CLIENTS_BENCH_PROMPTS_H_
