// The training data of a step, as a pure function of (seed, step, row): row i of step s of the
// global batch is always the same documents with the same noise, whichever process builds it and
// whether or not the run was interrupted before. A process of a data-parallel run builds its own
// slice of the rows (its shard), and no data position needs saving beyond the step.
#ifndef INFUSION_TRAINER_BATCH_BUILDER_H_
#define INFUSION_TRAINER_BATCH_BUILDER_H_

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/sampler/noise_schedule.h"
#include "trainer/data_mix.h"
#include "trainer/packer.h"
#include "trainer/sequence_builder.h"

namespace infusion::trainer {

class BatchBuilder {
 public:
  // image_table: [N, n, patch_dim] clean normalised patches of the mix's images. The mix, the
  // builder and the schedule must outlive this object.
  BatchBuilder(const DataMix& mix, const SequenceBuilder& sequences, at::Tensor image_table,
               const engine::NoiseSchedule& schedule, int64_t seq_len, uint64_t seed);

  // Rows [first_row, first_row + num_rows) of the global batch of `step`. Each row draws
  // documents from the mix until the next one does not fit (packer.h), then a timestep and
  // Gaussian noise for each of its noised images, all from the row's own random stream.
  absl::StatusOr<TrainingBatch> Build(int64_t step, int64_t first_row, int64_t num_rows) const;

 private:
  const DataMix& mix_;
  const SequenceBuilder& sequences_;
  at::Tensor image_table_;  // [N, n, patch_dim]
  const engine::NoiseSchedule& schedule_;
  int64_t seq_len_;
  uint64_t seed_;
};

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_BATCH_BUILDER_H_
