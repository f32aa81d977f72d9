// The fused inference kernels (engine/kernels) against the LibTorch operators they replace, and a
// decoder layer's fused inference path against its autograd path.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/kernels/elementwise.h"
#include "engine/kernels/packed_product.h"
#include "engine/kernels/vector_math.h"
#include "engine/model/attention_backend.h"
#include "engine/model/attention_mask.h"
#include "engine/model/layers.h"
#include "tests/testing/tiny_models.h"

namespace infusion::engine {
namespace {

TEST(FastExpTest, WithinTwoUlpOfLibmOverItsRange) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
    const double exact = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(FastExp(x) - exact) / exact);
  }
  EXPECT_LT(worst, 2.5e-7);  // 2 ulp of float is 2.4e-7 relative
}

TEST(FastExpTest, ClampsInsteadOfOverflowing) {
  const float tiny = FastExp(-std::numeric_limits<float>::infinity());
  EXPECT_GT(tiny, 0.0f);
  EXPECT_LT(tiny, 1e-37f);
  EXPECT_TRUE(std::isfinite(FastExp(1000.0f)));
  EXPECT_FLOAT_EQ(FastExp(0.0f), 1.0f);
  // silu saturates cleanly at both ends.
  EXPECT_NEAR(FastSilu(-200.0f), 0.0f, 1e-30f);
  EXPECT_FLOAT_EQ(FastSilu(200.0f), 200.0f);
}

TEST(FusedKernelsTest, RmsNormMatchesLibTorch) {
  torch::manual_seed(1);
  const at::Tensor x = at::randn({37, 256}) * 3, w = at::randn({256});
  const at::Tensor expected = x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-5) * w;
  at::Tensor out = at::empty_like(x);
  RmsNormRows(x.data_ptr<float>(), w.data_ptr<float>(), 1e-5f, 37, 256, out.data_ptr<float>());
  EXPECT_TRUE(at::allclose(out, expected, 1e-5, 1e-5)) << (out - expected).abs().max();
}

TEST(FusedKernelsTest, SwiGluMatchesLibTorch) {
  torch::manual_seed(2);
  // Large enough to reach both saturated ends of the sigmoid.
  const at::Tensor gate_up = at::randn({300, 2 * 704}) * 20;
  const at::Tensor gate = gate_up.narrow(1, 0, 704), up = gate_up.narrow(1, 704, 704);
  const at::Tensor expected = at::silu(gate) * up;
  at::Tensor out = at::empty({300, 704});
  SwiGluRows(gate_up.data_ptr<float>(), 300, 704, out.data_ptr<float>());
  EXPECT_TRUE(at::allclose(out, expected, 1e-5, 1e-5)) << (out - expected).abs().max();
}

TEST(FusedKernelsTest, RotaryInPlaceMatchesApplyRotaryOnAStridedRow) {
  torch::manual_seed(3);
  const int64_t tokens = 5, heads = 4, kv_heads = 2, dim = 16;
  const int64_t width = (heads + 2 * kv_heads) * dim;  // [q | k | v] as the fused product
  at::Tensor qkv = at::randn({tokens, width});
  const RotaryTables rope = ComputeRotaryTables(at::arange(3, 3 + tokens), dim, 10000.0);
  const at::Tensor q = qkv.narrow(1, 0, heads * dim).reshape({tokens, heads, dim});
  const at::Tensor k = qkv.narrow(1, heads * dim, kv_heads * dim).reshape({tokens, kv_heads, dim});
  const at::Tensor v_before = qkv.narrow(1, (heads + kv_heads) * dim, kv_heads * dim).clone();
  const at::Tensor q_expected = ApplyRotary(q, rope), k_expected = ApplyRotary(k, rope);

  float* base = qkv.data_ptr<float>();
  RotaryInPlace(base, tokens, width, heads, dim, rope.cos.data_ptr<float>(),
                rope.sin.data_ptr<float>());
  RotaryInPlace(base + heads * dim, tokens, width, kv_heads, dim, rope.cos.data_ptr<float>(),
                rope.sin.data_ptr<float>());
  EXPECT_TRUE(at::allclose(qkv.narrow(1, 0, heads * dim).reshape({tokens, heads, dim}), q_expected,
                           1e-5, 1e-6));
  EXPECT_TRUE(
      at::allclose(qkv.narrow(1, heads * dim, kv_heads * dim).reshape({tokens, kv_heads, dim}),
                   k_expected, 1e-5, 1e-6));
  EXPECT_TRUE(at::equal(qkv.narrow(1, (heads + kv_heads) * dim, kv_heads * dim), v_before));
}

// The packed products against LibTorch's, for every row count of the register tile and beyond,
// output widths that leave a partial panel, strided rows, each epilogue, and a panel range
// split as threads split it; in the code this CPU runs and in the portable code.
class PackedProductTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { ForcePortablePackedProduct(GetParam()); }
  void TearDown() override { ForcePortablePackedProduct(false); }
};

TEST_P(PackedProductTest, MatchesLibTorchForEveryEpilogue) {
  if (GetParam()) {
    EXPECT_STREQ(PackedProductIsa(), "portable");
  }
  torch::manual_seed(7);
  const int64_t in = 37, out = 45, ldx = 41, ldy = 50;  // 45 = 2 panels and 13 columns
  const at::Tensor w = at::randn({out, in});
  const PackedWeight packed = PackedWeight::Pack(w.data_ptr<float>(), out, in);
  ASSERT_EQ(packed.panels(), 3);
  for (int64_t rows : {1, 2, 3, 4, 5, 6, 7, 13}) {
    const at::Tensor x = at::randn({rows, ldx});
    const at::Tensor expected = at::matmul(x.narrow(1, 0, in), w.t());
    at::Tensor y = at::full({rows, ldy}, 7.0f);
    const int64_t split = 1;  // two "threads": panels [0, 1) and [1, 3)
    PackedProduct(x.data_ptr<float>(), rows, ldx, packed, 0, split, y.data_ptr<float>(), ldy,
                  ProductEpilogue::kStore);
    PackedProduct(x.data_ptr<float>(), rows, ldx, packed, split, 3, y.data_ptr<float>(), ldy,
                  ProductEpilogue::kStore);
    EXPECT_TRUE(at::allclose(y.narrow(1, 0, out), expected, 1e-5, 1e-5)) << rows << " rows";
    EXPECT_TRUE(y.narrow(1, out, ldy - out).eq(7.0f).all().item<bool>()) << "wrote past out";
    PackedProduct(x.data_ptr<float>(), rows, ldx, packed, 0, 3, y.data_ptr<float>(), ldy,
                  ProductEpilogue::kAccumulate);
    EXPECT_TRUE(at::allclose(y.narrow(1, 0, out), 2 * expected, 1e-5, 1e-5)) << rows << " rows";
  }
  const int64_t width = 21;  // 2 panels of 8 and one of 5
  const at::Tensor gate = at::randn({width, in}) * 3, up = at::randn({width, in});
  const PackedWeight swiglu =
      PackedWeight::PackSwiGlu(gate.data_ptr<float>(), up.data_ptr<float>(), width, in);
  ASSERT_EQ(swiglu.panels(), 3);
  EXPECT_EQ(swiglu.out(), width);
  for (int64_t rows : {1, 6, 11}) {
    const at::Tensor x = at::randn({rows, in});
    const at::Tensor expected = at::silu(at::matmul(x, gate.t())) * at::matmul(x, up.t());
    at::Tensor y = at::full({rows, width + 3}, 7.0f);
    PackedProduct(x.data_ptr<float>(), rows, in, swiglu, 0, 3, y.data_ptr<float>(), width + 3,
                  ProductEpilogue::kSwiGlu);
    EXPECT_TRUE(at::allclose(y.narrow(1, 0, width), expected, 1e-5, 1e-5)) << rows << " rows";
    EXPECT_TRUE(y.narrow(1, width, 3).eq(7.0f).all().item<bool>()) << "wrote past width";
  }
}

// Rows are cut into tiles of up to 6 as evenly as possible (8 rows: 4 + 4, 32: 6 6 5 5 5 5), so a
// row's tile size depends on the batch; its sums must not.
TEST_P(PackedProductTest, EveryRowAloneEqualsItsRowInTheBatch) {
  torch::manual_seed(11);
  const int64_t in = 64, out = 48;
  const at::Tensor w = at::randn({out, in});
  const PackedWeight packed = PackedWeight::Pack(w.data_ptr<float>(), out, in);
  for (int64_t rows : {7, 8, 13, 32}) {
    const at::Tensor x = at::randn({rows, in});
    at::Tensor batched = at::zeros({rows, out});
    PackedProduct(x.data_ptr<float>(), rows, in, packed, 0, packed.panels(),
                  batched.data_ptr<float>(), out, ProductEpilogue::kStore);
    for (int64_t r = 0; r < rows; ++r) {
      at::Tensor alone = at::zeros({1, out});
      PackedProduct(x[r].data_ptr<float>(), 1, in, packed, 0, packed.panels(),
                    alone.data_ptr<float>(), out, ProductEpilogue::kStore);
      EXPECT_TRUE(alone[0].equal(batched[r])) << "row " << r << " of " << rows;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(NativeAndPortable, PackedProductTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "portable" : "native"; });

// x (rows x ldx, `in` used) rounded to bfloat16 by ConvertRowsToBf16, as the product reads it.
std::vector<uint16_t> Bf16Rows(const at::Tensor& x, int64_t in, int64_t* ldxb) {
  *ldxb = (in + 1) / 2 * 2 + 2;  // even, and wider than needed: strided rows
  std::vector<uint16_t> xb(x.size(0) * *ldxb, 0xffff);
  ConvertRowsToBf16(x.data_ptr<float>(), x.size(0), x.size(1), in, xb.data(), *ldxb);
  return xb;
}

// The bfloat16 product (where this CPU has AVX512-BF16) against float64 sums of the same
// bfloat16-rounded inputs and weights, and against the float32 product within the bound that
// rounding both operands to 8 significant bits guarantees: |error| <= 2^-7 sum_i |x_i w_i|.
TEST(PackedProductBf16Test, MatchesRoundedOperandsForEveryEpilogue) {
  if (!PackedProductBf16Supported()) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  torch::manual_seed(11);
  const int64_t in = 37, out = 45, ldx = 41, ldy = 50;  // odd `in`: the zero-padded last pair
  const at::Tensor w = at::randn({out, in});
  PackedWeight packed = PackedWeight::Pack(w.data_ptr<float>(), out, in);
  packed.AddBf16Panels();
  ASSERT_TRUE(packed.has_bf16());
  const at::Tensor w16 = w.to(at::kBFloat16).to(at::kDouble);
  for (int64_t rows : {1, 2, 5, 6, 7, 13}) {
    const at::Tensor x = at::randn({rows, ldx}) * 4;
    int64_t ldxb = 0;
    const std::vector<uint16_t> xb = Bf16Rows(x, in, &ldxb);
    const at::Tensor used = x.narrow(1, 0, in);
    const at::Tensor exact = at::matmul(used.to(at::kBFloat16).to(at::kDouble), w16.t());
    const at::Tensor magnitude = at::matmul(used.abs().to(at::kDouble), w.abs().to(at::kDouble).t());
    at::Tensor y = at::full({rows, ldy}, 7.0f);
    // Panels [0, 1) then [1, 3): a one-panel tile, then a two-panel one.
    PackedProductBf16(xb.data(), rows, ldxb, packed, 0, 1, y.data_ptr<float>(), ldy,
                      ProductEpilogue::kStore);
    PackedProductBf16(xb.data(), rows, ldxb, packed, 1, 3, y.data_ptr<float>(), ldy,
                      ProductEpilogue::kStore);
    const at::Tensor got = y.narrow(1, 0, out).to(at::kDouble);
    EXPECT_LE((got - exact).abs().sub(magnitude * 1e-6).max().item<double>(), 0.0) << rows;
    const at::Tensor float32 = at::matmul(used, w.t()).to(at::kDouble);
    EXPECT_LE((got - float32).abs().sub(magnitude / 128).max().item<double>(), 0.0) << rows;
    EXPECT_TRUE(y.narrow(1, out, ldy - out).eq(7.0f).all().item<bool>()) << "wrote past out";
    PackedProductBf16(xb.data(), rows, ldxb, packed, 0, 3, y.data_ptr<float>(), ldy,
                      ProductEpilogue::kAccumulate);
    EXPECT_LE((y.narrow(1, 0, out).to(at::kDouble) - 2 * exact)
                  .abs()
                  .sub(magnitude * 2e-6)
                  .max()
                  .item<double>(),
              0.0)
        << rows;
    // Each row's result is the same whatever rows share its product.
    for (int64_t r = 0; r < rows; ++r) {
      at::Tensor alone = at::zeros({1, ldy});
      PackedProductBf16(xb.data() + r * ldxb, 1, ldxb, packed, 0, 3, alone.data_ptr<float>(), ldy,
                        ProductEpilogue::kStore);
      EXPECT_TRUE(alone[0].narrow(0, 0, out).equal(got[r].to(at::kFloat))) << "row " << r;
    }
  }
  const int64_t width = 21;  // 2 panels of 8 and one of 5
  const at::Tensor gate = at::randn({width, in}) * 3, up = at::randn({width, in});
  PackedWeight swiglu =
      PackedWeight::PackSwiGlu(gate.data_ptr<float>(), up.data_ptr<float>(), width, in);
  swiglu.AddBf16Panels();
  for (int64_t rows : {1, 6, 11}) {
    const at::Tensor x = at::randn({rows, in});
    int64_t ldxb = 0;
    const std::vector<uint16_t> xb = Bf16Rows(x, in, &ldxb);
    const at::Tensor x16 = x.to(at::kBFloat16).to(at::kFloat);
    const at::Tensor expected =
        at::silu(at::matmul(x16, gate.to(at::kBFloat16).to(at::kFloat).t())) *
        at::matmul(x16, up.to(at::kBFloat16).to(at::kFloat).t());
    at::Tensor y = at::full({rows, width + 3}, 7.0f);
    PackedProductBf16(xb.data(), rows, ldxb, swiglu, 0, 3, y.data_ptr<float>(), width + 3,
                      ProductEpilogue::kSwiGlu);
    EXPECT_TRUE(at::allclose(y.narrow(1, 0, width), expected, 1e-4, 1e-4)) << rows << " rows";
    EXPECT_TRUE(y.narrow(1, width, 3).eq(7.0f).all().item<bool>()) << "wrote past width";
  }
}

// ConvertRowsToBf16 rounds as LibTorch does (nearest even), keeps NaN and infinities, and pads
// an odd row with a zero.
TEST(PackedProductBf16Test, ConvertsRowsAsLibTorchRounds) {
  torch::manual_seed(3);
  const int64_t width = 35;  // two vectors of 16 and a scalar tail
  at::Tensor x = at::randn({3, width}) * 1000;
  x[0][0] = std::numeric_limits<float>::infinity();
  x[1][17] = -std::numeric_limits<float>::infinity();
  x[2][34] = std::numeric_limits<float>::quiet_NaN();
  x[2][3] = 1.00390625f;  // exactly halfway between two bfloat16 values: rounds to even (1.0)
  x[2][4] = 1.01171875f;  // halfway, rounds up to the even 1.015625
  std::vector<uint16_t> xb(3 * 36, 0xffff);
  ConvertRowsToBf16(x.data_ptr<float>(), 3, width, width, xb.data(), 36);
  const at::Tensor expected = x.to(at::kBFloat16);
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t i = 0; i < width; ++i) {
      const uint16_t want = expected[r][i].item<at::BFloat16>().x;
      if (std::isnan(x[r][i].item<float>())) {
        EXPECT_EQ(xb[r * 36 + i] & 0x7f80, 0x7f80);
        EXPECT_NE(xb[r * 36 + i] & 0x007f, 0);
      } else {
        EXPECT_EQ(xb[r * 36 + i], want) << r << ", " << i << ": " << x[r][i].item<float>();
      }
    }
    EXPECT_EQ(xb[r * 36 + width], 0) << "the pad after an odd row";
  }
  EXPECT_EQ(xb[2 * 36 + 3], 0x3f80);
  EXPECT_EQ(xb[2 * 36 + 4], 0x3f82);
}

// A decoder layer of the tiny config with random weights (from LibTorch's generator: seed it
// first), and causal inputs for `tokens` positions.
struct LayerUnderTest {
  explicit LayerUnderTest(int64_t tokens)
      : config(testing::TinyConfig(PatchEncoderKind::kLinear)),
        layer(config),
        x(at::randn({tokens, config.hidden_size})),
        rope(ComputeRotaryTables(at::arange(tokens), config.head_dim(), config.rope_theta)),
        attention(at::ones({tokens, tokens}, at::kBool).tril().unsqueeze(0)) {
    torch::NoGradGuard no_grad;
    for (at::Tensor& p : layer->parameters()) p.normal_(0, 0.2);
  }
  at::Tensor Forward() { return layer->forward(x, rope, attention, 0).detach(); }

  ModelConfig config;
  DecoderLayer layer;
  at::Tensor x;
  RotaryTables rope;
  DenseAttention attention;
};

// The inference path (fused projections and kernels, no autograd) computes what the training path
// computes.
TEST(FusedKernelsTest, DecoderLayerInferenceMatchesTrainingPath) {
  torch::manual_seed(4);
  LayerUnderTest t(9);
  const at::Tensor expected = t.Forward();
  t.layer->FuseProjections();
  torch::NoGradGuard no_grad;
  const at::Tensor fused = t.Forward();
  EXPECT_TRUE(at::allclose(fused, expected, 1e-4, 1e-5)) << (fused - expected).abs().max();
}

// Below its row threshold a product is the float32 one, bit for bit; from the threshold on it is
// the bfloat16 product (float32 result), which differs from float32 by bfloat16 rounding only.
TEST(InferenceProductTest, SwitchesToBfloat16AtTheRowThreshold) {
  torch::manual_seed(5);
  const at::Tensor weight = at::randn({48, 32});
  ProductOptions options;
  options.bf16_min_rows = 8;
  const InferenceProduct product(weight, options);
  torch::NoGradGuard no_grad;

  const at::Tensor small = at::randn({7, 32});
  EXPECT_TRUE(at::equal(product(small), at::matmul(small, weight.t())));

  const at::Tensor large = at::randn({8, 32});
  const at::Tensor y = product(large);
  EXPECT_EQ(y.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(
      y, at::matmul(large.to(at::kBFloat16), weight.to(at::kBFloat16).t()).to(at::kFloat)));
  const at::Tensor exact = at::matmul(large, weight.t());
  EXPECT_FALSE(at::equal(y, exact));
  // Inputs rounded to 8 significant bits: |error| <= ~2^-8 * sum |x_i w_i| per output.
  const at::Tensor bound = at::matmul(large.abs(), weight.abs().t()) * (1.0 / 128);
  EXPECT_TRUE((y - exact).abs().le(bound).all().item<bool>());

  const InferenceProduct float32_only(weight, ProductOptions{});
  EXPECT_TRUE(at::equal(float32_only(large), exact));
}

// A decoder layer whose products run in bfloat16 stays close to the float32 path.
TEST(InferenceProductTest, Bfloat16DecoderLayerStaysCloseToFloat32) {
  const int64_t tokens = 9;
  torch::manual_seed(6);
  LayerUnderTest t(tokens);
  torch::NoGradGuard no_grad;
  t.layer->FuseProjections();
  const at::Tensor float32 = t.Forward();
  ProductOptions options;
  options.bf16_min_rows = tokens;
  t.layer->FuseProjections(options);
  const at::Tensor bf16 = t.Forward();
  EXPECT_FALSE(at::equal(bf16, float32));
  const double relative = ((bf16 - float32).norm() / float32.norm()).item<double>();
  EXPECT_LT(relative, 1e-2);
}

}  // namespace
}  // namespace infusion::engine
