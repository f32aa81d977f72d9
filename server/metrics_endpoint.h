// Serves Prometheus' text format at GET /metrics over plain HTTP/1.1, from one thread, one short
// connection at a time (every response closes its connection) — what a scraper needs.
//
// prometheus-cpp's own exposer cannot run in this process: Debian builds civetweb with 100 KiB
// thread stacks, and pthread_create refuses any stack smaller than the static TLS of the loaded
// libraries, which LibTorch with OpenBLAS and glog already brings to ~106 KiB. The metrics
// themselves are prometheus-cpp's (registry, families, text serializer).
#ifndef INFUSION_SERVER_METRICS_ENDPOINT_H_
#define INFUSION_SERVER_METRICS_ENDPOINT_H_

#include <prometheus/collectable.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace infusion::server {

class MetricsEndpoint {
 public:
  // Listens on host:port (port 0: any free port; host "[::]" for IPv6) and serves the families
  // of `collectables` (each collected at every scrape; expired ones are skipped).
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& host, int port,
      std::vector<std::weak_ptr<prometheus::Collectable>> collectables);
  ~MetricsEndpoint();  // stops serving

  int port() const { return port_; }

 private:
  MetricsEndpoint(int listen_fd, int wake_fd, int port,
                  std::vector<std::weak_ptr<prometheus::Collectable>> collectables);
  void Serve();
  void Answer(int fd) const;
  std::string Scrape() const;

  const int listen_fd_;
  const int wake_fd_;  // an eventfd: written by the destructor to stop Serve()
  const int port_;
  const std::vector<std::weak_ptr<prometheus::Collectable>> collectables_;
  std::thread thread_;
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_METRICS_ENDPOINT_H_
