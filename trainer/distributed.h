// Data-parallel communication through torch's c10d, as torchrun sets it up: every process is
// told the world size, its rank and the rank-0 machine's address and port; rank 0 serves the
// TCPStore through which the processes find each other, then a Gloo process group (CPU tensors
// over TCP) sums gradients. One process needs none of it: every collective is then a no-op.
#ifndef INFUSION_TRAINER_DISTRIBUTED_H_
#define INFUSION_TRAINER_DISTRIBUTED_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace infusion::trainer {

struct DistributedOptions {
  int world_size = 1;                     // processes in the run, >= 1
  int rank = 0;                           // this process, [0, world_size)
  std::string master_addr = "127.0.0.1";  // where rank 0 serves the TCPStore
  int master_port = 29500;                // (0, 65536)
  int timeout_s = 600;                    // rendezvous and collectives give up after this
  int64_t bucket_bytes = 25 << 20;        // gradients are summed in buckets of about this size

  absl::Status Validate() const;  // InvalidArgument naming the flag
};

class Distributed {
 public:
  // One process: no communication. Several: waits (up to timeout_s) until all world_size
  // processes have joined. Unavailable when the store or the group cannot be set up.
  static absl::StatusOr<std::unique_ptr<Distributed>> Create(const DistributedOptions& options);
  ~Distributed();

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }
  bool is_main() const { return options_.rank == 0; }

  // Sums `tensor` (contiguous, CPU) over all processes, in place.
  void AllReduceSum(at::Tensor tensor);
  // Sums the gradients of `params` (all defined, the same shapes on every process) over all
  // processes, in place. Buckets are flattened and all-reduced asynchronously, so Gloo sums one
  // while the next is being flattened.
  void AllReduceGradients(const std::vector<at::Tensor>& params);
  // Runs `work` on rank 0 first, then on the other ranks: for preparing files that every rank
  // needs (rank 0 makes them, the others find them made). The others wait without a time limit,
  // since the work may take long; they return Aborted without running it when rank 0's fails.
  absl::Status MainFirst(const std::function<absl::Status()>& work);

 private:
  struct Group;  // the c10d store and process group, kept out of this header
  explicit Distributed(const DistributedOptions& options);

  DistributedOptions options_;
  std::unique_ptr<Group> group_;  // null for one process
  int main_first_calls_ = 0;      // names the store keys of MainFirst
};

}  // namespace infusion::trainer

#endif  // INFUSION_TRAINER_DISTRIBUTED_H_
