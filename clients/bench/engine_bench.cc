#include "clients/bench/engine_bench.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "clients/bench/request_timing.h"
#include "common/status_macros.h"
#include "engine/executor/model_executor_impl.h"
#include "engine/kernels/cpu_features.h"
#include "engine/kv_cache/kv_cache_manager.h"
#include "engine/kv_cache/position_key.h"
#include "engine/model/fused_unet.h"
#include "engine/model/model_config.h"

namespace infusion::bench {

using engine::DetectCpuFeatures;
using engine::ExecutorInfo;
using engine::FusedDecoderStack;
using engine::FusedUnet;
using engine::HashCombine;
using engine::ImageConfig;
using engine::KvCacheManager;
using engine::KvCacheManagerOptions;
using engine::ModelConfig;
using engine::ModelExecutor;
using engine::ModelExecutorOptions;
using engine::PatchEncoderKind;
using engine::SeqId;
using engine::Span;
using engine::SpanKind;
using engine::SpanResult;
using engine::StepPlan;

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// FLOPs of the linear layers of the backbone per position.
double BackboneFlopsPerPosition(const ModelConfig& c) {
  const double d = c.hidden_size, hd = c.head_dim();
  const double attn_proj = d * (2 * c.num_attention_heads * hd + 2 * c.num_key_value_heads * hd);
  const double mlp = 3 * d * c.intermediate_size;
  return 2 * c.num_hidden_layers * (attn_proj + mlp);
}

// FLOPs of attention scores and weighted sums for one query that sees `keys` keys.
double AttentionFlops(const ModelConfig& c, double keys) {
  return 4.0 * c.num_hidden_layers * c.num_attention_heads * c.head_dim() * keys;
}

// FLOPs of one image through the patch encoder and through the decoder (the two CFG rows of an
// image share one encoder pass, each has its own decoder pass).
struct PatchFlops {
  double encoder = 0, decoder = 0;
};
PatchFlops PatchLayerFlops(const ModelConfig& c) {
  const ImageConfig& im = c.image;
  if (im.patch_encoder == PatchEncoderKind::kLinear) {
    const double projection = 2.0 * im.num_patches() * im.patch_dim() * c.hidden_size;
    return {projection, projection};
  }
  const auto conv = [](double in, double out, double k, double side) {
    return 2 * in * out * k * k * side * side;
  };
  const std::vector<int>& ch = im.unet.channels;
  PatchFlops f;
  double side = im.latent_size;
  double channels = ch[0];
  f.encoder += conv(im.latent_channels, ch[0], 3, side);
  for (size_t l = 0; l < ch.size(); ++l) {
    for (int r = 0; r < im.unet.num_res_blocks; ++r) {
      // encoder block (in -> c_l) and decoder block (h + c_l -> c_l)
      f.encoder += conv(channels, ch[l], 3, side) + conv(ch[l], ch[l], 3, side);
      f.decoder += conv(2 * ch[l], ch[l], 3, side) + conv(ch[l], ch[l], 3, side);
      channels = ch[l];
    }
    if (l + 1 < ch.size()) {
      f.encoder += conv(ch[l], ch[l], 3, side / 2);      // downsample
      f.decoder += conv(ch[l + 1], ch[l + 1], 3, side);  // upsample
      side /= 2;
    }
  }
  f.encoder += conv(ch.back(), c.hidden_size, 1, im.grid_size());   // proj_out
  f.decoder += conv(c.hidden_size, ch.back(), 1, im.grid_size());   // proj_in
  f.decoder += conv(ch[0], im.latent_channels, 3, im.latent_size);  // conv_out
  return f;
}

double MeasureMatmulPeak(std::string* shape) {
  c10::InferenceMode guard;
  const int64_t m = 512, k = 512, n = 2048;
  *shape = absl::StrCat("[", m, ", ", k, "] x [", k, ", ", n, "] float32");
  const at::Tensor a = at::randn({m, k}), b = at::randn({k, n});
  std::vector<double> times;
  for (int i = 0; i < 12; ++i) {
    const auto t0 = Clock::now();
    at::Tensor c = at::matmul(a, b);
    const auto t1 = Clock::now();
    if (i >= 2) times.push_back(Seconds(t0, t1));
  }
  return 2.0 * m * k * n / *Percentile(times, 50) / 1e9;
}

// GB/s of a parallel sum (LibTorch's, on all its threads) over 256 MiB, best of several.
double MeasureReadBandwidth() {
  c10::InferenceMode guard;
  const at::Tensor buffer = at::ones({int64_t{64} << 20});
  double best = 1e30;
  for (int i = 0; i < 6; ++i) {
    const auto t0 = Clock::now();
    const float sum = buffer.sum().item<float>();
    const double seconds = Seconds(t0, Clock::now());
    if (sum > 0) best = std::min(best, seconds);
  }
  return static_cast<double>(buffer.numel() * sizeof(float)) / best / 1e9;
}

// Bytes of the weights one decode step of one sequence reads.
double DecodeWeightBytes(const ModelConfig& c) {
  const double products = BackboneFlopsPerPosition(c) / 2;  // one multiply-add per weight
  const double norms = (2.0 * c.num_hidden_layers + 1) * c.hidden_size;
  const double logits = static_cast<double>(c.vocab_size) * c.hidden_size;
  return sizeof(float) * (products + norms + logits + c.hidden_size /*embedding row*/);
}

bool IsProduct(const std::string& op) {
  return op == "aten::mm" || op == "aten::addmm" || op == "aten::bmm" || op == "aten::matmul" ||
         op == "aten::linear" || op == "infusion::bf16_product";
}
bool IsConvolution(const std::string& op) { return op.find("conv") != std::string::npos; }

DtypeRow MeasureLayerProducts(const ModelConfig& c, int rows) {
  c10::InferenceMode guard;
  const int64_t d = c.hidden_size, head = c.hidden_size / c.num_attention_heads;
  const int64_t kv = head * c.num_key_value_heads, ffn = c.intermediate_size;
  // {in, out} of q, k, v, o, gate, up, down.
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{d, d},   {d, kv},  {d, kv}, {d, d},
                                                           {d, ffn}, {d, ffn}, {ffn, d}};
  std::vector<at::Tensor> x, w, w16;
  for (const auto& [in, out] : shapes) {
    x.push_back(at::randn({rows, in}));
    w.push_back(at::randn({out, in}));
    w16.push_back(w.back().to(at::kBFloat16));
  }
  auto best_us = [&](const std::function<void()>& layer) {
    for (int i = 0; i < 3; ++i) layer();
    double best = 1e30;
    for (int r = 0; r < 7; ++r) {
      const auto t0 = Clock::now();
      for (int i = 0; i < 10; ++i) layer();
      best = std::min(best, Seconds(t0, Clock::now()) / 10);
    }
    return best * 1e6;
  };
  DtypeRow row;
  row.rows = rows;
  row.float32_us = best_us([&] {
    for (size_t i = 0; i < shapes.size(); ++i) at::linear(x[i], w[i]);
  });
  row.bfloat16_us = best_us([&] {
    for (size_t i = 0; i < shapes.size(); ++i) {
      at::linear(x[i].to(at::kBFloat16), w16[i]).to(at::kFloat);
    }
  });
  return row;
}

// Runs `step` `repetitions` times under LibTorch's profiler and returns the `top` operators by self
// time per step. Only the calling thread records: work an operator hands to the OpenMP or BLAS
// pools counts in that operator's time.
absl::StatusOr<std::vector<EngineBenchRow::Op>> ProfileSteps(
    const std::function<absl::Status()>& step, int repetitions, int top) {
  namespace profiler = torch::autograd::profiler;
  profiler::enableProfilerLegacy(
      torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU));
  absl::Status status;
  for (int i = 0; i < repetitions && status.ok(); ++i) status = step();
  const profiler::thread_event_lists lists = profiler::disableProfilerLegacy();
  RETURN_IF_ERROR(status);

  struct Totals {
    double self_us = 0;
    int64_t calls = 0;
  };
  std::map<std::string, Totals> totals;
  for (const std::vector<profiler::LegacyEvent>& list : lists) {
    struct Open {
      const profiler::LegacyEvent* push;
      double children_us;
    };
    std::vector<Open> open;
    for (const profiler::LegacyEvent& e : list) {
      if (e.kind() == profiler::EventKind::PushRange) {
        open.push_back({&e, 0.0});
      } else if (e.kind() == profiler::EventKind::PopRange && !open.empty()) {
        const Open o = open.back();
        open.pop_back();
        const double us = o.push->cpuElapsedUs(e);
        Totals& t = totals[o.push->name()];
        t.self_us += us - o.children_us;
        ++t.calls;
        if (!open.empty()) open.back().children_us += us;
      }
    }
  }
  std::vector<EngineBenchRow::Op> ops;
  for (const auto& [name, t] : totals) {
    ops.push_back(
        {name, t.self_us / 1e3 / repetitions, static_cast<double>(t.calls) / repetitions});
  }
  std::sort(ops.begin(), ops.end(),
            [](const auto& a, const auto& b) { return a.self_ms > b.self_ms; });
  if (static_cast<int>(ops.size()) > top) ops.resize(top);
  return ops;
}

}  // namespace

absl::StatusOr<EngineBenchResult> RunEngineBench(const ModelExecutorOptions& executor_options,
                                                 const EngineBenchOptions& options) {
  ASSIGN_OR_RETURN(ModelConfig config,
                   ModelConfig::FromFile(executor_options.model_dir + "/config.json"));
  ASSIGN_OR_RETURN(std::unique_ptr<ModelExecutor> executor,
                   ModelExecutor::Create(executor_options));
  const ExecutorInfo& info = executor->info();
  EngineBenchResult result;
  result.cpu_features = DetectCpuFeatures().ToString();
  result.matmul_peak_gflops = MeasureMatmulPeak(&result.matmul_shape);
  result.read_bandwidth_gbps = MeasureReadBandwidth();
  result.decode_weight_bytes = DecodeWeightBytes(config);
  FusedDecoderStack* fused = executor->impl().model().fused_decoder();
  FusedUnet* fused_unet = executor->impl().model().fused_unet();
  for (int rows : options.dtype_rows) result.dtypes.push_back(MeasureLayerProducts(config, rows));
  std::mt19937 rng(1);
  auto token = [&] { return static_cast<int32_t>(10 + rng() % (info.vocab_size - 10)); };
  SeqId next_seq = 0;

  KvCacheManagerOptions kv_options;
  kv_options.num_blocks = info.num_kv_blocks;
  kv_options.block_size = info.block_size;
  kv_options.enable_prefix_cache = false;
  ASSIGN_OR_RETURN(std::unique_ptr<KvCacheManager> kv, KvCacheManager::Create(kv_options));

  // A writing span of `tokens` at the end of sequence `seq`.
  auto write_span = [&](SeqId seq, std::vector<int32_t> tokens, bool logits,
                        SpanKind kind) -> absl::StatusOr<Span> {
    std::vector<uint64_t> keys;
    const int begin = kv->NumPositions(seq).value_or(0);
    for (size_t i = 0; i < tokens.size(); ++i) keys.push_back(HashCombine(seq, begin + i));
    if (begin == 0) {
      RETURN_IF_ERROR(kv->Allocate(seq, keys).status());
    } else {
      RETURN_IF_ERROR(kv->Append(seq, keys).status());
    }
    Span span;
    span.kind = kind;
    span.seq_id = seq;
    span.start_position = begin;
    span.tokens = std::move(tokens);
    ASSIGN_OR_RETURN(auto table, kv->BlockTable(seq));
    span.block_table.assign(table.begin(), table.end());
    ASSIGN_OR_RETURN(span.slots, kv->SlotMapping(seq, begin, begin + span.num_positions()));
    span.want_logits = logits;
    return span;
  };
  auto run = [&](const StepPlan& plan) -> absl::Status {
    for (const SpanResult& r : executor->Execute(plan).spans) RETURN_IF_ERROR(r.status);
    return absl::OkStatus();
  };

  for (int batch : options.decode_batches) {
    std::vector<SeqId> seqs;
    StepPlan prefill;
    for (int b = 0; b < batch; ++b) {
      seqs.push_back(next_seq++);
      std::vector<int32_t> prompt;
      for (int i = 0; i < options.context; ++i) prompt.push_back(token());
      ASSIGN_OR_RETURN(Span s, write_span(seqs.back(), prompt, false, SpanKind::kPrefill));
      prefill.spans.push_back(std::move(s));
    }
    RETURN_IF_ERROR(run(prefill));
    std::vector<double> times;
    double flops = 0;
    // One decode step of every sequence; when timed, adds its FLOPs and time to the row's.
    auto decode_step = [&](bool timed) -> absl::Status {
      StepPlan step;
      double step_flops = 0;
      for (SeqId seq : seqs) {
        ASSIGN_OR_RETURN(Span s, write_span(seq, {token()}, true, SpanKind::kDecode));
        step_flops += BackboneFlopsPerPosition(config) +
                      AttentionFlops(config, s.start_position + 1) +
                      2.0 * config.hidden_size * config.vocab_size;
        step.spans.push_back(std::move(s));
      }
      const auto t0 = Clock::now();
      RETURN_IF_ERROR(run(step));
      if (timed) {
        times.push_back(Seconds(t0, Clock::now()));
        flops += step_flops;
      }
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(decode_step(/*timed=*/false));  // warm-up
    for (int rep = 0; rep < options.repetitions; ++rep) RETURN_IF_ERROR(decode_step(true));
    const double median = *Percentile(times, 50);
    EngineBenchRow row{
        "decode",  batch, batch, median * 1e3, flops / options.repetitions / median / 1e9,
        /*ops=*/{}};
    if (options.profile) {
      ASSIGN_OR_RETURN(row.ops, ProfileSteps([&] { return decode_step(false); },
                                             options.repetitions, options.profile_top));
    }
    for (SeqId seq : seqs) RETURN_IF_ERROR(kv->Free(seq));
    result.rows.push_back(std::move(row));
  }

  const int n = info.num_patches;
  const PatchFlops patch_flops = PatchLayerFlops(config);
  std::normal_distribution<float> normal;
  for (int batch : options.denoise_batches) {
    // Each image its own latents, shared by its two CFG rows as in a real request.
    std::vector<std::vector<float>> latents(batch);
    for (std::vector<float>& image : latents) {
      image.resize(static_cast<size_t>(n) * info.patch_dim);
      for (float& v : image) v = normal(rng);
    }
    std::vector<SeqId> seqs;  // cond and uncond prefix of each image
    StepPlan prefill;
    for (int b = 0; b < batch; ++b) {
      for (int rows : {8, 2}) {  // "<bos> caption <boi>" and "<bos> <boi>"
        seqs.push_back(next_seq++);
        std::vector<int32_t> prompt;
        for (int i = 0; i < rows; ++i) prompt.push_back(token());
        ASSIGN_OR_RETURN(Span s, write_span(seqs.back(), prompt, false, SpanKind::kPrefill));
        prefill.spans.push_back(std::move(s));
      }
    }
    RETURN_IF_ERROR(run(prefill));
    StepPlan step;
    double step_flops = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
      const SeqId seq = seqs[i];
      Span span;
      span.kind = SpanKind::kDenoise;
      span.seq_id = seq;
      span.start_position = *kv->NumPositions(seq);
      span.tokens.assign(n, 0);
      span.images.push_back({0, 0, latents[i / 2].data(), 500.0f, true});
      ASSIGN_OR_RETURN(auto table, kv->BlockTable(seq));
      span.block_table.assign(table.begin(), table.end());
      step_flops += n * BackboneFlopsPerPosition(config) +
                    n * AttentionFlops(config, span.start_position + n) + patch_flops.decoder +
                    (i % 2 == 0 ? patch_flops.encoder : 0);
      step.spans.push_back(std::move(span));
    }
    std::vector<double> times;
    for (int rep = 0; rep <= options.repetitions; ++rep) {
      const auto t0 = Clock::now();
      RETURN_IF_ERROR(run(step));
      const auto t1 = Clock::now();
      if (rep > 0) times.push_back(Seconds(t0, t1));
    }
    const double median = *Percentile(times, 50);
    EngineBenchRow row{"denoise", batch, 2 * batch * n, median * 1e3, step_flops / median / 1e9,
                       /*ops=*/{}};
    if (options.profile) {
      ASSIGN_OR_RETURN(row.ops, ProfileSteps([&] { return run(step); }, options.repetitions,
                                             options.profile_top));
    }
    if (batch == *std::max_element(options.denoise_batches.begin(),
                                   options.denoise_batches.end())) {
      // Where the largest image step's time goes: every operator's self time, and the fused
      // stack's own product phases.
      if (fused != nullptr) {
        fused->ResetPhaseTimes();
        fused->EnablePhaseTiming(true);
      }
      if (fused_unet != nullptr) {
        fused_unet->ResetPhaseTimes();
        fused_unet->EnablePhaseTiming(true);
      }
      const auto t0 = Clock::now();
      auto ops = ProfileSteps([&] { return run(step); }, options.repetitions, 1 << 20);
      const double wall_ms = Seconds(t0, Clock::now()) * 1e3 / options.repetitions;
      RETURN_IF_ERROR(ops.status());
      EngineBenchResult::ImageStepShares& shares = result.image_shares;
      shares.batch = batch;
      shares.step_ms = wall_ms;
      double product_ms = 0, convolution_ms = 0;
      for (const EngineBenchRow::Op& op : *ops) {
        if (IsProduct(op.name)) product_ms += op.self_ms;
        if (IsConvolution(op.name)) convolution_ms += op.self_ms;
      }
      if (fused != nullptr) {
        product_ms += fused->phase_times().product_seconds * 1e3 / options.repetitions;
        fused->EnablePhaseTiming(false);
      }
      if (fused_unet != nullptr) {  // its product phases are the U-Net's convolutions
        convolution_ms += fused_unet->phase_times().product_seconds * 1e3 / options.repetitions;
        fused_unet->EnablePhaseTiming(false);
      }
      shares.product_share = product_ms / wall_ms;
      shares.convolution_share = convolution_ms / wall_ms;
    }
    for (SeqId seq : seqs) RETURN_IF_ERROR(kv->Free(seq));
    result.rows.push_back(std::move(row));
  }
  return result;
}

}  // namespace infusion::bench
