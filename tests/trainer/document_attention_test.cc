#include "trainer/document_attention.h"

#include <ATen/ATen.h>

#include "engine/model/attention_mask.h"
#include "gtest/gtest.h"

namespace infusion::trainer {

using engine::AttentionBackend;
using engine::BuildAttentionMask;
using engine::DenseAttention;

namespace {

// Two rows of 10 positions, documents of lengths 3, 4, 3 | 6, 4 (the last of each row padding
// in practice), images inside some of them: the layouts the packer makes.
struct Layout {
  at::Tensor image_ids = at::tensor({-1, 0, 0, -1, -1, -1, -1, 1,  1,  -1,  //
                                     -1, 0, 0, 0,  -1, -1, -1, -1, -1, -1},
                                    at::kLong)
                             .view({2, 10});
  at::Tensor doc_ids = at::tensor({0, 0, 0, 1, 1, 1, 1, 2, 2, 2,  //
                                   0, 0, 0, 0, 0, 0, 1, 1, 1, 1},
                                  at::kLong)
                           .view({2, 10});
};

TEST(DocumentAttentionTest, EqualsDenseAttentionUnderTheMaskWithGradients) {
  const Layout layout;
  torch::manual_seed(0);
  // 4 query heads sharing 2 key/value heads (grouped-query attention), head width 8.
  const at::Tensor q0 = at::randn({20, 4, 8}), k0 = at::randn({20, 2, 8}),
                   v0 = at::randn({20, 2, 8});
  const at::Tensor weights = at::randn({20, 4, 8});
  auto run = [&](AttentionBackend& attention, std::vector<at::Tensor>* grads) {
    at::Tensor q = q0.clone().requires_grad_(), k = k0.clone().requires_grad_(),
               v = v0.clone().requires_grad_();
    const at::Tensor out = attention.Forward(0, q, k, v);
    (out * weights).sum().backward();
    *grads = {q.grad(), k.grad(), v.grad()};
    return out.detach();
  };
  DenseAttention dense(BuildAttentionMask(layout.image_ids, layout.doc_ids));
  DocumentAttention documents(layout.image_ids, layout.doc_ids);
  std::vector<at::Tensor> dense_grads, document_grads;
  const at::Tensor expected = run(dense, &dense_grads);
  const at::Tensor actual = run(documents, &document_grads);
  EXPECT_TRUE(at::allclose(actual, expected, 1e-5, 1e-6));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(at::allclose(document_grads[i], dense_grads[i], 1e-5, 1e-6)) << i;
  }
}

TEST(DocumentAttentionTest, ADocumentIgnoresTheOthers) {
  const Layout layout;
  DocumentAttention documents(layout.image_ids, layout.doc_ids);
  const at::Tensor q = at::randn({20, 2, 4}), k = at::randn({20, 2, 4}), v = at::randn({20, 2, 4});
  at::Tensor k2 = k.clone(), v2 = v.clone();
  k2.narrow(0, 3, 4).normal_();  // change only row 0's second document
  v2.narrow(0, 3, 4).normal_();
  const at::Tensor a = documents.Forward(0, q, k, v), b = documents.Forward(0, q, k2, v2);
  EXPECT_TRUE(at::equal(a.narrow(0, 0, 3), b.narrow(0, 0, 3)));
  EXPECT_TRUE(at::equal(a.narrow(0, 7, 13), b.narrow(0, 7, 13)));
  EXPECT_FALSE(at::equal(a.narrow(0, 3, 4), b.narrow(0, 3, 4)));
}

}  // namespace
}  // namespace infusion::trainer
