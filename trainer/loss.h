// The Transfusion objective (arXiv 2408.11039 eq. 4): L = L_LM + lambda * L_DDPM.
//   L_LM    next-token cross-entropy, averaged over the language-model targets of the batch;
//   L_DDPM  ||eps - eps_theta(x_t, t, context)||^2 averaged over the elements of the noised
//           images' patches (epsilon prediction, one t per image), each image optionally
//           weighted by its timestep (min-SNR-gamma, MinSnrWeights).
// Both means are over the *global* batch: each process divides its sums by the global counts, so
// that the sum of the processes' gradients is exactly the gradient of one process over the whole
// batch, however unevenly targets fall into the shards.
#ifndef INFUSION_TRAINER_LOSS_H_
#define INFUSION_TRAINER_LOSS_H_

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "engine/model/transfusion_model.h"
#include "engine/sampler/noise_schedule.h"
#include "trainer/packer.h"

namespace infusion {

struct LossNormalizers {
  int64_t lm_targets = 0;      // language-model targets in the global batch
  int64_t noise_elements = 0;  // J * n * patch_dim summed over the global batch
};

struct LossTerms {
  at::Tensor total;      // scalar: lm + diffusion_weight * (weighted diffusion), to differentiate
  at::Tensor lm;         // scalar: this process's share of L_LM
  at::Tensor diffusion;  // scalar: this process's share of L_DDPM, unweighted (what is logged)
};

// Min-SNR-gamma weighting for epsilon prediction (Hang et al. 2023, "Efficient Diffusion
// Training via Min-SNR Weighting Strategy"): w(t) = min(SNR(t), gamma) / SNR(t) with
// SNR = alpha_bar / (1 - alpha_bar). Low-noise timesteps, whose fine-detail error dominates the
// plain loss, weigh less; every t with SNR <= gamma (where layout and colour are decided) weighs
// 1. A [T] float tensor; undefined when gamma == 0 (every image weighs 1).
at::Tensor MinSnrWeights(const NoiseSchedule& schedule, double gamma);

// One forward pass (attention document by document, document_attention.h) and the two terms.
// `timestep_weights`, when defined, is a [T] table (MinSnrWeights) weighting each noised image's
// squared error by its timestep in `total`.
LossTerms ComputeLoss(TransfusionModelImpl& model, const TrainingBatch& batch,
                      const LossNormalizers& normalizers, double diffusion_weight,
                      const at::Tensor& timestep_weights = at::Tensor());

}  // namespace infusion

#endif  // INFUSION_TRAINER_LOSS_H_
