#include "clients/eval/latent_index.h"

#include <algorithm>
#include <numeric>

#include "common/logging.h"

namespace infusion::eval {

int LatentIndex::Add(const std::vector<float>& vector) {
  CHECK_EQ(static_cast<int>(vector.size()), dim_);
  vectors_.insert(vectors_.end(), vector.begin(), vector.end());
  return size() - 1;
}

std::vector<double> LatentIndex::SquaredDistances(const std::vector<float>& query) const {
  CHECK_EQ(static_cast<int>(query.size()), dim_);
  std::vector<double> distances(size());
  for (int i = 0; i < size(); ++i) {
    const float* v = &vectors_[static_cast<size_t>(i) * dim_];
    double sum = 0;
    for (int d = 0; d < dim_; ++d) {
      const double diff = static_cast<double>(v[d]) - query[d];
      sum += diff * diff;
    }
    distances[i] = sum;
  }
  return distances;
}

int LatentIndex::RankOf(const std::vector<float>& query, int target) const {
  CHECK(target >= 0 && target < size());
  const std::vector<double> distances = SquaredDistances(query);
  return static_cast<int>(std::count_if(distances.begin(), distances.end(),
                                        [&](double d) { return d < distances[target]; }));
}

std::vector<int> LatentIndex::Nearest(const std::vector<float>& query, int k) const {
  const std::vector<double> distances = SquaredDistances(query);
  std::vector<int> order(size());
  std::iota(order.begin(), order.end(), 0);
  k = std::clamp(k, 0, size());
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int a, int b) {
    return distances[a] != distances[b] ? distances[a] < distances[b] : a < b;
  });
  order.resize(k);
  return order;
}

}  // namespace infusion::eval
