#include "trainer/distributed.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdlib>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace infusion::trainer {

struct Distributed::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

absl::Status DistributedOptions::Validate() const {
  if (world_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--world_size must be >= 1, got ", world_size));
  }
  if (rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rank must be in [0, ", world_size, "), got ", rank));
  }
  if (master_port <= 0 || master_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--master_port must be in [1, 65535], got ", master_port));
  }
  if (world_size > 1 && master_addr.empty()) {
    return absl::InvalidArgumentError("--master_addr must name rank 0's machine");
  }
  if (timeout_s <= 0) return absl::InvalidArgumentError("timeout must be positive");
  if (bucket_bytes <= 0) return absl::InvalidArgumentError("bucket_bytes must be positive");
  return absl::OkStatus();
}

Distributed::Distributed(const DistributedOptions& options) : options_(options) {}
Distributed::~Distributed() = default;

// The network interface Gloo binds to. As in torch.distributed: GLOO_SOCKET_IFNAME when set;
// loopback when rank 0 is on this machine's loopback (every process on one machine); otherwise
// the address this machine's hostname resolves to.
static std::shared_ptr<::gloo::transport::Device> GlooDevice(const std::string& master_addr) {
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  }
  if (master_addr == "localhost" || absl::StartsWith(master_addr, "127.")) {
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

absl::StatusOr<std::unique_ptr<Distributed>> Distributed::Create(
    const DistributedOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  std::unique_ptr<Distributed> d(new Distributed(options));
  if (options.world_size == 1) return d;
  const std::chrono::milliseconds timeout(static_cast<int64_t>(options.timeout_s) * 1000);
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(options.master_port);
    store_options.isServer = options.rank == 0;
    store_options.numWorkers = options.world_size;
    store_options.waitWorkers = true;
    store_options.timeout = timeout;
    auto group = std::make_unique<Group>();
    group->store = c10::make_intrusive<c10d::TCPStore>(options.master_addr, store_options);
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(timeout);
    gloo_options->devices.push_back(GlooDevice(options.master_addr));
    group->group = c10::make_intrusive<c10d::ProcessGroupGloo>(group->store, options.rank,
                                                               options.world_size, gloo_options);
    d->group_ = std::move(group);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "rank ", options.rank, " of ", options.world_size, ": cannot join the process group at ",
        options.master_addr, ":", options.master_port, ": ", e.what()));
  }
  return d;
}

void Distributed::AllReduceSum(at::Tensor tensor) {
  if (group_ == nullptr) return;
  std::vector<at::Tensor> tensors = {std::move(tensor)};
  group_->group->allreduce(tensors)->wait();
}

void Distributed::AllReduceGradients(const std::vector<at::Tensor>& params) {
  if (group_ == nullptr) return;
  struct Bucket {
    std::vector<at::Tensor> grads;
    std::vector<at::Tensor> flat;  // one tensor: what the collective reads and writes
    c10::intrusive_ptr<c10d::Work> work;
  };
  std::vector<Bucket> buckets(1);
  int64_t bytes = 0;
  auto launch = [&](Bucket& bucket) {
    std::vector<at::Tensor> pieces;
    for (const at::Tensor& g : bucket.grads) pieces.push_back(g.reshape(-1));
    bucket.flat = {at::cat(pieces)};
    bucket.work = group_->group->allreduce(bucket.flat);
  };
  for (const at::Tensor& p : params) {
    const at::Tensor& grad = p.grad();
    CHECK(grad.defined());
    if (!buckets.back().grads.empty() && bytes + grad.nbytes() > options_.bucket_bytes) {
      launch(buckets.back());
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().grads.push_back(grad);
    bytes += static_cast<int64_t>(grad.nbytes());
  }
  if (!buckets.back().grads.empty()) launch(buckets.back());
  for (Bucket& bucket : buckets) {
    if (bucket.grads.empty()) continue;
    bucket.work->wait();
    int64_t offset = 0;
    for (at::Tensor& g : bucket.grads) {
      g.copy_(bucket.flat[0].narrow(0, offset, g.numel()).view_as(g));
      offset += g.numel();
    }
  }
}

absl::Status Distributed::MainFirst(const std::function<absl::Status()>& work) {
  if (group_ == nullptr) return work();
  const std::string key = absl::StrCat("main_first/", main_first_calls_++);
  if (is_main()) {
    const absl::Status status = work();
    const std::string outcome = status.ok() ? "ok" : "failed";
    group_->store->set(key, std::vector<uint8_t>(outcome.begin(), outcome.end()));
    return status;
  }
  group_->store->wait({key}, std::chrono::hours(24 * 7));
  const std::vector<uint8_t> outcome = group_->store->get(key);
  if (std::string(outcome.begin(), outcome.end()) != "ok") {
    return absl::AbortedError("rank 0 failed to prepare the data (see its log)");
  }
  return work();
}

}  // namespace infusion::trainer
