// Attention over a packed training batch, document by document. A row of seq_len positions
// holds many short documents (a shapes document is 20-50 positions in a row of 256), and no
// position may attend outside its document, so the dense [L, L] scores of DenseAttention are
// mostly masked work. Here each document attends only within itself: documents of equal length
// are stacked into one batched product, so a step costs one product per distinct length instead
// of one over the whole row. The result equals DenseAttention under the batch's mask (its test
// oracle), up to float rounding.
#ifndef INFUSION_TRAINER_DOCUMENT_ATTENTION_H_
#define INFUSION_TRAINER_DOCUMENT_ATTENTION_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "engine/model/attention_backend.h"

namespace infusion::trainer {

class DocumentAttention : public engine::AttentionBackend {
 public:
  // image_ids, doc_ids: [B, L] int64 as the packer lays them out (packer.h): each document is
  // one run of equal doc ids within its row.
  DocumentAttention(const at::Tensor& image_ids, const at::Tensor& doc_ids);

  // q: [T, H, D]; k, v: [T, K, D] with T = B * L. Returns [T, H, D].
  at::Tensor Forward(int layer, const at::Tensor& q, const at::Tensor& k,
                     const at::Tensor& v) override;

 private:
  // The documents of one length, stacked.
  struct Group {
    int64_t count = 0;   // documents
    int64_t length = 0;  // positions each
    at::Tensor mask;     // [count, 1, length, length] bool: the Transfusion mask of each
  };
  at::Tensor order_;    // [T] positions, group after group, document after document
  at::Tensor inverse_;  // [T] where each position went in order_
  std::vector<Group> groups_;
};

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_DOCUMENT_ATTENTION_H_
