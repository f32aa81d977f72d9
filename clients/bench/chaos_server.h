// The infusion-server that `infusion-bench --chaos` runs against: a child process it starts (on
// free ports, gRPC + HTTP + metrics) or one already running that it attaches to. Also what the
// chaos run reads from outside the server: its resident memory and start time (/proc), whether it
// is alive, its exit status, and its Prometheus metrics.
#ifndef INFUSION_CLIENTS_BENCH_CHAOS_SERVER_H_
#define INFUSION_CLIENTS_BENCH_CHAOS_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace infusion::bench {

class ChaosServer {
 public:
  // Starts `binary` with `flags` plus --port 0 --http_port 0 --metrics_port 0 --port_file; its
  // output goes to `log_path`. Returns once the port file lists all three ports.
  static absl::StatusOr<std::unique_ptr<ChaosServer>> Start(const std::string& binary,
                                                            const std::vector<std::string>& flags,
                                                            const std::string& log_path);
  // A server this process did not start: `pid` is read through /proc (and signalled), its exit
  // status cannot be known.
  static absl::StatusOr<std::unique_ptr<ChaosServer>> Attach(const std::string& grpc_address,
                                                             const std::string& http_url,
                                                             const std::string& metrics_url,
                                                             pid_t pid);
  ~ChaosServer();  // kills a started server that is still running

  // Waits for GET /ready on the HTTP port to answer 200 (model loaded and warmed up).
  absl::Status AwaitReady(absl::Duration timeout) const;

  const std::string& grpc_address() const { return grpc_address_; }  // host:port
  const std::string& http_url() const { return http_url_; }          // http://host:port
  pid_t pid() const { return pid_; }
  bool started_here() const { return started_here_; }
  const std::string& log_path() const { return log_path_; }

  // VmRSS of /proc/PID/status, in KiB.
  absl::StatusOr<int64_t> RssKib() const;
  // Field 22 of /proc/PID/stat (clock ticks after boot): a restarted process under the same PID
  // has another.
  absl::StatusOr<uint64_t> StartTicks() const;
  bool Alive();
  void Signal(int signal) const;
  // The exit code of a started server (negative: killed by that signal); DeadlineExceeded when
  // it still runs after `timeout`. An attached server: 0 once the PID is gone.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // The text of GET /metrics on the metrics port.
  absl::StatusOr<std::string> Metrics() const;

 private:
  ChaosServer() = default;

  std::string grpc_address_, http_url_, metrics_url_, log_path_;
  pid_t pid_ = -1;
  bool started_here_ = false;
  bool exited_ = false;
  int exit_code_ = 0;
};

// Sums the samples of `name` in Prometheus text whose labels contain every one of `labels`
// (each written as in the text, e.g. code="INTERNAL"). NotFound when there is no such sample.
absl::StatusOr<double> SumMetric(const std::string& text, const std::string& name,
                                 const std::vector<std::string>& labels = {});

}  // namespace infusion::bench

#endif  // INFUSION_CLIENTS_BENCH_CHAOS_SERVER_H_
