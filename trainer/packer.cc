#include "trainer/packer.h"

#include <ATen/ATen.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace infusion::trainer {

using engine::ModelInput;
using engine::NoiseSchedule;

// A text tail shorter than this has no token to learn from.
static constexpr int64_t kMinTextTail = 2;

absl::StatusOr<Row> FillRow(int64_t length, const std::function<Document()>& next) {
  Row row;
  int64_t used = 0;
  while (used < length) {
    Document doc = next();
    const int64_t room = length - used;
    if (doc.length() > room) {
      if (!doc.has_images() && room >= kMinTextTail) {
        doc.Truncate(room);
        row.push_back(std::move(doc));
      } else if (row.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("seq_len ", length, " is too short for a document of ", doc.length(),
                         " positions with ", doc.images.size(), " image(s)"));
      }
      break;
    }
    used += doc.length();
    row.push_back(std::move(doc));
  }
  return row;
}

TrainingBatch PackRows(const std::vector<Row>& rows, int64_t length, int pad_token_id,
                       const at::Tensor& image_table,
                       const std::vector<std::vector<ImageNoise>>& noise,
                       const NoiseSchedule& schedule) {
  CHECK_EQ(rows.size(), noise.size());
  const int64_t num_rows = static_cast<int64_t>(rows.size());
  const int64_t total = num_rows * length;
  std::vector<int64_t> tokens(total, pad_token_id), positions(total, 0);
  std::vector<int64_t> image_ids(total, -1), doc_ids(total, 0);
  std::vector<int64_t> lm_positions, lm_targets;
  std::vector<int64_t> image_rows, image_positions, noise_images;
  std::vector<float> timesteps, alpha_bars;
  std::vector<at::Tensor> eps;
  TrainingBatch batch;

  for (int64_t r = 0; r < num_rows; ++r) {
    int64_t offset = r * length;
    int64_t row_images = 0;
    size_t next_noise = 0;
    for (size_t d = 0; d < rows[r].size(); ++d) {
      const Document& doc = rows[r][d];
      const int64_t first_image = row_images;
      for (int64_t i = 0; i < doc.length(); ++i) {
        tokens[offset + i] = doc.tokens[i];
        positions[offset + i] = i;
        doc_ids[offset + i] = static_cast<int64_t>(d);
        if (doc.image_slot[i] >= 0) image_ids[offset + i] = first_image + doc.image_slot[i];
        if (i + 1 < doc.length() && doc.image_slot[i] < 0 && doc.image_slot[i + 1] < 0 &&
            doc.is_target[i + 1]) {
          lm_positions.push_back(offset + i);
          lm_targets.push_back(doc.tokens[i + 1]);
        }
      }
      for (size_t s = 0; s < doc.images.size(); ++s) {
        const DocumentImage& image = doc.images[s];
        const int64_t index = static_cast<int64_t>(image_rows.size());
        image_rows.push_back(image.image);
        for (int64_t i = 0; i < doc.length(); ++i) {
          if (doc.image_slot[i] == static_cast<int>(s)) image_positions.push_back(offset + i);
        }
        if (image.noised) {
          CHECK_LT(next_noise, noise[r].size());
          const ImageNoise& n = noise[r][next_noise++];
          const double alpha_bar = schedule.alpha_bar(n.timestep);
          noise_images.push_back(index);
          timesteps.push_back(static_cast<float>(n.timestep));
          alpha_bars.push_back(static_cast<float>(alpha_bar));
          eps.push_back(n.eps);
        } else {
          timesteps.push_back(0.0f);
        }
      }
      row_images += static_cast<int64_t>(doc.images.size());
      offset += doc.length();
      batch.num_tokens += doc.length();
      batch.attention_pairs += doc.length() * doc.length();
    }
    CHECK_EQ(next_noise, noise[r].size());
    // Padding: one document of its own, so that no real position attends to it.
    for (int64_t i = offset; i < (r + 1) * length; ++i) {
      doc_ids[i] = static_cast<int64_t>(rows[r].size());
      positions[i] = i - offset;
    }
  }

  auto longs = [](const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); };
  auto floats = [](const std::vector<float>& v) { return at::tensor(v, at::kFloat); };
  ModelInput& in = batch.input;
  in.token_ids = longs(tokens);
  in.positions = longs(positions);
  batch.image_ids = longs(image_ids).view({num_rows, length});
  batch.doc_ids = longs(doc_ids).view({num_rows, length});
  batch.lm_positions = longs(lm_positions);
  batch.lm_targets = longs(lm_targets);
  if (!image_rows.empty()) {
    const int64_t num_images = static_cast<int64_t>(image_rows.size());
    at::Tensor patches = image_table.index_select(0, longs(image_rows));  // [I, n, P]
    in.image_positions = longs(image_positions).view({num_images, -1});
    in.image_timesteps = floats(timesteps);
    in.noise_images = longs(noise_images);
    if (!eps.empty()) {
      batch.noise = at::stack(eps);  // [J, n, P]
      batch.clean = patches.index_select(0, in.noise_images);
      batch.alpha_bar = floats(alpha_bars);
      const at::Tensor alpha_bar = batch.alpha_bar.view({-1, 1, 1});
      const at::Tensor xt = alpha_bar.sqrt() * batch.clean + (1.0 - alpha_bar).sqrt() * batch.noise;
      patches.index_copy_(0, in.noise_images, xt);
    }
    in.image_patches = patches;
  }
  return batch;
}

}  // namespace infusion::trainer
