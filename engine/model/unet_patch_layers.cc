#include "engine/model/unet_patch_layers.h"

#include <string>

#include <ATen/ATen.h>

#include "engine/codec/latents.h"

namespace infusion::engine {

namespace nn = torch::nn;

static nn::Conv2d Conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2));
}

static nn::GroupNorm Norm(int64_t groups, int64_t channels) {
  return nn::GroupNorm(nn::GroupNormOptions(groups, channels).eps(1e-5));
}

// GroupNorm in float32. Under the trainer's CPU autocast the convolutions yield bfloat16, which
// LibTorch 1.13's CPU group_norm refuses next to float32 weights; normalising in float32 is what
// mixed precision wants anyway. Without autocast the input is float32 already and nothing is
// copied.
static at::Tensor Normalize(nn::GroupNorm& norm, const at::Tensor& x) {
  return norm(x.to(at::kFloat));
}

UnetResBlockImpl::UnetResBlockImpl(int64_t in_channels, int64_t out_channels, int64_t time_dim,
                                   int64_t groups) {
  norm1_ = register_module("norm1", Norm(groups, in_channels));
  conv1_ = register_module("conv1", Conv(in_channels, out_channels, 3));
  time_proj_ = register_module("time_proj", nn::Linear(time_dim, out_channels));
  norm2_ = register_module("norm2", Norm(groups, out_channels));
  conv2_ = register_module("conv2", Conv(out_channels, out_channels, 3));
  if (in_channels != out_channels) {
    skip_ = register_module("skip", Conv(in_channels, out_channels, 1));
  }
}

at::Tensor UnetResBlockImpl::forward(const at::Tensor& x, const at::Tensor& temb) {
  at::Tensor h = conv1_(at::silu(Normalize(norm1_, x)));
  h = h + time_proj_(at::silu(temb)).unsqueeze(-1).unsqueeze(-1);
  h = conv2_(at::silu(Normalize(norm2_, h)));
  return h + (skip_ ? skip_(x) : x);
}

UnetPatchLayers::UnetPatchLayers(const ModelConfig& c)
    : image_(c.image), hidden_size_(c.hidden_size) {
  const std::vector<int>& ch = image_.unet.channels;
  const int64_t levels = static_cast<int64_t>(ch.size());
  const int64_t groups = image_.unet.norm_groups;
  const int64_t temb = image_.time_embed_dim;
  time_embed_ = register_module("time_embed", TimestepEmbedding(image_.time_frequency_dim, temb));

  auto encoder = register_module("encoder", std::make_shared<nn::Module>());
  conv_in_ = encoder->register_module("conv_in", Conv(image_.latent_channels, ch[0], 3));
  auto down = encoder->register_module("down", std::make_shared<nn::Module>());
  int64_t channels = ch[0];
  for (int64_t l = 0; l < levels; ++l) {
    auto level = down->register_module(std::to_string(l), std::make_shared<nn::Module>());
    auto res = level->register_module("res", std::make_shared<nn::Module>());
    Level built;
    for (int r = 0; r < image_.unet.num_res_blocks; ++r) {
      built.res.push_back(res->register_module(std::to_string(r),
                                               UnetResBlock(channels, ch[l], temb, groups)));
      channels = ch[l];
    }
    if (l + 1 < levels) {
      built.resample = level->register_module("downsample", Conv(channels, channels, 3, 2));
    }
    down_.push_back(std::move(built));
  }
  encoder_norm_out_ = encoder->register_module("norm_out", Norm(groups, channels));
  proj_out_ = encoder->register_module("proj_out", Conv(channels, hidden_size_, 1));

  auto decoder = register_module("decoder", std::make_shared<nn::Module>());
  proj_in_ = decoder->register_module("proj_in", Conv(hidden_size_, ch[levels - 1], 1));
  auto up = decoder->register_module("up", std::make_shared<nn::Module>());
  up_.resize(levels);
  channels = ch[levels - 1];
  for (int64_t l = levels - 1; l >= 0; --l) {
    auto level = up->register_module(std::to_string(l), std::make_shared<nn::Module>());
    auto res = level->register_module("res", std::make_shared<nn::Module>());
    for (int r = 0; r < image_.unet.num_res_blocks; ++r) {
      up_[l].res.push_back(res->register_module(
          std::to_string(r), UnetResBlock(channels + ch[l], ch[l], temb, groups)));
      channels = ch[l];
    }
    if (l > 0) up_[l].resample = level->register_module("upsample", Conv(channels, channels, 3));
  }
  decoder_norm_out_ = decoder->register_module("norm_out", Norm(groups, channels));
  conv_out_ = decoder->register_module("conv_out", Conv(channels, image_.latent_channels, 3));
}

at::Tensor UnetPatchLayers::Encode(const at::Tensor& patches, const at::Tensor& timesteps,
                                   PatchContext* context) {
  const int64_t images = patches.size(0);
  const at::Tensor temb = time_embed_(timesteps);  // [I, E]
  context->time_embedding = temb;
  context->skips.clear();
  at::Tensor h = conv_in_(Unpatchify(patches, image_.latent_channels, image_.latent_size,
                                     image_.latent_size, image_.patch_size));
  for (Level& level : down_) {
    for (UnetResBlock& block : level.res) {
      h = block->forward(h, temb);
      context->skips.push_back(h);
    }
    if (level.resample) h = level.resample(h);
  }
  h = proj_out_(at::silu(Normalize(encoder_norm_out_, h)));                 // [I, hidden, g, g]
  return h.flatten(2).transpose(1, 2).reshape({images, -1, hidden_size_});  // [I, n, hidden]
}

at::Tensor UnetPatchLayers::Decode(const at::Tensor& hidden, const PatchContext& context,
                                   const at::Tensor& which) {
  const int64_t images = hidden.size(0), grid = image_.grid_size();
  const at::Tensor temb = context.time_embedding.index_select(0, which);
  at::Tensor h = proj_in_(hidden.transpose(1, 2).reshape({images, hidden_size_, grid, grid}));
  size_t skip = context.skips.size();
  for (int64_t l = static_cast<int64_t>(up_.size()) - 1; l >= 0; --l) {
    for (UnetResBlock& block : up_[l].res) {
      const at::Tensor s = context.skips[--skip].index_select(0, which);
      h = block->forward(at::cat({h, s}, 1), temb);
    }
    if (up_[l].resample) {
      h = up_[l].resample(at::upsample_nearest2d(h, {h.size(2) * 2, h.size(3) * 2}));
    }
  }
  const at::Tensor eps = conv_out_(at::silu(Normalize(decoder_norm_out_, h)));  // [J, C, S, S]
  return Patchify(eps, image_.patch_size);
}

}  // namespace infusion::engine
