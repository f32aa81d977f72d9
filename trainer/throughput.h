// How much of the machine a training step uses. Model FLOPs are counted the usual way (Kaplan et
// al. 2020; PaLM's "model FLOPs utilisation"): a weight applied to one position costs 2 FLOPs
// forward and 4 backward, so 6 per parameter and position it is applied to, plus the attention
// products, which have no parameters. Padding and recomputation are not counted: only the work
// the model needs for the real positions of the batch.
#ifndef INFUSION_TRAINER_THROUGHPUT_H_
#define INFUSION_TRAINER_THROUGHPUT_H_

#include <cstdint>

#include "engine/model/transfusion_model.h"
#include "trainer/packer.h"

namespace infusion::trainer {

// Parameter counts of the parts of a model that run on different positions.
struct ParameterCounts {
  int64_t backbone = 0;  // decoder layers and final norm: every position
  int64_t image = 0;     // timestep embedding, patch encoder and decoder: image positions
  int64_t lm_head = 0;   // the output projection (the embedding when tied): LM-loss positions
  int64_t total = 0;     // every parameter, the token embedding included
};
ParameterCounts CountParameters(const engine::TransfusionModelImpl& model);

// Training FLOPs (forward + backward) of one batch:
//   6 * (backbone * tokens + image * patches + lm_head * lm_targets)
//   + 12 * layers * hidden * attention_pairs
// where the last term is q.k and the attention-weighted sum of v (2 * 2 * hidden FLOPs forward
// per query-key pair and layer) over the pairs within documents, which is what attention needs
// (and what DocumentAttention computes). The U-Net's convolutions apply their weights at several
// latent cells per patch, which this count (one application per patch) leaves out, so it is a
// lower bound for U-Net patch layers.
double TrainingFlops(const engine::ModelConfig& config, const ParameterCounts& params,
                     const TrainingBatch& batch);

// The float32 matrix-product rate of this machine: the median over `repeats` timings of
// [n, n] x [n, n] (2 n^3 FLOPs each), in FLOP/s, with the current intra-op thread count.
double MeasureMatmulFlops(int64_t n, int repeats);

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_THROUGHPUT_H_
