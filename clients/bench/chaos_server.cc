#include "clients/bench/chaos_server.h"

#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/server_process_io.h"
#include "common/status_macros.h"

namespace infusion::bench {
namespace {

std::string Tail(const std::string& text, size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChaosServer>> ChaosServer::Start(
    const std::string& binary, const std::vector<std::string>& flags,
    const std::string& log_path) {
  const std::string port_file = log_path + ".ports";
  std::remove(port_file.c_str());
  std::vector<std::string> args = {binary,           "--host=127.0.0.1",
                                   "--port=0",       "--http_port=0",
                                   "--metrics_port=0", "--port_file=" + port_file};
  args.insert(args.end(), flags.begin(), flags.end());
  ASSIGN_OR_RETURN(const pid_t pid, SpawnWithLog(args, log_path));
  std::unique_ptr<ChaosServer> server(new ChaosServer);
  server->pid_ = pid;
  server->started_here_ = true;
  server->log_path_ = log_path;

  // Loading and warming up the model takes seconds; on a busy machine, many.
  const absl::Time end = absl::Now() + absl::Minutes(5);
  int grpc = 0, http = 0, metrics = 0;
  while (grpc == 0 || http == 0 || metrics == 0) {
    if (!server->Alive()) {
      return absl::InternalError(absl::StrCat("the server exited during start-up (code ",
                                              server->exit_code_, "):\n",
                                              Tail(ReadFileOrEmpty(log_path), 4000)));
    }
    if (absl::Now() > end) {
      return absl::DeadlineExceededError(
          absl::StrCat("no complete port file after 5 minutes; log:\n",
                       Tail(ReadFileOrEmpty(log_path), 4000)));
    }
    std::map<std::string, int> ports = ReadPortFile(port_file);
    grpc = ports["grpc"];
    http = ports["http"];
    metrics = ports["metrics"];
    absl::SleepFor(absl::Milliseconds(50));
  }
  server->grpc_address_ = absl::StrCat("127.0.0.1:", grpc);
  server->http_url_ = absl::StrCat("http://127.0.0.1:", http);
  server->metrics_url_ = absl::StrCat("http://127.0.0.1:", metrics);
  return server;
}

absl::StatusOr<std::unique_ptr<ChaosServer>> ChaosServer::Attach(const std::string& grpc_address,
                                                                 const std::string& http_url,
                                                                 const std::string& metrics_url,
                                                                 pid_t pid) {
  if (grpc_address.empty() || http_url.empty() || metrics_url.empty() || pid <= 0) {
    return absl::InvalidArgumentError(
        "attaching needs the gRPC address (--server), the HTTP URL (--http), the metrics URL "
        "(--chaos_metrics) and the server's PID (--chaos_pid)");
  }
  if (kill(pid, 0) != 0) return absl::NotFoundError(absl::StrCat("no process ", pid));
  std::unique_ptr<ChaosServer> server(new ChaosServer);
  server->grpc_address_ = grpc_address;
  server->http_url_ = http_url;
  server->metrics_url_ = metrics_url;
  server->pid_ = pid;
  return server;
}

ChaosServer::~ChaosServer() {
  if (started_here_ && !exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

absl::Status ChaosServer::AwaitReady(absl::Duration timeout) const {
  httplib::Client client(http_url_);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  const absl::Time end = absl::Now() + timeout;
  std::string last = "no answer";
  while (absl::Now() < end) {
    if (const httplib::Result r = client.Get("/ready")) {
      if (r->status == 200) return absl::OkStatus();
      last = absl::StrCat("HTTP ", r->status);
    } else {
      last = httplib::to_string(r.error());
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat(http_url_, "/ready: ", last));
}

absl::StatusOr<int64_t> ChaosServer::RssKib() const {
  const std::string status = ReadFileOrEmpty(absl::StrCat("/proc/", pid_, "/status"));
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (!absl::ConsumePrefix(&line, "VmRSS:")) continue;
    line = absl::StripAsciiWhitespace(line);
    absl::ConsumeSuffix(&line, "kB");
    int64_t kib = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &kib)) return kib;
  }
  return absl::NotFoundError(absl::StrCat("no VmRSS in /proc/", pid_, "/status"));
}

absl::StatusOr<uint64_t> ChaosServer::StartTicks() const {
  const std::string stat = ReadFileOrEmpty(absl::StrCat("/proc/", pid_, "/stat"));
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return absl::NotFoundError(absl::StrCat("no process ", pid_));
  const std::vector<std::string> fields =
      absl::StrSplit(stat.substr(close + 1), ' ', absl::SkipEmpty());
  uint64_t ticks = 0;
  // fields[0] is field 3 (state), so field 22 is fields[19].
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &ticks)) {
    return absl::DataLossError(absl::StrCat("unreadable /proc/", pid_, "/stat"));
  }
  return ticks;
}

bool ChaosServer::Alive() {
  if (exited_) return false;
  if (!started_here_) return kill(pid_, 0) == 0;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    return false;
  }
  return true;
}

void ChaosServer::Signal(int signal) const { kill(pid_, signal); }

absl::StatusOr<int> ChaosServer::Wait(absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (Alive()) {
    if (absl::Now() > end) return absl::DeadlineExceededError("the server is still running");
    absl::SleepFor(absl::Milliseconds(20));
  }
  return exit_code_;
}

absl::StatusOr<std::string> ChaosServer::Metrics() const {
  httplib::Client client(metrics_url_);
  client.set_connection_timeout(5);
  client.set_read_timeout(30);
  const httplib::Result r = client.Get("/metrics");
  if (!r) {
    return absl::UnavailableError(
        absl::StrCat(metrics_url_, "/metrics: ", httplib::to_string(r.error())));
  }
  if (r->status != 200) {
    return absl::UnavailableError(absl::StrCat(metrics_url_, "/metrics: HTTP ", r->status));
  }
  return r->body;
}

absl::StatusOr<double> SumMetric(const std::string& text, const std::string& name,
                                 const std::vector<std::string>& labels) {
  double sum = 0;
  bool found = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#' || !absl::ConsumePrefix(&line, name)) continue;
    absl::string_view label_text;
    if (absl::ConsumePrefix(&line, "{")) {
      const size_t close = line.find('}');
      if (close == absl::string_view::npos) continue;
      label_text = line.substr(0, close);
      line.remove_prefix(close + 1);
    }
    if (!absl::ConsumePrefix(&line, " ")) continue;  // another metric with this prefix
    bool match = true;
    for (const std::string& label : labels) match = match && absl::StrContains(label_text, label);
    if (!match) continue;
    // A sample may carry a timestamp after its value.
    const absl::string_view value = line.substr(0, line.find(' '));
    double v = 0;
    if (!absl::SimpleAtod(value, &v)) {
      return absl::DataLossError(absl::StrCat("bad sample of ", name, ": ", value));
    }
    sum += v;
    found = true;
  }
  if (!found) return absl::NotFoundError(absl::StrCat("no sample of ", name));
  return sum;
}

}  // namespace infusion::bench
