// A share of correct answers, kept as counts so that results can be summed and reported exactly.
#ifndef INFUSION_CLIENTS_EVAL_ACCURACY_H_
#define INFUSION_CLIENTS_EVAL_ACCURACY_H_

#include "nlohmann/json.hpp"

namespace infusion::eval {

// results.json keeps the order in which fields are written.
using Json = nlohmann::ordered_json;

struct Accuracy {
  int correct = 0;
  int total = 0;

  void Add(bool is_correct) {
    correct += is_correct ? 1 : 0;
    ++total;
  }
  // 0 when nothing was scored.
  double value() const { return total == 0 ? 0.0 : static_cast<double>(correct) / total; }
  // {"accuracy": 0.75, "correct": 3, "total": 4}
  Json ToJson() const {
    return Json{{"accuracy", value()}, {"correct", correct}, {"total", total}};
  }
};

}  // namespace infusion::eval

#endif  // INFUSION_CLIENTS_EVAL_ACCURACY_H_
