// Nearest neighbours by Euclidean distance among a fixed set of vectors: the emoji benchmark's
// retrieval, where the vectors are the normalised latents of every dataset image. A linear scan:
// a few thousand vectors of a few thousand floats take milliseconds per query.
#ifndef INFUSION_CLIENTS_EVAL_LATENT_INDEX_H_
#define INFUSION_CLIENTS_EVAL_LATENT_INDEX_H_

#include <vector>

namespace infusion::eval {

class LatentIndex {
 public:
  explicit LatentIndex(int dim) : dim_(dim) {}

  // vector: [dim]. Returns its index.
  int Add(const std::vector<float>& vector);
  int size() const { return static_cast<int>(vectors_.size() / dim_); }
  int dim() const { return dim_; }

  // How many stored vectors lie strictly closer to `query` than vector `target` does: 0 when
  // `target` is a nearest neighbour (ties count in its favour), so top-k holds when rank < k.
  int RankOf(const std::vector<float>& query, int target) const;
  // The indices of the `k` nearest vectors, nearest first (ties by index).
  std::vector<int> Nearest(const std::vector<float>& query, int k) const;

 private:
  std::vector<double> SquaredDistances(const std::vector<float>& query) const;

  int dim_;
  std::vector<float> vectors_;  // [size, dim]
};

}  // namespace infusion::eval

#endif  // INFUSION_CLIENTS_EVAL_LATENT_INDEX_H_
