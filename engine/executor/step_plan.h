// The contract between the scheduler (what to run) and the executor (how to run it): one engine
// step is one forward pass over a ragged batch of spans. Torch-free, so the scheduler and its
// tests never see a tensor.
//
//   kind     queries                       attends to                   writes K/V  output
//   prefill  next chunk of a prompt        cache prefix + chunk (mask)  yes         logits of last position (if asked)
//   decode   1 token                       cache prefix + itself        yes         logits
//   denoise  the n noisy patches of an     cache prefix + all n patches no          predicted noise
//            image at timestep t
//   commit   the n clean patches (t = 0)   cache prefix + the span      yes         logits after <eoi> (if asked)
//            and <eoi>
//
// Inside a span the Transfusion mask applies: causal, bidirectional within each image. A span
// never splits an image. With classifier-free guidance a denoise step is two spans of one request
// (conditional and unconditional prefix), each with its own block table.
#ifndef INFUSION_ENGINE_EXECUTOR_STEP_PLAN_H_
#define INFUSION_ENGINE_EXECUTOR_STEP_PLAN_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace infusion::engine {

enum class SpanKind { kPrefill, kDecode, kDenoise, kCommit };
const char* SpanKindName(SpanKind kind);

// One image inside a span: patches [first_patch, n) occupy span positions
// [offset, offset + n - first_patch). first_patch > 0 when the image's head is already in the
// cache (a prefix-cache hit that ends inside the image); the encoder still sees every patch.
struct SpanImage {
  int offset = 0;               // span position of patch `first_patch`
  int first_patch = 0;
  const float* patches = nullptr;  // [n, patch_dim] normalised latent patches (not owned; valid
                                   // for the duration of Execute)
  float timestep = 0.0f;        // diffusion timestep of the patches (0 = clean)
  bool predict_noise = false;   // return this image's predicted noise
};

struct Span {
  SpanKind kind = SpanKind::kPrefill;
  int64_t seq_id = 0;  // the caller's id for this row; results are in span order anyway
  // Denoise spans: the unconditional (classifier-free guidance) row of the image, which follows
  // its conditional row in the plan.
  bool guidance_row = false;
  // Sequence position (RoPE index) of the span's first query; the span attends to the cached
  // positions [0, start_position) of its block table, then to itself.
  int start_position = 0;
  // Token id of each span position; image positions hold any valid id (ignored).
  std::vector<int32_t> tokens;
  std::vector<SpanImage> images;
  std::vector<int32_t> block_table;  // blocks of the sequence, covering every read and write
  // Cache slot of each span position, to write its K/V; empty for a span that writes nothing
  // (denoise).
  std::vector<int64_t> slots;
  bool want_logits = false;  // logits of the span's last position

  int num_positions() const { return static_cast<int>(tokens.size()); }
};

struct StepPlan {
  std::vector<Span> spans;
  // Whole-block copies (copy-on-write) to perform before anything is written: {src, dst}.
  std::vector<std::pair<int32_t, int32_t>> block_copies;

  int num_positions() const {
    int n = 0;
    for (const Span& s : spans) n += s.num_positions();
    return n;
  }
};

// What one span produced.
struct SpanResult {
  absl::Status status;        // not OK when this span failed (others may have succeeded)
  std::vector<float> logits;  // [vocab] when want_logits
  // [n * patch_dim] per image with predict_noise, in the span's image order.
  std::vector<std::vector<float>> eps;
};

struct StepResult {
  std::vector<SpanResult> spans;  // one per plan span, same order
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_EXECUTOR_STEP_PLAN_H_
