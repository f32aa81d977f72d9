#include "trainer/batch_builder.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <vector>

#include "data/seeds/seeds.h"

namespace infusion::trainer {

using data::DeriveSeed;
using engine::NoiseSchedule;
using engine::Rng;

BatchBuilder::BatchBuilder(const DataMix& mix, const SequenceBuilder& sequences,
                           at::Tensor image_table, const NoiseSchedule& schedule, int64_t seq_len,
                           uint64_t seed)
    : mix_(mix),
      sequences_(sequences),
      image_table_(std::move(image_table)),
      schedule_(schedule),
      seq_len_(seq_len),
      seed_(seed) {}

absl::StatusOr<TrainingBatch> BatchBuilder::Build(int64_t step, int64_t first_row,
                                                  int64_t num_rows) const {
  std::vector<Row> rows;
  std::vector<std::vector<ImageNoise>> noise(num_rows);
  for (int64_t r = 0; r < num_rows; ++r) {
    Rng rng(DeriveSeed(seed_, {static_cast<uint64_t>(step), static_cast<uint64_t>(first_row + r)}));
    absl::StatusOr<Row> row =
        FillRow(seq_len_, [&] { return sequences_.Build(mix_.Draw(rng), rng); });
    if (!row.ok()) return row.status();
    for (const Document& doc : *row) {
      for (const DocumentImage& image : doc.images) {
        if (!image.noised) continue;
        ImageNoise n;
        n.timestep = std::min<int32_t>(
            image.max_timestep, static_cast<int32_t>(rng.Uniform() * (image.max_timestep + 1)));
        std::vector<float> eps(image_table_.size(1) * image_table_.size(2));
        for (float& e : eps) e = static_cast<float>(rng.Normal());
        n.eps = at::tensor(eps, at::kFloat).view({image_table_.size(1), image_table_.size(2)});
        noise[r].push_back(std::move(n));
      }
    }
    rows.push_back(*std::move(row));
  }
  return PackRows(rows, seq_len_, sequences_.pad_token_id(), image_table_, noise, schedule_);
}

}  // namespace infusion::trainer
