// The engine's fast path (paged KV cache, one packed forward of mixed spans) against the
// reference path (full recompute, dense mask) and against each span run alone.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <filesystem>
#include <fstream>
#include <utility>

#include "engine/executor/model_executor.h"
#include "engine/executor/model_executor_impl.h"
#include "engine/kernels/packed_product.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "engine/kv_cache/position_key.h"
#include "engine/model/reference_forward.h"
#include "tests/testing/tiny_models.h"

namespace infusion::engine {
namespace {

double RelativeError(const std::vector<float>& got, const at::Tensor& want) {
  const at::Tensor g = at::tensor(got).view_as(want);
  return (g - want).abs().max().item<double>() / std::max(want.abs().max().item<double>(), 1e-12);
}

// How a step runs: module by module (the reference), fused in float32, or fused with the products
// of images being denoised in bfloat16 (the default; the same as kFused on a CPU without
// AVX512-BF16).
enum class Path { kModules, kFused, kFusedBf16Images };

const char* PathName(Path p) {
  switch (p) {
    case Path::kModules:
      return "modules";
    case Path::kFused:
      return "fused";
    case Path::kFusedBf16Images:
      return "fused_bf16_images";
  }
  return "?";
}

// Both patch layers, two KV block sizes: 4 (the kernel's generic path, many blocks per
// sequence) and 16 (the default, whose blocks the decode kernel scores as one vector), and the
// three paths.
class ExecutorTest
    : public ::testing::TestWithParam<std::tuple<PatchEncoderKind, int, Path>> {
 protected:
  void SetUp() override {
    config_ = testing::TinyConfig(std::get<0>(GetParam()));
    block_size_ = std::get<1>(GetParam());
    dir_ = ::testing::TempDir() + "/executor_test_" + PatchEncoderName(std::get<0>(GetParam())) +
           std::to_string(block_size_) + "_" + PathName(path());
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/config.json") << config_.ToJson();
    TransfusionModel model(config_);
    model->InitWeights(7);
    ASSERT_TRUE(SaveTransfusionWeights(*model, dir_ + "/model.safetensors").ok());
    ModelExecutorOptions options;
    options.model_dir = dir_;
    options.kv_cache_bytes = 1 << 20;
    options.block_size = block_size_;
    options.fused_decoder = path() != Path::kModules;
    options.fused_unet = path() != Path::kModules;
    options.bf16_images = path() == Path::kFusedBf16Images;
    auto executor = ModelExecutor::Create(options);
    ASSERT_TRUE(executor.ok()) << executor.status();
    executor_ = std::move(*executor);
    KvCacheManagerOptions kv;
    kv.num_blocks = executor_->info().num_kv_blocks;
    kv.block_size = block_size_;
    kv.enable_prefix_cache = false;
    kv_ = *KvCacheManager::Create(kv);
    torch::manual_seed(5);
    const int64_t n = config_.image.num_patches(), d = config_.image.patch_dim();
    for (int i = 0; i < 3; ++i) images_.push_back(at::randn({n, d}).contiguous());
  }

  Path path() const { return std::get<2>(GetParam()); }
  bool bf16_images() const {
    return path() == Path::kFusedBf16Images && PackedProductBf16Supported();
  }
  TransfusionModelImpl& model() { return executor_->impl().model(); }
  const float* Data(const at::Tensor& t) { return t.data_ptr<float>(); }
  int n() const { return config_.image.num_patches(); }

  // A span that writes positions [begin, begin + tokens.size()) of sequence `seq`, allocating
  // them in the KV manager.
  Span WriteSpan(SeqId seq, int begin, std::vector<int32_t> tokens, SpanKind kind,
                 bool want_logits) {
    std::vector<uint64_t> keys(tokens.size(), 0);
    for (size_t i = 0; i < keys.size(); ++i) keys[i] = HashCombine(seq, begin + i);
    if (begin == 0) {
      EXPECT_TRUE(kv_->Allocate(seq, keys).ok());
    } else {
      EXPECT_TRUE(kv_->Append(seq, keys).ok());
    }
    Span s;
    s.kind = kind;
    s.seq_id = seq;
    s.start_position = begin;
    s.tokens = std::move(tokens);
    s.block_table = TableOf(seq);
    s.slots = *kv_->SlotMapping(seq, begin, begin + s.num_positions());
    s.want_logits = want_logits;
    return s;
  }
  std::vector<int32_t> TableOf(SeqId seq) {
    auto t = *kv_->BlockTable(seq);
    return std::vector<int32_t>(t.begin(), t.end());
  }
  Span DenoiseSpan(SeqId seq, const at::Tensor& patches, float t) {
    Span s;
    s.kind = SpanKind::kDenoise;
    s.seq_id = seq;
    s.start_position = *kv_->NumPositions(seq);
    s.tokens.assign(n(), 0);
    s.images.push_back({0, 0, Data(patches), t, true});
    s.block_table = TableOf(seq);
    return s;
  }
  std::vector<int32_t> Pads(int count) { return std::vector<int32_t>(count, 0); }

  ModelConfig config_;
  int block_size_ = 4;
  std::string dir_;
  std::unique_ptr<ModelExecutor> executor_;
  std::unique_ptr<KvCacheManager> kv_;
  std::vector<at::Tensor> images_;
};

// Prefill then token-by-token decode through the cache gives the logits of full recompute.
TEST_P(ExecutorTest, IncrementalDecodingMatchesFullRecompute) {
  const std::vector<int32_t> tokens = {2, 17, 33, 8, 41, 12, 9, 55, 3, 21, 30};
  const ReferenceOutput ref = ReferenceForward(model(), {SequencePart::Text(tokens)});
  StepPlan prefill;
  prefill.spans.push_back(
      WriteSpan(1, 0, {tokens.begin(), tokens.begin() + 5}, SpanKind::kPrefill, true));
  StepResult r = executor_->Execute(prefill);
  ASSERT_TRUE(r.spans[0].status.ok()) << r.spans[0].status;
  EXPECT_LE(RelativeError(r.spans[0].logits, ref.logits[4]), 1e-5);
  for (size_t i = 5; i < tokens.size(); ++i) {
    StepPlan decode;
    decode.spans.push_back(WriteSpan(1, i, {tokens[i]}, SpanKind::kDecode, true));
    r = executor_->Execute(decode);
    ASSERT_TRUE(r.spans[0].status.ok());
    EXPECT_LE(RelativeError(r.spans[0].logits, ref.logits[i]), 1e-5) << "position " << i;
  }
}

// One step mixing a prefill chunk with an image, a decode and a guided denoise (two rows) of
// four sequences gives, for each span, what the reference path and the span alone give.
TEST_P(ExecutorTest, MixedStepMatchesReferenceAndSpansAlone) {
  const float t = 400.0f;
  // Sequence 1: <bos> 11 12 <boi> [image0] <eoi> 13 — one prefill chunk with an image.
  std::vector<int32_t> seq1 = {2, 11, 12, 4};
  const std::vector<int32_t> pads = Pads(n());
  seq1.insert(seq1.end(), pads.begin(), pads.end());
  seq1.push_back(5);
  seq1.push_back(13);
  // Sequence 2: 6 tokens already cached, then a decode of its 7th.
  const std::vector<int32_t> seq2 = {2, 20, 21, 22, 23, 24, 25};
  // Sequence 3: prefix <bos> 30 31 <boi> cached; denoise image1 at t. Sequence 4: its CFG
  // prefix <bos> <boi> cached; denoise the same image (the same latents at the same t: the
  // executor encodes them once for both).
  const std::vector<int32_t> seq3 = {2, 30, 31, 4}, seq4 = {2, 4};

  // Setup steps: cache the prefixes of 2, 3 and 4.
  StepPlan setup;
  setup.spans.push_back(WriteSpan(2, 0, {seq2.begin(), seq2.end() - 1}, SpanKind::kPrefill, false));
  setup.spans.push_back(WriteSpan(3, 0, seq3, SpanKind::kPrefill, false));
  setup.spans.push_back(WriteSpan(4, 0, seq4, SpanKind::kPrefill, false));
  for (const auto& r : executor_->Execute(setup).spans) ASSERT_TRUE(r.status.ok()) << r.status;

  auto build_spans = [&]() {
    std::vector<Span> spans;
    Span s1 = WriteSpan(1, 0, seq1, SpanKind::kPrefill, true);
    s1.images.push_back({4, 0, Data(images_[0]), 0.0f, false});
    spans.push_back(std::move(s1));
    spans.push_back(WriteSpan(2, 6, {seq2.back()}, SpanKind::kDecode, true));
    spans.push_back(DenoiseSpan(3, images_[1], t));
    spans.push_back(DenoiseSpan(4, images_[1], t));
    return spans;
  };
  StepPlan mixed;
  mixed.spans = build_spans();
  const StepResult together = executor_->Execute(mixed);
  for (const auto& r : together.spans) ASSERT_TRUE(r.status.ok()) << r.status;

  // Reference path, one full recompute per sequence.
  const ReferenceOutput ref1 =
      ReferenceForward(model(), {SequencePart::Text({2, 11, 12, 4}),
                                 SequencePart::Image(images_[0], 0), SequencePart::Text({5, 13})});
  const ReferenceOutput ref2 = ReferenceForward(model(), {SequencePart::Text(seq2)});
  const ReferenceOutput ref3 =
      ReferenceForward(model(), {SequencePart::Text(seq3), SequencePart::Image(images_[1], t)});
  const ReferenceOutput ref4 =
      ReferenceForward(model(), {SequencePart::Text(seq4), SequencePart::Image(images_[1], t)});
  EXPECT_LE(RelativeError(together.spans[0].logits, ref1.logits[5]), 1e-5);
  EXPECT_LE(RelativeError(together.spans[1].logits, ref2.logits[6]), 1e-5);
  if (bf16_images()) {
    // The denoised images' products ran in bfloat16 (and did run: the result moved). Inputs
    // and weights rounded to 8 significant bits, through 2 layers and the patch layers; the
    // text positions of the step (a clean image among them) stay float32, within 1e-5 above.
    for (const auto& [got, want] : {std::pair{&together.spans[2].eps[0], &ref3.eps},
                                    std::pair{&together.spans[3].eps[0], &ref4.eps}}) {
      EXPECT_LE(RelativeError(*got, *want), 3e-2);
      EXPECT_GT(RelativeError(*got, *want), 1e-6);
    }
  } else {
    EXPECT_LE(RelativeError(together.spans[2].eps[0], ref3.eps), 1e-5);
    EXPECT_LE(RelativeError(together.spans[3].eps[0], ref4.eps), 1e-5);
  }
  // The two CFG rows differ: their prefixes do.
  EXPECT_GT(RelativeError(together.spans[2].eps[0], ref4.eps), 1e-3);

  // Each span alone (sequence 1 and 2 rewritten: drop and redo them).
  ASSERT_TRUE(kv_->Free(1).ok());
  ASSERT_TRUE(kv_->Truncate(2, 6).ok());
  std::vector<Span> spans = build_spans();
  for (size_t i = 0; i < spans.size(); ++i) {
    StepPlan alone;
    alone.spans.push_back(spans[i]);
    const StepResult r = executor_->Execute(alone);
    ASSERT_TRUE(r.spans[0].status.ok());
    if (i < 2) {
      EXPECT_LE(RelativeError(r.spans[0].logits, at::tensor(together.spans[i].logits)), 1e-5);
    } else {
      // Bit for bit on the fused paths, bfloat16 included: nothing else in a step changes how
      // a row's sums run.
      if (path() == Path::kModules) {
        EXPECT_LE(RelativeError(r.spans[0].eps[0], at::tensor(together.spans[i].eps[0])), 1e-5);
      } else {
        EXPECT_EQ(r.spans[0].eps[0], together.spans[i].eps[0]) << "span " << i;
      }
    }
  }
}

// A prefix-cache hit that ends inside an image: the span holds the image's tail only; the
// encoder still reads the whole image, and the outputs match full recompute. The head's K/V come
// from a whole-image computation (sequence 9), shared by fork, as a prefix-cache hit would.
TEST_P(ExecutorTest, SpanStartingInsideACachedImage) {
  std::vector<int32_t> all = {2, 11, 4};
  const std::vector<int32_t> pads = Pads(n());
  all.insert(all.end(), pads.begin(), pads.end());
  all.push_back(5);
  all.push_back(14);
  StepPlan whole;
  Span w = WriteSpan(9, 0, all, SpanKind::kPrefill, true);
  w.images.push_back({3, 0, Data(images_[2]), 0.0f, false});
  whole.spans.push_back(std::move(w));
  const StepResult rw = executor_->Execute(whole);
  ASSERT_TRUE(rw.spans[0].status.ok()) << rw.spans[0].status;
  const ReferenceOutput ref =
      ReferenceForward(model(), {SequencePart::Text({2, 11, 4}), SequencePart::Image(images_[2], 0),
                                 SequencePart::Text({5, 14})});
  const int last = static_cast<int>(ref.logits.size(0)) - 1;
  EXPECT_LE(RelativeError(rw.spans[0].logits, ref.logits[last]), 1e-5);

  const int split = 3 + n() / 2;  // the head of the image is "cached"
  ASSERT_TRUE(kv_->Fork(9, 1).ok());
  ASSERT_TRUE(kv_->Truncate(1, split).ok());
  StepPlan tail;
  std::vector<uint64_t> keys(all.size() - split, 77);
  auto appended = kv_->Append(1, keys);
  ASSERT_TRUE(appended.ok());
  if (appended->copy) tail.block_copies.emplace_back(appended->copy->src, appended->copy->dst);
  Span b;
  b.kind = SpanKind::kPrefill;
  b.seq_id = 1;
  b.start_position = split;
  b.tokens.assign(all.begin() + split, all.end());
  b.images.push_back({0, n() / 2, Data(images_[2]), 0.0f, false});
  b.block_table = TableOf(1);
  b.slots = *kv_->SlotMapping(1, split, static_cast<int>(all.size()));
  b.want_logits = true;
  tail.spans.push_back(std::move(b));
  const StepResult r = executor_->Execute(tail);
  ASSERT_TRUE(r.spans[0].status.ok()) << r.spans[0].status;
  EXPECT_LE(RelativeError(r.spans[0].logits, ref.logits[last]), 1e-5);
}

// Bad spans fail alone; the others still run.
TEST_P(ExecutorTest, InvalidSpanFailsAlone) {
  StepPlan plan;
  plan.spans.push_back(WriteSpan(1, 0, {2, 11, 12}, SpanKind::kPrefill, true));
  Span bad = WriteSpan(2, 0, {2, 13}, SpanKind::kPrefill, true);
  bad.tokens[1] = 100000;
  plan.spans.push_back(bad);
  Span bad_table = WriteSpan(3, 0, {2, 14}, SpanKind::kPrefill, true);
  bad_table.block_table[0] = 1 << 30;
  plan.spans.push_back(bad_table);
  const StepResult r = executor_->Execute(plan);
  EXPECT_TRUE(r.spans[0].status.ok());
  EXPECT_EQ(r.spans[0].logits.size(), static_cast<size_t>(config_.vocab_size));
  EXPECT_EQ(r.spans[1].status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.spans[2].status.code(), absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(BothPatchLayers, ExecutorTest,
                         ::testing::Combine(::testing::Values(PatchEncoderKind::kLinear,
                                                              PatchEncoderKind::kUnet),
                                            ::testing::Values(4, 16),
                                            ::testing::Values(Path::kModules, Path::kFused,
                                                              Path::kFusedBf16Images)),
                         [](const auto& info) {
                           return std::string(PatchEncoderName(std::get<0>(info.param))) +
                                  "_block" + std::to_string(std::get<1>(info.param)) + "_" +
                                  PathName(std::get<2>(info.param));
                         });

TEST(ModelExecutorOptionsTest, NegativeBf16MinRowsIsRejectedByName) {
  ModelExecutorOptions options;
  options.model_dir = "unused";
  options.bf16_min_rows = -1;
  const absl::Status status = options.Validate();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("bf16_min_rows"), std::string::npos) << status;
  options.bf16_min_rows = 0;
  EXPECT_TRUE(options.Validate().ok());
  options.fused_max_rows = -1;
  EXPECT_NE(options.Validate().message().find("fused_max_rows"), std::string::npos);
}

}  // namespace
}  // namespace infusion::engine
