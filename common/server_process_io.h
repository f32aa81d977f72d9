// Starting an infusion-server (or any program) as a child process with its output in a log file,
// and reading the ports it writes to --port_file: what the tests' ServerProcess and
// infusion-bench --chaos both need.
#ifndef INFUSION_COMMON_SERVER_PROCESS_IO_H_
#define INFUSION_COMMON_SERVER_PROCESS_IO_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace infusion {

// Starts args[0] (a path, not looked up on PATH) with args[1..], no shell, its stdout and stderr
// written to `log_path` (created or truncated). Returns the child's PID; the caller reaps it.
absl::StatusOr<pid_t> SpawnWithLog(const std::vector<std::string>& args,
                                   const std::string& log_path);

// The "NAME PORT" lines of a --port_file ("grpc", "http", "metrics"), as many as are written
// yet; empty when the file does not exist.
std::map<std::string, int> ReadPortFile(const std::string& path);

// The whole file; empty when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace infusion

#endif  // INFUSION_COMMON_SERVER_PROCESS_IO_H_
