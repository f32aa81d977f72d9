#include "engine/model/unet_patch_layers.h"

#include <string>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

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

// The packed layers of FusedUnet. A convolution's weight [out, in, k, k] becomes [out, k*k*in]
// (taps outer, channels inner: the order of FusedUnet's gathered rows).
static at::Tensor TapsOuter(const at::Tensor& w) {
  return w.detach().to(at::kFloat).permute({0, 2, 3, 1}).reshape({w.size(0), -1});
}

static std::vector<float> Floats(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

static FusedConv PackMatrix(const at::Tensor& weight /*[out, columns]*/, const at::Tensor& bias,
                            int kernel, int stride, int64_t in, int64_t extra) {
  FusedConv conv;
  const at::Tensor w = weight.contiguous();
  conv.weight = PackedWeight::Pack(w.data_ptr<float>(), w.size(0), w.size(1));
  conv.bias = Floats(bias);
  conv.kernel = kernel;
  conv.stride = stride;
  conv.in = in;
  conv.extra = extra;
  conv.out = w.size(0);
  return conv;
}

static FusedConv PackConv(const nn::Conv2d& conv) {
  const auto& o = conv->options;
  return PackMatrix(TapsOuter(conv->weight), conv->bias, static_cast<int>(o.kernel_size()->at(0)),
                    static_cast<int>(o.stride()->at(0)), o.in_channels(), 0);
}

// An upsampling convolution (nearest x2, then this 3x3 one) as the 2x2 kernels of its four
// output phases (FusedConv::phases): along each axis, phase 0 reads source offsets -1 and 0
// with kernel rows {0} and {1, 2}, phase 1 offsets 0 and +1 with rows {0, 1} and {2}.
static FusedConv PackUpsampleConv(const nn::Conv2d& conv) {
  FusedConv packed;  // no 3x3 weight: only the phases'
  packed.bias = Floats(conv->bias);
  packed.kernel = 3;
  packed.in = conv->options.in_channels();
  packed.out = conv->options.out_channels();
  const at::Tensor w = conv->weight.detach().to(at::kFloat);  // [out, in, 3, 3]
  const auto fold = [](const at::Tensor& t, int64_t dim, int phase) {
    const at::Tensor k0 = t.select(dim, 0), k1 = t.select(dim, 1), k2 = t.select(dim, 2);
    return phase == 0 ? at::stack({k0, k1 + k2}, dim) : at::stack({k0 + k1, k2}, dim);
  };
  for (int py = 0; py < 2; ++py) {
    for (int px = 0; px < 2; ++px) {
      const at::Tensor phase = TapsOuter(fold(fold(w, 2, py), 3, px)).contiguous();
      packed.phases.push_back(
          PackedWeight::Pack(phase.data_ptr<float>(), phase.size(0), phase.size(1)));
    }
  }
  return packed;
}

static FusedConv PackLinear(const nn::Linear& linear) {
  return PackMatrix(linear->weight.detach().to(at::kFloat), linear->bias, 1, 1,
                    linear->options.in_features(), 0);
}

static FusedGroupNorm PackNorm(const nn::GroupNorm& norm) {
  FusedGroupNorm packed;
  packed.weight = Floats(norm->weight);
  packed.bias = Floats(norm->bias);
  packed.groups = norm->options.num_groups();
  packed.eps = static_cast<float>(norm->options.eps());
  return packed;
}

FusedResBlock UnetResBlockImpl::PackFused(int64_t time_offset) const {
  FusedResBlock block;
  block.norm1 = PackNorm(norm1_);
  block.norm2 = PackNorm(norm2_);
  block.conv1 = PackConv(conv1_);
  if (skip_) {
    // conv2 and the 1x1 skip convolution as one product: the skip's input channels are extra
    // columns of conv2's rows, and the two biases one.
    const at::Tensor skip = skip_->weight.detach().to(at::kFloat).flatten(1);  // [out, in]
    block.conv2 = PackMatrix(at::cat({TapsOuter(conv2_->weight), skip}, 1),
                             conv2_->bias.detach() + skip_->bias.detach(), 3, 1,
                             conv2_->options.in_channels(), skip.size(1));
  } else {
    block.conv2 = PackConv(conv2_);
  }
  block.time_offset = time_offset;
  return block;
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

void UnetPatchLayers::EnableFusedInference(bool enable, bool bf16) {
  fused_.reset();
  if (!enable) return;
  torch::NoGradGuard no_grad;
  FusedUnetWeights w;
  w.time_linear_1 = PackLinear(time_embed_->linear_1());
  w.time_linear_2 = PackLinear(time_embed_->linear_2());
  // Every block's time_proj stacked into one product: down blocks, then up blocks.
  std::vector<at::Tensor> time_weights, time_biases;
  int64_t time_offset = 0;
  const auto pack_levels = [&](std::vector<Level>& levels,
                               std::vector<std::vector<FusedResBlock>>* packed) {
    for (Level& level : levels) {
      packed->emplace_back();
      for (UnetResBlock& block : level.res) {
        packed->back().push_back(block->PackFused(time_offset));
        const nn::Linear& proj = block->time_proj();
        time_weights.push_back(proj->weight.detach().to(at::kFloat));
        time_biases.push_back(proj->bias.detach().to(at::kFloat));
        time_offset += proj->options.out_features();
      }
    }
  };
  pack_levels(down_, &w.down);
  pack_levels(up_, &w.up);
  w.time_proj = PackMatrix(at::cat(time_weights, 0), at::cat(time_biases, 0), 1, 1,
                           image_.time_embed_dim, 0);
  w.conv_in = PackConv(conv_in_);
  for (Level& level : down_) {
    if (level.resample) w.downsample.push_back(PackConv(level.resample));
  }
  w.encoder_norm_out = PackNorm(encoder_norm_out_);
  w.proj_out = PackConv(proj_out_);
  w.proj_in = PackConv(proj_in_);
  for (Level& level : up_) {
    w.upsample.push_back(level.resample ? PackUpsampleConv(level.resample) : FusedConv());
  }
  w.decoder_norm_out = PackNorm(decoder_norm_out_);
  w.conv_out = PackConv(conv_out_);
  ModelConfig config;
  config.hidden_size = static_cast<int>(hidden_size_);
  config.image = image_;
  fused_ = std::make_unique<FusedUnet>(config, std::move(w), bf16);
}

// The fused path takes float32 CPU inference; everything else (autograd, autocast's bfloat16,
// another device) the modules.
static bool Fusable(const at::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == at::kFloat && !at::GradMode::is_enabled();
}

at::Tensor UnetPatchLayers::Encode(const at::Tensor& patches, const at::Tensor& timesteps,
                                   PatchContext* context) {
  const int64_t images = patches.size(0);
  if (fused_ && Fusable(patches)) {
    const int64_t n = image_.num_patches();
    TORCH_CHECK(patches.dim() == 3 && patches.size(1) == n &&
                    patches.size(2) == image_.patch_dim(),
                "patches must be [I, ", n, ", ", image_.patch_dim(), "], got ", patches.sizes());
    TORCH_CHECK(timesteps.numel() == images, "one timestep per image: ", timesteps.numel(),
                " for ", images);
    const at::Tensor p = patches.contiguous();
    const at::Tensor t = timesteps.to(at::kFloat).contiguous();
    at::Tensor out = at::empty({images, n, hidden_size_}, p.options());
    context->time_embedding = at::Tensor();
    context->skips.clear();
    context->fused = std::make_shared<FusedUnetActivations>();
    if (images > 0) {
      fused_->Encode(p.data_ptr<float>(), t.data_ptr<float>(), images, out.data_ptr<float>(),
                     context->fused.get());
    }
    return out;
  }
  context->fused.reset();
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
  if (context.fused) {
    TORCH_CHECK(fused_, "a fused U-Net context without the fused layers");
    const int64_t n = image_.num_patches();
    TORCH_CHECK(hidden.dim() == 3 && hidden.size(1) == n && hidden.size(2) == hidden_size_,
                "hidden must be [J, ", n, ", ", hidden_size_, "], got ", hidden.sizes());
    const at::Tensor index = which.to(at::kLong).contiguous();
    TORCH_CHECK(index.dim() == 1 && index.size(0) == images, "which must be [", images, "]");
    const int64_t* rows = index.data_ptr<int64_t>();
    for (int64_t j = 0; j < images; ++j) {
      TORCH_CHECK(rows[j] >= 0 && rows[j] < context.fused->images, "which[", j, "] = ", rows[j],
                  " is not one of the ", context.fused->images, " encoded images");
    }
    const at::Tensor h = hidden.to(at::kFloat).contiguous();
    at::Tensor eps = at::empty({images, n, image_.patch_dim()}, h.options());
    if (images > 0) {
      fused_->Decode(h.data_ptr<float>(), images, rows, *context.fused,
                     eps.data_ptr<float>());
    }
    return eps;
  }
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
