#include "engine/model/fused_unet.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "engine/kernels/cpu_features.h"
#include "engine/kernels/phase_timer.h"
#include "engine/kernels/spin_barrier.h"
#include "engine/kernels/vector_math.h"

namespace infusion::engine {
namespace {

constexpr int64_t kTileRows = 6;    // rows of PackedProduct's register tile
constexpr int64_t kChunkRows = 48;  // rows gathered at a time by one thread (8 tiles)
constexpr int64_t kWidth = PackedWeight::kPanelWidth;

// y[c] = silu(v[c] * scale[c] + shift[c]): a normalised row. The AVX2 copy runs 8 lanes where
// the build's baseline (x86-64-v2) runs 4; GroupNorm + SiLU is otherwise bound by the sigmoid's
// division.
__attribute__((target("avx2,fma"))) void SiluAffineAvx2(const float* v, const float* scale,
                                                        const float* shift, float* y, int64_t n) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) y[c] = FastSilu(v[c] * scale[c] + shift[c]);
}

void SiluAffinePortable(const float* v, const float* scale, const float* shift, float* y,
                        int64_t n) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) y[c] = FastSilu(v[c] * scale[c] + shift[c]);
}

void SiluAffine(const float* v, const float* scale, const float* shift, float* y, int64_t n) {
  (DetectCpuFeatures().avx2_fma ? SiluAffineAvx2 : SiluAffinePortable)(v, scale, shift, y, n);
}

}  // namespace

// Activations of `images` images, channels last: position p of image i starts at
// data + (i * positions + p) * channels. An absent source has no data and no channels.
struct FusedUnet::Source {
  const float* data = nullptr;
  int64_t channels = 0;
};

// One thread's view of a pass: its index, the team's size, and the end of its phases.
class FusedUnet::Team {
 public:
  Team(int thread, int threads, SpinBarrier& barrier, FusedUnet& owner)
      : thread(thread),
        threads(threads),
        phases_(barrier, owner.timing_ && thread == 0 ? &owner.times_ : nullptr) {}

  // [begin, end) of n items for this thread.
  std::pair<int64_t, int64_t> Share(int64_t n) const {
    return {n * thread / threads, n * (thread + 1) / threads};
  }
  // Waits for every thread; with timing on, thread 0 books the phase.
  void EndPhase(bool product) { phases_.EndPhase(product); }
  // A wait inside a phase.
  void Wait() { phases_.Wait(); }

  const int thread, threads;

 private:
  PhaseTimer phases_;
};

FusedUnet::FusedUnet(const ModelConfig& config, FusedUnetWeights weights, bool bf16)
    : image_(config.image), hidden_(config.hidden_size), w_(std::move(weights)), bf16_(bf16) {
  max_channels_ = std::max<int64_t>(hidden_, image_.latent_channels);
  const auto conv = [&](FusedConv& c) {
    max_channels_ = std::max({max_channels_, c.in, c.extra, c.out});
    max_gather_ = std::max(max_gather_, c.kernel * c.kernel * c.in + c.extra);
    if (!bf16_) return;
    if (!c.weight.empty()) c.weight.AddBf16Panels();
    for (PackedWeight& phase : c.phases) phase.AddBf16Panels();
  };
  const auto norm = [&](const FusedGroupNorm& n) {
    max_channels_ = std::max<int64_t>(max_channels_, static_cast<int64_t>(n.weight.size()));
  };
  for (auto* levels : {&w_.down, &w_.up}) {
    for (std::vector<FusedResBlock>& level : *levels) {
      for (FusedResBlock& b : level) {
        norm(b.norm1);
        norm(b.norm2);
        conv(b.conv1);
        conv(b.conv2);
      }
    }
  }
  for (auto* resample : {&w_.downsample, &w_.upsample}) {
    for (FusedConv& c : *resample) conv(c);
  }
  for (FusedConv* c : {&w_.conv_in, &w_.proj_out, &w_.proj_in, &w_.conv_out}) conv(*c);
  norm(w_.encoder_norm_out);
  norm(w_.decoder_norm_out);
  // The timestep MLP's products (rows of timesteps, not positions: they size no activation).
  int64_t widest = std::max(max_gather_, max_channels_);
  for (FusedConv* c : {&w_.time_linear_1, &w_.time_linear_2, &w_.time_proj}) {
    widest = std::max(widest, c->in);
    if (bf16_) c->weight.AddBf16Panels();
  }
  ld_bf16_ = (widest + 1) / 2 * 2;
}

void FusedUnet::Multiply(const float* left, int64_t rows, int64_t ld, const PackedWeight& w,
                         int64_t p0, int64_t p1, float* y, int64_t ldy, ProductEpilogue epilogue,
                         uint16_t* scratch) const {
  if (!bf16_) {
    PackedProduct(left, rows, ld, w, p0, p1, y, ldy, epilogue);
    return;
  }
  ConvertRowsToBf16(left, rows, ld, w.in(), scratch, ld_bf16_);
  PackedProductBf16(scratch, rows, ld_bf16_, w, p0, p1, y, ldy, epilogue);
}

FusedUnet::~FusedUnet() = default;

void FusedUnet::Reserve(int64_t images, int threads) {
  if (threads > capacity_threads_) {
    capacity_threads_ = threads;
    shared_gather_.resize(2 * kTileRows * threads * max_gather_);
    thread_gather_.resize(threads);
    for (std::vector<float>& g : thread_gather_) g.resize(kChunkRows * max_gather_);
    thread_out_.resize(threads);
    for (std::vector<float>& o : thread_out_) o.resize(kChunkRows * max_channels_);
    if (bf16_) {
      shared_bf16_.resize(2 * kTileRows * threads * ld_bf16_);
      thread_bf16_.resize(threads);
      for (std::vector<uint16_t>& b : thread_bf16_) b.resize(kChunkRows * ld_bf16_);
    }
  }
  if (images <= capacity_images_) return;
  capacity_images_ = images;
  const int64_t side = image_.latent_size;
  buffers_.resize(4);
  for (std::vector<float>& b : buffers_) b.resize(images * side * side * max_channels_);
  features_.resize(images * 2 * (image_.time_frequency_dim / 2));
  time_hidden_.resize(images * w_.time_linear_1.out);
  time_silu_.resize(images * w_.time_linear_2.out);
  gathered_time_.resize(images * w_.time_proj.out);
  gathered_skips_.clear();
  int64_t level_side = side;
  for (size_t l = 0; l < w_.down.size(); ++l) {
    const int64_t channels = w_.down[l].empty() ? 0 : w_.down[l].back().conv2.out;
    for (size_t b = 0; b < w_.down[l].size(); ++b) {
      gathered_skips_.emplace_back(images * level_side * level_side * channels);
    }
    level_side /= 2;
  }
}

template <typename Body>
void FusedUnet::RunTeam(int threads, Body body) {
  SpinBarrier barrier(threads);
  if (threads == 1) {
    Team team(0, 1, barrier, *this);
    body(team);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    if (omp_get_num_threads() == threads) {
      Team team(omp_get_thread_num(), threads, barrier, *this);
      body(team);
    } else if (omp_get_thread_num() == 0) {  // a smaller team than asked: one thread does it all
      SpinBarrier alone(1);
      Team team(0, 1, alone, *this);
      body(team);
    }
  }
}

static int TeamSize() { return omp_in_parallel() ? 1 : std::max(1, omp_get_max_threads()); }

void FusedUnet::Encode(const float* patches, const float* timesteps, int64_t images, float* out,
                       FusedUnetActivations* activations) {
  const int threads = TeamSize();
  Reserve(images, threads);
  activations->images = images;
  const int64_t time_width = w_.time_proj.out;
  activations->time.resize(images * time_width);
  // Which timesteps need the MLP: those neither cached nor already listed.
  new_timesteps_.clear();
  std::vector<int64_t> new_row(images, -1);
  time_rows_.assign(images, nullptr);
  for (int64_t i = 0; i < images; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &timesteps[i], sizeof(bits));
    const auto cached = time_cache_.find(bits);
    if (cached != time_cache_.end()) {
      time_rows_[i] = cached->second.data();
      continue;
    }
    const auto listed = std::find_if(new_timesteps_.begin(), new_timesteps_.end(), [&](float t) {
      return std::memcmp(&t, &timesteps[i], sizeof(t)) == 0;
    });
    new_row[i] = listed - new_timesteps_.begin();
    if (listed == new_timesteps_.end()) new_timesteps_.push_back(timesteps[i]);
  }
  new_time_.resize(new_timesteps_.size() * time_width);
  for (int64_t i = 0; i < images; ++i) {
    if (new_row[i] >= 0) time_rows_[i] = new_time_.data() + new_row[i] * time_width;
  }
  activations->skips.resize(gathered_skips_.size());
  for (size_t k = 0; k < gathered_skips_.size(); ++k) {
    activations->skips[k].resize(gathered_skips_[k].size() / capacity_images_ * images);
  }
  RunTeam(threads, [&](Team& team) { RunEncode(team, patches, images, out, activations); });
  if (time_cache_.size() + new_timesteps_.size() > kTimeCacheEntries) time_cache_.clear();
  for (size_t k = 0; k < new_timesteps_.size(); ++k) {
    uint32_t bits;
    std::memcpy(&bits, &new_timesteps_[k], sizeof(bits));
    const float* row = new_time_.data() + k * time_width;
    time_cache_[bits].assign(row, row + time_width);
  }
}

void FusedUnet::Decode(const float* hidden, int64_t rows, const int64_t* which,
                       const FusedUnetActivations& activations, float* eps) {
  const int threads = TeamSize();
  Reserve(rows, threads);
  RunTeam(threads,
          [&](Team& team) { RunDecode(team, hidden, rows, which, activations, eps); });
}

void FusedUnet::RunEncode(Team& team, const float* patches, int64_t images, float* out,
                          FusedUnetActivations* activations) {
  const int64_t side = image_.latent_size, p = image_.patch_size, grid = image_.grid_size();
  const int64_t channels = image_.latent_channels, patch_dim = image_.patch_dim();
  const int64_t positions = side * side;

  // The sinusoidal features of each new timestep, in the float32 operations of
  // TimestepEmbedding.
  const int64_t fresh = static_cast<int64_t>(new_timesteps_.size());
  const int64_t half = image_.time_frequency_dim / 2;
  const float step = static_cast<float>(-std::log(10000.0) / static_cast<double>(half));
  const auto [fresh_begin, fresh_end] = team.Share(fresh);
  for (int64_t i = fresh_begin; i < fresh_end; ++i) {
    float* f = features_.data() + i * 2 * half;
    for (int64_t k = 0; k < half; ++k) {
      const float angle = new_timesteps_[i] * std::exp(static_cast<float>(k) * step);
      f[k] = std::cos(angle);
      f[half + k] = std::sin(angle);
    }
  }
  // The latents of each image, channels last: cell (y, x) = (gy * p + py, gx * p + px) is
  // feature c * p * p + py * p + px of patch gy * grid + gx.
  float* z = buffers_[0].data();
  const auto [cell_begin, cell_end] = team.Share(images * positions);
  for (int64_t r = cell_begin; r < cell_end; ++r) {
    const int64_t i = r / positions, y = r % positions / side, x = r % side;
    const float* patch = patches + (i * grid * grid + (y / p) * grid + x / p) * patch_dim;
    const int64_t cell = (y % p) * p + x % p;
    for (int64_t c = 0; c < channels; ++c) z[r * channels + c] = patch[c * p * p + cell];
  }
  team.EndPhase(/*product=*/false);

  const Source none;
  if (fresh > 0) {
    Convolve(team, w_.time_linear_1, fresh, 1, {features_.data(), 2 * half}, none, none, false,
             time_hidden_.data(), nullptr, 0, nullptr, /*silu=*/true);
    // Only silu(temb) is used: by every block's time_proj.
    Convolve(team, w_.time_linear_2, fresh, 1, {time_hidden_.data(), w_.time_linear_1.out},
             none, none, false, time_silu_.data(), nullptr, 0, nullptr, /*silu=*/true);
    Convolve(team, w_.time_proj, fresh, 1, {time_silu_.data(), w_.time_linear_2.out}, none,
             none, false, new_time_.data(), nullptr, 0, nullptr, false);
  }
  // Each image's projections, for its blocks and for the decoder (visible to all after the
  // barrier that ends conv_in).
  const int64_t time_width = w_.time_proj.out;
  const auto [image_begin, image_end] = team.Share(images);
  for (int64_t i = image_begin; i < image_end; ++i) {
    std::memcpy(activations->time.data() + i * time_width, time_rows_[i],
                time_width * sizeof(float));
  }

  int64_t level_side = side;
  Convolve(team, w_.conv_in, images, level_side, {z, channels}, none, none, false,
           buffers_[1].data(), nullptr, 0, nullptr, false);
  Source x{buffers_[1].data(), w_.conv_in.out};
  size_t skip = 0;
  for (size_t l = 0; l < w_.down.size(); ++l) {
    for (const FusedResBlock& block : w_.down[l]) {
      float* y = activations->skips[skip++].data();
      ResBlock(team, block, images, level_side, x, none,
               activations->time.data() + block.time_offset, y);
      x = {y, block.conv2.out};
    }
    if (l + 1 < w_.down.size()) {
      Convolve(team, w_.downsample[l], images, level_side, x, none, none, false,
               buffers_[1].data(), nullptr, 0, nullptr, false);
      x = {buffers_[1].data(), w_.downsample[l].out};
      level_side /= 2;
    }
  }
  GroupNormSilu(team, w_.encoder_norm_out, images, level_side * level_side, x, none,
                buffers_[2].data());
  Convolve(team, w_.proj_out, images, level_side, {buffers_[2].data(), x.channels}, none, none,
           false, out, nullptr, 0, nullptr, false);
}

void FusedUnet::RunDecode(Team& team, const float* hidden, int64_t rows, const int64_t* which,
                          const FusedUnetActivations& activations, float* eps) {
  const int64_t side = image_.latent_size, p = image_.patch_size, grid = image_.grid_size();
  const int64_t channels = image_.latent_channels, patch_dim = image_.patch_dim();
  const int64_t time_width = w_.time_proj.out;

  // Each row's skips and timestep projections, from its encoded image.
  const auto [row_begin, row_end] = team.Share(rows);
  for (int64_t j = row_begin; j < row_end; ++j) {
    for (size_t k = 0; k < gathered_skips_.size(); ++k) {
      const int64_t size = static_cast<int64_t>(activations.skips[k].size()) / activations.images;
      std::memcpy(gathered_skips_[k].data() + j * size,
                  activations.skips[k].data() + which[j] * size, size * sizeof(float));
    }
    std::memcpy(gathered_time_.data() + j * time_width,
                activations.time.data() + which[j] * time_width, time_width * sizeof(float));
  }
  const Source none;
  int64_t level_side = grid;
  float* h = buffers_[0].data();
  float* other = buffers_[1].data();
  // hidden is [rows, n, hidden]: channels last on the patch grid already.
  Convolve(team, w_.proj_in, rows, level_side, {hidden, hidden_}, none, none, false, h, nullptr,
           0, nullptr, false);
  int64_t h_channels = w_.proj_in.out;
  size_t skip = gathered_skips_.size();
  for (int64_t l = static_cast<int64_t>(w_.up.size()) - 1; l >= 0; --l) {
    for (const FusedResBlock& block : w_.up[l]) {
      --skip;
      const int64_t skip_channels = block.conv1.in - h_channels;
      ResBlock(team, block, rows, level_side, {h, h_channels},
               {gathered_skips_[skip].data(), skip_channels},
               gathered_time_.data() + block.time_offset, other);
      std::swap(h, other);
      h_channels = block.conv2.out;
    }
    if (l > 0) {
      if (w_.upsample[l].phases.empty()) {
        Convolve(team, w_.upsample[l], rows, level_side, {h, h_channels}, none, none,
                 /*upsample=*/true, other, nullptr, 0, nullptr, false);
      } else {
        ConvolveUpsampled(team, w_.upsample[l], rows, level_side, {h, h_channels}, other);
      }
      std::swap(h, other);
      h_channels = w_.upsample[l].out;
      level_side *= 2;
    }
  }
  const int64_t positions = level_side * level_side;
  GroupNormSilu(team, w_.decoder_norm_out, rows, positions, {h, h_channels}, none,
                buffers_[2].data());
  float* noise = buffers_[3].data();
  Convolve(team, w_.conv_out, rows, level_side, {buffers_[2].data(), h_channels}, none, none,
           false, noise, nullptr, 0, nullptr, false);
  // Patchify: feature c * p * p + py * p + px of patch (gy, gx) is cell (gy * p + py, gx * p + px).
  const auto [cell_begin, cell_end] = team.Share(rows * positions);
  for (int64_t r = cell_begin; r < cell_end; ++r) {
    const int64_t j = r / positions, y = r % positions / side, x = r % side;
    float* patch = eps + (j * grid * grid + (y / p) * grid + x / p) * patch_dim;
    const int64_t cell = (y % p) * p + x % p;
    for (int64_t c = 0; c < channels; ++c) patch[c * p * p + cell] = noise[r * channels + c];
  }
  team.EndPhase(/*product=*/false);
}

void FusedUnet::ResBlock(Team& team, const FusedResBlock& block, int64_t images, int64_t side,
                         const Source& x, const Source& s, const float* time, float* out) {
  const Source none;
  float* normed = buffers_[2].data();
  float* h = buffers_[3].data();
  GroupNormSilu(team, block.norm1, images, side * side, x, s, normed);
  Convolve(team, block.conv1, images, side, {normed, x.channels + s.channels}, none, none, false,
           h, time, w_.time_proj.out, nullptr, false);
  GroupNormSilu(team, block.norm2, images, side * side, {h, block.conv1.out}, none, normed);
  // The skip path: a 1x1 convolution of cat(x, s) as extra columns, or x itself.
  const bool skip_conv = block.conv2.extra > 0;
  Convolve(team, block.conv2, images, side, {normed, block.conv1.out}, skip_conv ? x : none,
           skip_conv ? s : none, false, out, nullptr, 0, skip_conv ? nullptr : x.data, false);
}

void FusedUnet::Convolve(Team& team, const FusedConv& conv, int64_t images, int64_t side,
                         const Source& x, const Source& extra1, const Source& extra2,
                         bool upsample, float* y, const float* per_image, int64_t per_image_ld,
                         const float* residual, bool silu) {
  const int64_t in_side = upsample ? 2 * side : side, pad = conv.kernel / 2;
  const int64_t out_side = (in_side + 2 * pad - conv.kernel) / conv.stride + 1;
  const int64_t positions = out_side * out_side, rows = images * positions;
  const int64_t gather_width = conv.kernel * conv.kernel * conv.in + conv.extra;
  const bool direct = conv.kernel == 1 && conv.stride == 1 && !upsample && conv.extra == 0;
  const int64_t out = conv.out;

  // Row r of the product's left side: the taps of output position r (zero outside the input,
  // the nearest cell of the x2 upsampled input), then the extra channels at the position.
  const auto gather = [&](int64_t r, float* dst) {
    const int64_t i = r / positions, oy = r % positions / out_side, ox = r % out_side;
    const float* image = x.data + i * side * side * x.channels;
    for (int64_t ky = 0; ky < conv.kernel; ++ky) {
      const int64_t iy = oy * conv.stride + ky - pad;
      for (int64_t kx = 0; kx < conv.kernel; ++kx, dst += conv.in) {
        const int64_t ix = ox * conv.stride + kx - pad;
        if (iy < 0 || iy >= in_side || ix < 0 || ix >= in_side) {
          std::memset(dst, 0, conv.in * sizeof(float));
          continue;
        }
        const int64_t cell = upsample ? (iy / 2) * side + ix / 2 : iy * side + ix;
        std::memcpy(dst, image + cell * x.channels, conv.in * sizeof(float));
      }
    }
    for (const Source* e : {&extra1, &extra2}) {
      if (e->channels == 0) continue;
      std::memcpy(dst, e->data + r * e->channels, e->channels * sizeof(float));
      dst += e->channels;
    }
  };
  // Rows [r0, r1), columns [c0, c1) of y: the bias, each image's vector, the residual; the
  // product then adds into them.
  const auto prefill = [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* yr = y + r * out;
      const float* v = per_image ? per_image + (r / positions) * per_image_ld : nullptr;
      const float* res = residual ? residual + r * out : nullptr;
      for (int64_t c = c0; c < c1; ++c) {
        float value = conv.bias[c];
        if (v) value += v[c];
        if (res) value += res[c];
        yr[c] = value;
      }
    }
  };
  const auto finish = [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    if (!silu) return;
    for (int64_t r = r0; r < r1; ++r) {
      float* yr = y + r * out;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) yr[c] = FastSilu(yr[c]);
    }
  };

  const int64_t tiles = (rows + kTileRows - 1) / kTileRows;
  if (tiles >= 2 * team.threads) {
    // Enough rows for every thread: each gathers and multiplies its own rows, by chunks that
    // stay in its cache, against every panel.
    const auto [t0, t1] = team.Share(tiles);
    const int64_t r_end = std::min(rows, t1 * kTileRows);
    float* scratch = thread_gather_[team.thread].data();
    for (int64_t r0 = t0 * kTileRows; r0 < r_end; r0 += kChunkRows) {
      const int64_t r1 = std::min(r_end, r0 + kChunkRows);
      const float* left = x.data + r0 * x.channels;
      int64_t ld = x.channels;
      if (!direct) {
        for (int64_t r = r0; r < r1; ++r) gather(r, scratch + (r - r0) * gather_width);
        left = scratch;
        ld = gather_width;
      }
      prefill(r0, r1, 0, out);
      Multiply(left, r1 - r0, ld, conv.weight, 0, conv.weight.panels(), y + r0 * out, out,
               ProductEpilogue::kAccumulate, thread_bf16_.empty() ? nullptr
                                                                  : thread_bf16_[team.thread].data());
      finish(r0, r1, 0, out);
    }
  } else {
    // A few rows: gather them once, together, and split the panels.
    const float* left = x.data;
    int64_t ld = x.channels;
    const auto [r0, r1] = team.Share(rows);
    if (!direct) {
      for (int64_t r = r0; r < r1; ++r) gather(r, shared_gather_.data() + r * gather_width);
      left = shared_gather_.data();
      ld = gather_width;
    }
    if (bf16_) {  // each thread rounds its share of the rows
      ConvertRowsToBf16(left + r0 * ld, r1 - r0, ld, conv.weight.in(),
                        shared_bf16_.data() + r0 * ld_bf16_, ld_bf16_);
    }
    if (!direct || bf16_) team.Wait();
    const auto [p0, p1] = team.Share(conv.weight.panels());
    const int64_t c0 = std::min(out, p0 * kWidth), c1 = std::min(out, p1 * kWidth);
    prefill(0, rows, c0, c1);
    if (bf16_) {
      PackedProductBf16(shared_bf16_.data(), rows, ld_bf16_, conv.weight, p0, p1, y, out,
                        ProductEpilogue::kAccumulate);
    } else {
      PackedProduct(left, rows, ld, conv.weight, p0, p1, y, out, ProductEpilogue::kAccumulate);
    }
    finish(0, rows, c0, c1);
  }
  team.EndPhase(/*product=*/true);
}

void FusedUnet::ConvolveUpsampled(Team& team, const FusedConv& conv, int64_t images,
                                  int64_t side, const Source& x, float* y) {
  const int64_t positions = side * side, rows = images * positions, out = conv.out;
  const int64_t out_side = 2 * side, gather_width = 4 * conv.in;
  // Each thread takes source rows (and so the 4 output cells of each), by chunks; per phase, it
  // gathers the 2x2 taps, multiplies, and places the results with the bias.
  const int64_t tiles = (rows + kTileRows - 1) / kTileRows;
  const auto [t0, t1] = team.Share(tiles);
  const int64_t r_end = std::min(rows, t1 * kTileRows);
  float* gathered = thread_gather_[team.thread].data();
  float* product = thread_out_[team.thread].data();
  for (int64_t r0 = t0 * kTileRows; r0 < r_end; r0 += kChunkRows) {
    const int64_t r1 = std::min(r_end, r0 + kChunkRows);
    for (int phase = 0; phase < 4; ++phase) {
      const int64_t py = phase / 2, px = phase % 2;
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t i = r / positions, sy = r % positions / side, sx = r % side;
        const float* image = x.data + i * positions * x.channels;
        float* dst = gathered + (r - r0) * gather_width;
        for (int64_t a = 0; a < 2; ++a) {
          const int64_t iy = sy + py - 1 + a;
          for (int64_t b = 0; b < 2; ++b, dst += conv.in) {
            const int64_t ix = sx + px - 1 + b;
            if (iy < 0 || iy >= side || ix < 0 || ix >= side) {
              std::memset(dst, 0, conv.in * sizeof(float));
            } else {
              std::memcpy(dst, image + (iy * side + ix) * x.channels, conv.in * sizeof(float));
            }
          }
        }
      }
      const PackedWeight& w = conv.phases[phase];
      Multiply(gathered, r1 - r0, gather_width, w, 0, w.panels(), product, out,
               ProductEpilogue::kStore,
               thread_bf16_.empty() ? nullptr : thread_bf16_[team.thread].data());
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t i = r / positions, sy = r % positions / side, sx = r % side;
        const float* p = product + (r - r0) * out;
        float* cell = y + ((i * out_side + 2 * sy + py) * out_side + 2 * sx + px) * out;
        for (int64_t c = 0; c < out; ++c) cell[c] = p[c] + conv.bias[c];
      }
    }
  }
  team.EndPhase(/*product=*/true);
}

void FusedUnet::GroupNormSilu(Team& team, const FusedGroupNorm& norm, int64_t images,
                              int64_t positions, const Source& a, const Source& b, float* out) {
  const int64_t channels = a.channels + b.channels;
  const int64_t group_size = channels / norm.groups;
  // Items: an image and a run of whole groups, so that one image's groups spread over the team
  // and every pass below sweeps contiguous channels of each position.
  const int64_t runs = std::min<int64_t>(norm.groups, team.threads);
  const auto [begin, end] = team.Share(images * runs);
  std::vector<double> sum(channels), squares(channels);
  std::vector<float> partial(channels), mean(channels), scale(channels), shift(channels);
  for (int64_t item = begin; item < end; ++item) {
    const int64_t i = item / runs, run = item % runs;
    const int64_t c0 = norm.groups * run / runs * group_size;
    const int64_t c1 = norm.groups * (run + 1) / runs * group_size;
    // Channels [c0, c1) of position q as at most two pieces, one per source of the
    // concatenation: (values of channel `first`.., width, first).
    const auto pieces = [&](int64_t q, auto&& visit) {
      if (c0 < a.channels) {
        visit(a.data + (i * positions + q) * a.channels + c0, std::min(c1, a.channels) - c0, c0);
      }
      if (c1 > a.channels) {
        const int64_t start = std::max(c0, a.channels);
        visit(b.data + (i * positions + q) * b.channels + (start - a.channels), c1 - start,
              start);
      }
    };
    // Two passes: each group's mean, then its (biased) variance about the mean. Per channel,
    // float sums over blocks of positions (vector adds over contiguous channels) flushed into
    // double.
    constexpr int64_t kBlock = 64;
    std::fill(sum.begin() + c0, sum.begin() + c1, 0.0);
    std::fill(squares.begin() + c0, squares.begin() + c1, 0.0);
    for (int64_t q0 = 0; q0 < positions; q0 += kBlock) {
      std::fill(partial.begin() + c0, partial.begin() + c1, 0.0f);
      for (int64_t q = q0; q < std::min(positions, q0 + kBlock); ++q) {
        pieces(q, [&](const float* v, int64_t width, int64_t first) {
          float* s = partial.data() + first;
#pragma omp simd
          for (int64_t c = 0; c < width; ++c) s[c] += v[c];
        });
      }
      for (int64_t c = c0; c < c1; ++c) sum[c] += partial[c];
    }
    const double count = static_cast<double>(positions * group_size);
    for (int64_t g0 = c0; g0 < c1; g0 += group_size) {
      double total = 0;
      for (int64_t c = g0; c < g0 + group_size; ++c) total += sum[c];
      for (int64_t c = g0; c < g0 + group_size; ++c) mean[c] = static_cast<float>(total / count);
    }
    for (int64_t q0 = 0; q0 < positions; q0 += kBlock) {
      std::fill(partial.begin() + c0, partial.begin() + c1, 0.0f);
      for (int64_t q = q0; q < std::min(positions, q0 + kBlock); ++q) {
        pieces(q, [&](const float* v, int64_t width, int64_t first) {
          float* s = partial.data() + first;
          const float* m = mean.data() + first;
#pragma omp simd
          for (int64_t c = 0; c < width; ++c) {
            const float d = v[c] - m[c];
            s[c] += d * d;
          }
        });
      }
      for (int64_t c = c0; c < c1; ++c) squares[c] += partial[c];
    }
    for (int64_t g0 = c0; g0 < c1; g0 += group_size) {
      double total = 0;
      for (int64_t c = g0; c < g0 + group_size; ++c) total += squares[c];
      const double rstd = 1.0 / std::sqrt(total / count + norm.eps);
      for (int64_t c = g0; c < g0 + group_size; ++c) {
        scale[c] = static_cast<float>(rstd * norm.weight[c]);
        shift[c] = static_cast<float>(norm.bias[c] - mean[c] * rstd * norm.weight[c]);
      }
    }
    for (int64_t q = 0; q < positions; ++q) {
      float* o = out + (i * positions + q) * channels;
      pieces(q, [&](const float* v, int64_t width, int64_t first) {
        SiluAffine(v, scale.data() + first, shift.data() + first, o + first, width);
      });
    }
  }
  team.EndPhase(/*product=*/false);
}

}  // namespace infusion::engine
