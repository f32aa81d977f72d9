#ifndef INFUSION_ENGINE_MODEL_UNET_PATCH_LAYERS_H_
#define INFUSION_ENGINE_MODEL_UNET_PATCH_LAYERS_H_

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>

#include "engine/model/fused_unet.h"
#include "engine/model/patch_layers.h"

namespace infusion::engine {

// h = conv1(silu(norm1(x))) + time_proj(silu(temb))[:, :, None, None];
// out = conv2(silu(norm2(h))) + skip(x)   (skip: 1x1 conv when channels change, else identity).
class UnetResBlockImpl : public torch::nn::Module {
 public:
  UnetResBlockImpl(int64_t in_channels, int64_t out_channels, int64_t time_dim, int64_t groups);
  at::Tensor forward(const at::Tensor& x /*[I, Cin, H, W]*/, const at::Tensor& temb /*[I, E]*/);

  // The block for FusedUnet; its time_proj is packed with the others' (time_offset: where its
  // outputs start among them).
  FusedResBlock PackFused(int64_t time_offset) const;
  const torch::nn::Linear& time_proj() const { return time_proj_; }

 private:
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, skip_{nullptr};
  torch::nn::Linear time_proj_{nullptr};
};
TORCH_MODULE(UnetResBlock);

// U-Net patchification over a latent grid of side S with channels c_0..c_{L-1} (finest first),
// patch size p = 2^(L-1), grid g = S / p, n = g * g patches:
//
// Encode:  z = unpatchify(patches)                                [I, C, S, S]
//          h = encoder.conv_in(z)                                  c_0, 3x3
//          level l = 0..L-1: for each res block r:
//              h = encoder.down.l.res.r(h, temb); skips.push(h)
//            if l < L-1: h = encoder.down.l.downsample(h)          3x3, stride 2
//          h = encoder.proj_out(silu(encoder.norm_out(h)))         1x1, c_{L-1} -> hidden
//          -> [I, n, hidden] in raster order of the g x g grid
// Decode:  h = decoder.proj_in(hidden as [J, hidden, g, g])        1x1, hidden -> c_{L-1}
//          level l = L-1..0: for each res block r:
//              h = decoder.up.l.res.r(cat(h, skips.pop()), temb)   (last pushed first)
//            if l > 0: h = decoder.up.l.upsample(nearest_x2(h))    3x3, c_l -> c_l
//          eps = decoder.conv_out(silu(decoder.norm_out(h)))       3x3, c_0 -> C
//          -> patchify -> [J, n, patch_dim]
class UnetPatchLayers : public PatchLayers {
 public:
  explicit UnetPatchLayers(const ModelConfig& config);
  at::Tensor Encode(const at::Tensor& patches, const at::Tensor& timesteps,
                    PatchContext* context) override;
  at::Tensor Decode(const at::Tensor& hidden, const PatchContext& context,
                    const at::Tensor& which) override;
  // Packs the layers for FusedUnet (or drops the packed copy): float32 CPU passes without
  // autograd then run fused; the modules stay the reference.
  void EnableFusedInference(bool enable, bool bf16 = false) override;
  bool fused_inference() const { return fused_ != nullptr; }
  FusedUnet* fused_unet() override { return fused_.get(); }

 private:
  struct Level {
    std::vector<UnetResBlock> res;
    torch::nn::Conv2d resample{nullptr};  // down-sampling (encoder) or up-sampling conv (decoder)
  };

  ImageConfig image_;
  int64_t hidden_size_;
  TimestepEmbedding time_embed_{nullptr};
  torch::nn::Conv2d conv_in_{nullptr}, proj_out_{nullptr}, proj_in_{nullptr}, conv_out_{nullptr};
  torch::nn::GroupNorm encoder_norm_out_{nullptr}, decoder_norm_out_{nullptr};
  std::vector<Level> down_, up_;  // indexed by level, finest first
  std::unique_ptr<FusedUnet> fused_;  // when EnableFusedInference(true)
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_MODEL_UNET_PATCH_LAYERS_H_
