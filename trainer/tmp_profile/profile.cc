// Throwaway: where does a shapes training step spend its time?
#include <chrono>
#include <cstdio>
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include "trainer/train_config.h"
#include "trainer/data_mix.h"
#include "trainer/latent_cache.h"
#include "trainer/batch_builder.h"
#include "trainer/loss.h"
#include "engine/model/image_latents.h"
#include "engine/model/attention_backend.h"
#include "engine/model/patch_layers.h"
#include "engine/model/layers.h"
#include "engine/model/attention_mask.h"
#include "trainer/document_attention.h"

using namespace infusion;
using Clock = std::chrono::steady_clock;
static double Ms(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

int main(int argc, char** argv) {
  at::set_num_threads(argc > 3 ? atoi(argv[3]) : 2);
  auto config = *TrainConfig::FromFile(argv[1]);
  const int rows = argc > 2 ? atoi(argv[2]) : 16;
  auto mix = *DataMix::Create(config.data, config.cache_dir);
  auto latents = *ImageLatents::Create(config.model.image, config.codec_dir);
  at::Tensor raw = *LoadOrEncodeLatents(*mix->datasets()[0], config.model.image, latents->codec(), config.cache_dir);
  auto stats = ComputeLatentStats(raw);
  config.model.image.latent_mean = stats.mean; config.model.image.latent_std = stats.std;
  latents = *ImageLatents::Create(config.model.image, config.codec_dir);
  at::Tensor table = latents->LatentsToPatches(raw).contiguous();
  auto tok = *Tokenizer::Load(".cache/train/tokenizer-7e482d18fe78a1dd-512.model");
  auto schedule = *NoiseSchedule::Create({});
  SequenceBuilder seq(*tok, config.model.tokens, config.model.image.num_patches(), config.sequence);
  BatchBuilder builder(*mix, seq, table, *schedule, config.seq_len, 0);
  TransfusionModel model(config.model);
  model->InitWeights(0);
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-3));
  for (int s = 0; s < 4; ++s) {
    auto t0 = Clock::now();
    TrainingBatch b = *builder.Build(s, 0, rows);
    double build = Ms(t0); t0 = Clock::now();
    DenseAttention attention(b.mask);
    ModelInput& in = b.input;
    // split forward: encoder / backbone / decoder is internal; time whole forward
    LossTerms terms = ComputeLoss(*model, b, {b.lm_targets.numel(), b.noise.numel()}, 5.0);
    double fwd = Ms(t0); t0 = Clock::now();
    terms.total.backward();
    double bwd = Ms(t0); t0 = Clock::now();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    opt.step(); opt.zero_grad();
    double upd = Ms(t0);
    std::printf("rows %d images %ld tokens %ld: build %.0f ms, forward %.0f ms, backward %.0f ms, update %.0f ms\n", rows, in.image_patches.size(0), b.num_tokens, build, fwd, bwd, upd);
  }
  // image layers alone
  {
    TrainingBatch b = *builder.Build(9, 0, rows);
    auto t0 = Clock::now();
    torch::NoGradGuard ng;
    DenseAttention attention(b.mask);
    ModelOutput out = model->Forward(b.input, attention);
    std::printf("forward no-grad %.0f ms\n", Ms(t0));
  }
  {
    torch::NoGradGuard ng;
    auto image = CreatePatchLayers(config.model);
    at::Tensor p = at::randn({122, 16, 128}), t = at::full({122}, 500.0f);
    for (int i = 0; i < 2; ++i) {
      auto t0 = Clock::now();
      PatchContext ctx;
      at::Tensor e = image->Encode(p, t, &ctx);
      double enc = Ms(t0); t0 = Clock::now();
      at::Tensor d = image->Decode(at::randn({122, 16, 256}), ctx, at::arange(122));
      std::printf("unet encode %.0f ms decode %.0f ms\n", enc, Ms(t0));
    }
    DecoderLayer layer(config.model);
    at::Tensor x = at::randn({rows * 256, 256});
    at::Tensor ids = at::full({rows, 256}, -1, at::kLong), docs = at::zeros({rows, 256}, at::kLong);
    DenseAttention attention(BuildAttentionMask(ids, docs));
    RotaryTables rope = ComputeRotaryTables(at::arange(256).repeat({rows}), 32, 10000.0);
    for (int i = 0; i < 2; ++i) {
      auto t0 = Clock::now();
      at::Tensor y = layer->forward(x, rope, attention, 0);
      std::printf("decoder layer %.0f ms\n", Ms(t0));
    }
    at::Tensor q = at::randn({rows * 256, 8, 32}), k = at::randn({rows * 256, 4, 32});
    auto t0 = Clock::now();
    attention.Forward(0, q, k, k);
    std::printf("attention %.0f ms\n", Ms(t0));
    TrainingBatch b = *builder.Build(11, 0, rows);
    DenseAttention dense(b.mask);
    t0 = Clock::now();
    DocumentAttention per_doc(b.image_ids, b.doc_ids);
    std::printf("document attention setup %.1f ms\n", Ms(t0));
    for (int i = 0; i < 3; ++i) {
      t0 = Clock::now();
      at::Tensor a = per_doc.Forward(0, q, k, k);
      double td = Ms(t0); t0 = Clock::now();
      at::Tensor b2 = dense.Forward(0, q, k, k);
      std::printf("document attention %.1f ms, dense %.1f ms, max diff %g\n", td, Ms(t0), (a-b2).abs().max().item<double>());
    }
    at::Tensor w = at::randn({704, 256});
    t0 = Clock::now();
    for (int i = 0; i < 10; ++i) at::matmul(x, w.t());
    std::printf("matmul [4096,256]x[256,704] %.1f ms\n", Ms(t0) / 10);
  }
  return 0;
}
