// The Transfusion objective (arXiv 2408.11039 eq. 4): L = L_LM + lambda * L_DDPM.
//   L_LM    next-token cross-entropy, averaged over the language-model targets of the batch;
//   L_DDPM  ||eps - eps_theta(x_t, t, context)||^2 averaged over the elements of the noised
//           images' patches (epsilon prediction, one t per image).
// Both means are over the *global* batch: each process divides its sums by the global counts, so
// that the sum of the processes' gradients is exactly the gradient of one process over the whole
// batch, however unevenly targets fall into the shards.
#ifndef INFUSION_TRAINER_LOSS_H_
#define INFUSION_TRAINER_LOSS_H_

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "engine/model/transfusion_model.h"
#include "trainer/packer.h"

namespace infusion {

struct LossNormalizers {
  int64_t lm_targets = 0;      // language-model targets in the global batch
  int64_t noise_elements = 0;  // J * n * patch_dim summed over the global batch
};

struct LossTerms {
  at::Tensor total;      // scalar: lm + diffusion_weight * diffusion, to differentiate
  at::Tensor lm;         // scalar: this process's share of L_LM
  at::Tensor diffusion;  // scalar: this process's share of L_DDPM
};

// One forward pass (attention document by document, document_attention.h) and the two terms.
LossTerms ComputeLoss(TransfusionModelImpl& model, const TrainingBatch& batch,
                      const LossNormalizers& normalizers, double diffusion_weight);

}  // namespace infusion

#endif  // INFUSION_TRAINER_LOSS_H_
