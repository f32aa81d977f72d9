// The CPU fast path of attention over the paged KV cache: plain C++ over raw float buffers,
// OpenMP across work items (a decode query, or a chunk of up to 16 queries of one span, each
// doing all its heads). Scores are vector multiply-adds across key positions, against keys the
// cache stores transposed per block (a span's own keys are transposed once per chunk); values
// are read as whole rows. One call serves every span of a step; LibTorch's dense attention
// (engine/model/attention_backend.h) is its oracle.
//
// Measured on these machines (docs/architecture.md): for decode batches a loop like this beats
// LibTorch's batched matmul over many tiny matrices by ~3x and gather-then-matmul by ~25x.
#ifndef INFUSION_ENGINE_ATTENTION_PAGED_ATTENTION_H_
#define INFUSION_ENGINE_ATTENTION_PAGED_ATTENTION_H_

#include <cstdint>
#include <vector>

namespace infusion::engine {

// One span's queries: packed rows [query_offset, query_offset + num_queries).
struct AttentionSpan {
  int query_offset = 0;
  int num_queries = 0;
  // The span reads cached positions [0, context_len) through block_table, then its own keys.
  int context_len = 0;
  const int32_t* block_table = nullptr;
  // Image index (-1 for text) of each of the span's positions: a query sees a later key of the
  // span only when both belong to the same image.
  const int32_t* image_ids = nullptr;
};

struct PagedAttentionArgs {
  // This step's rows: row r of q holds its heads at q + r * q_row_stride, [num_heads, head_dim]
  // packed; k and v likewise with kv_row_stride ([num_kv_heads, head_dim] packed). The strides
  // let q, k and v be read where the fused [q | k | v] product left them.
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t q_row_stride = 0;   // >= num_heads * head_dim; 0 = exactly that (dense rows)
  int64_t kv_row_stride = 0;  // >= num_kv_heads * head_dim; 0 = exactly that
  // The cache: keys transposed within each block, [num_blocks, num_kv_heads, head_dim,
  // block_size], so that a query scores a block's positions with vector multiply-adds; values
  // as rows, [num_blocks, block_size, num_kv_heads, head_dim].
  const float* k_cache = nullptr;
  const float* v_cache = nullptr;
  float* out = nullptr;            // [T, num_heads, head_dim]
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 0;
  float scale = 1.0f;  // usually 1 / sqrt(head_dim)
};

void PagedAttention(const PagedAttentionArgs& args, const std::vector<AttentionSpan>& spans);

// One thread's buffers: the V rows a query sees, the scores of every query head and, for chunks
// of multi-query spans, the keys transposed per KV head. Kept across steps by a caller that runs
// its own threads, so that steady steps allocate nothing.
struct PagedAttentionScratch {
  std::vector<const float*> values;
  std::vector<float> scores;  // [num_heads, stride]
  std::vector<float> keys_t;  // [num_kv_heads, head_dim, stride]
  int stride = 0;             // max keys of the step, rounded up to whole vectors
};

// PagedAttention split into work items (a decode query, or up to 16 queries of one span) for
// threads the caller already runs (the fused decoder stack, engine/model/fused_decoder.h, runs
// a whole step in one parallel region): Plan once per step; then, in every layer, each thread
// prepares its scratch and runs the items it claims. Items are independent of the layer.
class PagedAttentionWork {
 public:
  // args: only num_heads, num_kv_heads and head_dim are read.
  void Plan(const PagedAttentionArgs& args, const std::vector<AttentionSpan>& spans);
  int64_t num_items() const { return static_cast<int64_t>(items_.size()); }
  // Multiply-adds of the step (query-key pairs x heads x head_dim).
  int64_t work() const { return work_; }
  // Grows `scratch` to this step's sizes (no allocation when it is already large enough).
  void Prepare(const PagedAttentionArgs& args, PagedAttentionScratch* scratch) const;
  // args: with explicit row strides (not 0).
  void RunItem(const PagedAttentionArgs& args, const std::vector<AttentionSpan>& spans,
               int64_t item, PagedAttentionScratch* scratch) const;

 private:
  struct Item {
    int span;
    int query_begin;
    int query_end;
  };
  std::vector<Item> items_;
  bool has_chunks_ = false;
  int stride_ = 0;
  int64_t work_ = 0;
};

// Copies rows of k and v (row r at k + r * row_stride, [num_kv_heads, head_dim] packed) into
// cache slots in the layouts above: row rows[i] goes to slot slots[i] (slot = block * block_size
// + offset).
void WriteKvCache(const float* k, const float* v, int64_t row_stride,
                  const std::vector<int32_t>& rows, const std::vector<int64_t>& slots,
                  int num_kv_heads, int head_dim, int block_size, float* k_cache,
                  float* v_cache);

// WriteKvCache of one row: k and v ([num_kv_heads, head_dim] packed) to cache slot `slot`.
void WriteKvCacheRow(const float* k, const float* v, int64_t slot, int num_kv_heads, int head_dim,
                     int block_size, float* k_cache, float* v_cache);

// Copies whole blocks (copy-on-write): dst = src, for K and V.
void CopyKvBlock(int32_t src, int32_t dst, int64_t block_elements, float* k_cache, float* v_cache);

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_ATTENTION_PAGED_ATTENTION_H_
