#include "tests/server/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/server_process_io.h"
#include "common/status_macros.h"

namespace infusion::testing {
namespace {

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::vector<std::string>& flags, const client::ClientOptions& client_options) {
  char dir_template[] = "/tmp/infusion-server-test-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string dir = dir_template;
  std::vector<std::string> args = {
      INFUSION_SERVER_BIN, "--model=" INFUSION_TEST_MODEL_DIR, "--host=127.0.0.1", "--port=0",
      "--metrics_port=0",  "--port_file=" + dir + "/ports",    "--threads=1",
  };
  args.insert(args.end(), flags.begin(), flags.end());
  ASSIGN_OR_RETURN(const pid_t pid, SpawnWithLog(args, dir + "/log"));

  std::unique_ptr<ServerProcess> server(new ServerProcess(pid, dir, client_options));
  if (absl::Status s = server->AwaitPorts(absl::Seconds(60)); !s.ok()) return s;
  if (absl::Status s = server->AwaitServing(absl::Seconds(60)); !s.ok()) return s;
  return server;
}

ServerProcess::~ServerProcess() {
  if (!exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::filesystem::remove_all(dir_);
}

absl::Status ServerProcess::AwaitPorts(absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      return absl::InternalError(absl::StrCat("the server exited during start-up:\n", Log()));
    }
    std::map<std::string, int> ports = ReadPortFile(dir_ + "/ports");
    port_ = ports["grpc"];
    metrics_port_ = ports["metrics"];
    if (port_ != 0 && metrics_port_ != 0) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("no port file; log:\n", Log()));
}

absl::Status ServerProcess::AwaitServing(absl::Duration timeout) {
  std::unique_ptr<client::InfusionClient> client = Client();
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    client::CallOptions call;
    call.timeout = absl::Seconds(1);
    absl::StatusOr<client::ServingStatus> status = client->CheckHealth("", call);
    if (status.ok() && *status == grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("never SERVING; log:\n", Log()));
}

std::unique_ptr<client::InfusionClient> ServerProcess::Client(const std::string& api_key) const {
  client::ClientOptions options = client_options_;
  options.server = address();
  options.api_key = api_key;
  return *client::InfusionClient::Create(options);
}

void ServerProcess::Signal(int signal) const { kill(pid_, signal); }

absl::StatusOr<int> ServerProcess::Wait(absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError("the server is still running");
}

std::string ServerProcess::Log() const { return ReadFileOrEmpty(dir_ + "/log"); }

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to port ", port));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("send failed");
  }
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, n);
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) return absl::DataLossError("no HTTP response");
  const std::string status_line = response.substr(0, response.find("\r\n"));
  if (!absl::StartsWith(status_line, "HTTP/1.1 200 ")) return absl::UnknownError(status_line);
  return response.substr(body + 4);
}

absl::StatusOr<double> MetricValue(const std::string& metrics, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::ConsumePrefix(&line, series) || !absl::ConsumePrefix(&line, " ")) continue;
    double value = 0;
    if (!absl::SimpleAtod(line, &value)) return absl::DataLossError(std::string(line));
    return value;
  }
  return absl::NotFoundError(series);
}

}  // namespace infusion::testing
