// Packing documents into fixed-length rows, and rows into the tensors of one training step.
// Documents never see each other: each has its own RoPE positions (restarting at 0) and its own
// block of the attention mask, so a packed row trains exactly as its documents would one by one.
#ifndef INFUSION_TRAINER_PACKER_H_
#define INFUSION_TRAINER_PACKER_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/transfusion_model.h"
#include "engine/sampler/noise_schedule.h"
#include "trainer/sequence_builder.h"

namespace infusion::trainer {

// The documents of one row, in order, at most `length` positions in all.
using Row = std::vector<Document>;

// Takes documents from `next` until one does not fit in the rest of a row of `length` positions;
// that one is cut to fit when it is text only (and leaves at least 2 positions), else dropped.
// InvalidArgument when a document with images is longer than a whole row.
absl::StatusOr<Row> FillRow(int64_t length, const std::function<Document()>& next);

// How one noised image of a row is noised: x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps.
struct ImageNoise {
  int32_t timestep = 0;
  at::Tensor eps;  // [n, patch_dim]
};

// The inputs and targets of one step's forward pass over R rows of L positions (T = R * L).
struct TrainingBatch {
  engine::ModelInput input;     // token_ids, positions [T]; image_patches [I, n, P] (noised where a
                                // target), image_timesteps [I], image_positions [I, n],
                                // noise_images [J]
  at::Tensor image_ids;         // [R, L] int64: image of each position within its row, -1 for text
  at::Tensor doc_ids;           // [R, L] int64: document of each position within its row (padding
                                // is a document of its own); with image_ids, the attention mask
                                // (BuildAttentionMask, DocumentAttention)
  at::Tensor lm_positions;      // [K] int64: positions whose next token is a language-model target
  at::Tensor lm_targets;        // [K] int64: that next token
  at::Tensor noise;             // [J, n, P]: the eps added to each of input.noise_images
  at::Tensor clean;             // [J, n, P]: their clean patches x0
  at::Tensor alpha_bar;         // [J] float: their ab_t (x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps)
  int64_t num_tokens = 0;       // positions that are not padding
  int64_t attention_pairs = 0;  // sum of squared document lengths: the query-key pairs that
                                // attention within documents computes
};

// rows: R rows of at most `length` positions. image_table: [N, n, P] clean normalised patches,
// indexed by DocumentImage::image. noise: per row, one entry per noised image in order.
TrainingBatch PackRows(const std::vector<Row>& rows, int64_t length, int pad_token_id,
                       const at::Tensor& image_table,
                       const std::vector<std::vector<ImageNoise>>& noise,
                       const engine::NoiseSchedule& schedule);

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_PACKER_H_
