#include "trainer/loss.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <vector>

#include "trainer/document_attention.h"

namespace infusion::trainer {

using engine::ModelOutput;
using engine::NoiseSchedule;
using engine::PredictionType;
using engine::TransfusionModelImpl;

at::Tensor MinSnrWeights(const NoiseSchedule& schedule, double gamma, PredictionType prediction) {
  if (gamma <= 0) return at::Tensor();
  std::vector<float> weights(schedule.num_train_steps());
  for (int32_t t = 0; t < schedule.num_train_steps(); ++t) {
    const double alpha_bar = schedule.alpha_bar(t);
    const double snr = alpha_bar / (1.0 - alpha_bar);
    const double base = prediction == PredictionType::kVelocity ? snr + 1.0 : snr;
    weights[t] = static_cast<float>(std::min(snr, gamma) / base);
  }
  return at::tensor(weights, at::kFloat);
}

at::Tensor DiffusionTarget(const TrainingBatch& batch, PredictionType prediction) {
  if (prediction == PredictionType::kEpsilon) return batch.noise;
  const at::Tensor alpha_bar = batch.alpha_bar.view({-1, 1, 1});
  return alpha_bar.sqrt() * batch.noise - (1.0 - alpha_bar).sqrt() * batch.clean;
}

LossTerms ComputeLoss(TransfusionModelImpl& model, const TrainingBatch& batch,
                      const LossNormalizers& normalizers, const DiffusionObjective& objective) {
  DocumentAttention attention(batch.image_ids, batch.doc_ids);
  const ModelOutput out = model.Forward(batch.input, attention);
  LossTerms terms;
  const at::Tensor logits = model.Logits(out.hidden.index_select(0, batch.lm_positions));
  terms.lm = at::cross_entropy_loss(logits.to(at::kFloat), batch.lm_targets, /*weight=*/{},
                                    at::Reduction::Sum) /
             static_cast<double>(std::max<int64_t>(1, normalizers.lm_targets));
  at::Tensor weighted;
  if (out.eps.defined()) {
    const double elements = static_cast<double>(std::max<int64_t>(1, normalizers.noise_elements));
    const at::Tensor target = DiffusionTarget(batch, objective.prediction);
    const at::Tensor per_image = (out.eps.to(at::kFloat) - target).pow(2).sum({1, 2});  // [J]
    terms.diffusion = per_image.sum() / elements;
    if (objective.timestep_weights.defined()) {
      const at::Tensor t = batch.input.image_timesteps.index_select(0, batch.input.noise_images);
      weighted = (per_image * objective.timestep_weights.index_select(0, t.to(at::kLong))).sum() /
                 elements;
    } else {
      weighted = terms.diffusion;
    }
  } else {
    terms.diffusion = weighted = at::zeros({}, at::kFloat);
  }
  terms.total = terms.lm + objective.weight * weighted;
  return terms;
}

}  // namespace infusion::trainer
