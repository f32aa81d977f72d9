#include "trainer/loss.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "trainer/document_attention.h"

namespace infusion {

LossTerms ComputeLoss(TransfusionModelImpl& model, const TrainingBatch& batch,
                      const LossNormalizers& normalizers, double diffusion_weight) {
  DocumentAttention attention(batch.image_ids, batch.doc_ids);
  const ModelOutput out = model.Forward(batch.input, attention);
  LossTerms terms;
  const at::Tensor logits = model.Logits(out.hidden.index_select(0, batch.lm_positions));
  terms.lm = at::cross_entropy_loss(logits.to(at::kFloat), batch.lm_targets, /*weight=*/{},
                                    at::Reduction::Sum) /
             static_cast<double>(std::max<int64_t>(1, normalizers.lm_targets));
  if (out.eps.defined()) {
    terms.diffusion = (out.eps.to(at::kFloat) - batch.noise).pow(2).sum() /
                      static_cast<double>(std::max<int64_t>(1, normalizers.noise_elements));
  } else {
    terms.diffusion = at::zeros({}, at::kFloat);
  }
  terms.total = terms.lm + diffusion_weight * terms.diffusion;
  return terms;
}

}  // namespace infusion
