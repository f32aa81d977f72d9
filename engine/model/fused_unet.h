// The U-Net patch layers (engine/model/unet_patch_layers.h) of a float32 CPU inference step as
// plain C++: one OpenMP region for the encoder and one for the decoder, phases separated by
// spinning barriers. Every convolution is one packed product (engine/kernels/packed_product.h)
// over channels-last rows: a 3x3 convolution gathers its 9 taps into one row per output position
// (im2col), so at the bundled model's 8x8 and 4x4 grids a convolution of a few MFLOP costs one
// product instead of a oneDNN call (~350 us each, most of it per-call overhead, measured by
// infusion-bench --engine --profile). GroupNorm and SiLU are one pass; a residual block's 1x1
// skip convolution rides in its second convolution's product (extra columns of the same rows);
// the timestep projections of all blocks are one product. The decoder's inputs of each row (the
// skip activations and timestep projections of its image) come from the encoder's pass over the
// distinct images, so the two guided rows of an image share one encoder pass.
//
// Torch-free. The LibTorch modules stay the reference, the training path and the path of
// anything but float32 inference on CPU; tests/model/fused_unet_test.cc holds this one to them.
#ifndef INFUSION_ENGINE_MODEL_FUSED_UNET_H_
#define INFUSION_ENGINE_MODEL_FUSED_UNET_H_

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "engine/kernels/packed_product.h"
#include "engine/kernels/phase_timer.h"
#include "engine/model/model_config.h"

namespace infusion::engine {

// A convolution (kernel 1 or 3, padding kernel / 2) or a linear layer (kernel 1 over rows of one
// position) as one product. The weight is packed from [out][ky][kx][in] (taps outer, channels
// inner: the order of the gathered rows), followed by `extra` columns that multiply extra input
// channels read at the output position itself (a residual block's skip convolution).
struct FusedConv {
  PackedWeight weight;
  std::vector<float> bias;  // [out], the skip convolution's bias included
  int kernel = 1;
  int stride = 1;
  int64_t in = 0;     // channels of the convolved input
  int64_t extra = 0;  // channels of the extra input (0: none)
  int64_t out = 0;
  // An upsampling convolution (nearest x2, then 3x3) as four 2x2 convolutions of the source, one
  // per output phase (py, px) at index py * 2 + px: output cell (2y + py, 2x + px) reads source
  // rows y + py - 1 + a and columns x + px - 1 + b (a, b in {0, 1}), whose weights are the sums
  // of the 3x3 kernel rows and columns that land there. 4 * in columns instead of 9 * in.
  std::vector<PackedWeight> phases;
};

struct FusedGroupNorm {
  std::vector<float> weight, bias;  // [channels]
  int64_t groups = 1;
  float eps = 1e-5f;
};

struct FusedResBlock {
  FusedGroupNorm norm1, norm2;
  FusedConv conv1;
  FusedConv conv2;   // with the 1x1 skip convolution as extra columns when channels change
  int64_t time_offset = 0;  // of this block's timestep projection in FusedUnetWeights::time_proj
};

struct FusedUnetWeights {
  FusedConv time_linear_1, time_linear_2;  // the TimestepEmbedding MLP
  // Every residual block's time_proj, stacked: [sum of the blocks' widths] outputs of silu(temb).
  FusedConv time_proj;
  FusedConv conv_in;
  std::vector<std::vector<FusedResBlock>> down;  // [level][block], finest level first
  std::vector<FusedConv> downsample;             // [level], all but the last
  FusedGroupNorm encoder_norm_out;
  FusedConv proj_out, proj_in;
  std::vector<std::vector<FusedResBlock>> up;  // [level][block], finest level first
  std::vector<FusedConv> upsample;             // [level], all but level 0 (empty there)
  FusedGroupNorm decoder_norm_out;
  FusedConv conv_out;
};

// What Encode hands to Decode, per distinct image, channels last.
struct FusedUnetActivations {
  int64_t images = 0;
  std::vector<std::vector<float>> skips;  // [images, H_l * W_l, C_l], in push order
  std::vector<float> time;                // [images, time_proj.out]: every block's projection
};

class FusedUnet {
 public:
  // bf16: every product runs in bfloat16 (PackedProductBf16, float32 sums; the gathered rows
  // are rounded just before it), everything else in float32.
  FusedUnet(const ModelConfig& config, FusedUnetWeights weights, bool bf16 = false);
  ~FusedUnet();

  // patches: [images, n, patch_dim] normalised latent patches, timesteps: [images];
  // out: [images, n, hidden] (raster order of the patch grid). Fills *activations for Decode.
  void Encode(const float* patches, const float* timesteps, int64_t images, float* out,
              FusedUnetActivations* activations);
  // hidden: [rows, n, hidden] transformer outputs of encoded images which[0..rows) (each
  // < activations.images); eps: [rows, n, patch_dim].
  void Decode(const float* hidden, int64_t rows, const int64_t* which,
              const FusedUnetActivations& activations, float* eps);

  // Where the steps' time goes, for infusion-bench --engine (engine/kernels/phase_timer.h).
  void EnablePhaseTiming(bool enable) { timing_ = enable; }
  PhaseTimes phase_times() const { return times_; }
  void ResetPhaseTimes() { times_ = {}; }

 private:
  class Team;
  struct Source;
  void RunEncode(Team& team, const float* patches, int64_t images, float* out,
                 FusedUnetActivations* activations);
  void RunDecode(Team& team, const float* hidden, int64_t rows, const int64_t* which,
                 const FusedUnetActivations& activations, float* eps);
  // A residual block over `images` images of side `side`: x (+ the concatenated skip s, when
  // given) -> out.
  void ResBlock(Team& team, const FusedResBlock& block, int64_t images, int64_t side,
                const Source& x, const Source& s, const float* time, float* out);
  void Convolve(Team& team, const FusedConv& conv, int64_t images, int64_t side, const Source& x,
                const Source& extra1, const Source& extra2, bool upsample, float* y,
                const float* per_image, int64_t per_image_ld, const float* residual, bool silu);
  void ConvolveUpsampled(Team& team, const FusedConv& conv, int64_t images, int64_t side,
                         const Source& x, float* y);
  void GroupNormSilu(Team& team, const FusedGroupNorm& norm, int64_t images, int64_t positions,
                     const Source& a, const Source& b, float* out);
  void Reserve(int64_t images, int threads);
  // y (+)= rows of `left` x panels [p0, p1) of w, in this U-Net's precision; a bfloat16 product
  // first rounds the rows into `scratch` (this thread's).
  void Multiply(const float* left, int64_t rows, int64_t ld, const PackedWeight& w, int64_t p0,
                int64_t p1, float* y, int64_t ldy, ProductEpilogue epilogue,
                uint16_t* scratch) const;
  template <typename Body>
  void RunTeam(int threads, Body body);

  ImageConfig image_;
  int64_t hidden_;
  FusedUnetWeights w_;
  int64_t max_channels_ = 0;  // widest activation row (a concatenation included)
  int64_t max_gather_ = 0;    // widest gathered row (taps and extras)
  bool bf16_ = false;
  int64_t ld_bf16_ = 0;       // of the bfloat16 rows: the widest row, rounded up to even

  // Buffers kept across steps, grown to the largest step seen.
  int64_t capacity_images_ = 0;
  int capacity_threads_ = 0;
  std::vector<std::vector<float>> buffers_;  // 4 activations of [images, S * S, max_channels_]
  std::vector<std::vector<float>> gathered_skips_;  // Decode: each row's skips
  std::vector<float> features_, time_hidden_, time_silu_, gathered_time_;
  std::vector<float> shared_gather_;               // small products: one gather, split by panels
  std::vector<std::vector<float>> thread_gather_;  // large products: per thread, split by rows
  std::vector<std::vector<float>> thread_out_;     // upsampling: one phase's rows, per thread
  std::vector<uint16_t> shared_bf16_;              // bf16_: shared_gather_ rounded
  std::vector<std::vector<uint16_t>> thread_bf16_;  // bf16_: a chunk of rows rounded, per thread

  // Every block's timestep projection by timestep (its float bits): the same for every image at
  // that timestep, and a sampler's images revisit the same few dozen timesteps, so the
  // timestep MLP runs only for timesteps not seen before (bounded: cleared when full).
  static constexpr size_t kTimeCacheEntries = 1024;
  std::unordered_map<uint32_t, std::vector<float>> time_cache_;
  std::vector<float> new_timesteps_;      // of a pass: the distinct ones not in the cache ...
  std::vector<float> new_time_;           // ... and their projections [new, time_proj.out]
  std::vector<const float*> time_rows_;   // of a pass: each image's projections

  bool timing_ = false;
  PhaseTimes times_;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_FUSED_UNET_H_
