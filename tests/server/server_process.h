// infusion-server as a child process on loopback ports the kernel picks, for end-to-end tests.
#ifndef INFUSION_TESTS_SERVER_SERVER_PROCESS_H_
#define INFUSION_TESTS_SERVER_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/client_lib/infusion_client.h"

namespace infusion::testing {

class ServerProcess {
 public:
  // Starts INFUSION_SERVER_BIN on the test model with `flags` added, and waits until its health
  // is SERVING. Clients of the server connect with `client_options` (its `server` is set here).
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::vector<std::string>& flags = {}, const client::ClientOptions& client_options = {});
  ~ServerProcess();  // kills the server if it still runs

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int metrics_port() const { return metrics_port_; }
  // A client of this server; `api_key` is sent with every call when not empty.
  std::unique_ptr<client::InfusionClient> Client(const std::string& api_key = "") const;

  void Signal(int signal) const;
  // Waits for the server to exit; its exit code, or -signal when a signal ended it.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // What the server wrote to stdout and stderr.
  std::string Log() const;

 private:
  ServerProcess(pid_t pid, std::string dir, const client::ClientOptions& client_options)
      : pid_(pid), dir_(std::move(dir)), client_options_(client_options) {}
  absl::Status AwaitPorts(absl::Duration timeout);
  absl::Status AwaitServing(absl::Duration timeout);

  pid_t pid_;
  std::string dir_;  // a temporary directory: port file and log
  client::ClientOptions client_options_;
  bool exited_ = false;
  int port_ = 0;
  int metrics_port_ = 0;
};

// GET http://127.0.0.1:port/path; the body of a 200 response, else an error with the status line.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

// The value of the sample `series` (name and labels exactly as exposed, e.g.
// `infusion_requests_total{code="OK",frontend="grpc",rpc="Chat"}`) in Prometheus text `metrics`;
// NotFound when absent.
absl::StatusOr<double> MetricValue(const std::string& metrics, const std::string& series);

}  // namespace infusion::testing

#endif  // INFUSION_TESTS_SERVER_SERVER_PROCESS_H_
