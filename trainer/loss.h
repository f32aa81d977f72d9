// The Transfusion objective (arXiv 2408.11039 eq. 4): L = L_LM + lambda * L_DDPM.
//   L_LM    next-token cross-entropy, averaged over the language-model targets of the batch;
//   L_DDPM  ||y - y_theta(x_t, t, context)||^2 averaged over the elements of the noised images'
//           patches (one t per image), where y is the noise eps (epsilon prediction) or the
//           velocity v = sqrt(ab_t) eps - sqrt(1 - ab_t) x0 (v-prediction), each image optionally
//           weighted by its timestep (min-SNR-gamma, MinSnrWeights).
// Both means are over the *global* batch: each process divides its sums by the global counts, so
// that the sum of the processes' gradients is exactly the gradient of one process over the whole
// batch, however unevenly targets fall into the shards.
#ifndef INFUSION_TRAINER_LOSS_H_
#define INFUSION_TRAINER_LOSS_H_

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "engine/model/transfusion_model.h"
#include "engine/sampler/diffusion_params.h"
#include "engine/sampler/noise_schedule.h"
#include "trainer/packer.h"

namespace infusion::trainer {

struct LossNormalizers {
  int64_t lm_targets = 0;      // language-model targets in the global batch
  int64_t noise_elements = 0;  // J * n * patch_dim summed over the global batch
};

struct LossTerms {
  at::Tensor total;      // scalar: lm + diffusion_weight * (weighted diffusion), to differentiate
  at::Tensor lm;         // scalar: this process's share of L_LM
  at::Tensor diffusion;  // scalar: this process's share of L_DDPM, unweighted (what is logged)
};

// Min-SNR-gamma weighting (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting
// Strategy"), SNR = alpha_bar / (1 - alpha_bar): w(t) = min(SNR(t), gamma) / SNR(t) for epsilon
// prediction, min(SNR(t), gamma) / (SNR(t) + 1) for v-prediction (the same weight on the x0
// error). Low-noise timesteps, whose fine-detail error dominates the plain loss, weigh less; every
// t with SNR <= gamma (where layout and colour are decided) weighs as much as the objective gives
// it. A [T] float tensor; undefined when gamma == 0 (every image weighs 1).
at::Tensor MinSnrWeights(const engine::NoiseSchedule& schedule, double gamma,
                         engine::PredictionType prediction = engine::PredictionType::kEpsilon);

// How the diffusion term is formed.
struct DiffusionObjective {
  double weight = 5.0;  // lambda
  engine::PredictionType prediction = engine::PredictionType::kEpsilon;
  at::Tensor timestep_weights;  // [T] (MinSnrWeights) weighting each image in `total`; or undefined
};

// One forward pass (attention document by document, document_attention.h) and the two terms.
LossTerms ComputeLoss(engine::TransfusionModelImpl& model, const TrainingBatch& batch,
                      const LossNormalizers& normalizers, const DiffusionObjective& objective);

// What the image output is trained towards: batch.noise, or the velocity of batch's noised images.
// [J, n, P]; requires batch.noise.defined().
at::Tensor DiffusionTarget(const TrainingBatch& batch, engine::PredictionType prediction);

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_LOSS_H_
