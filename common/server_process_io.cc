#include "common/server_process_io.h"

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace infusion {

absl::StatusOr<pid_t> SpawnWithLog(const std::vector<std::string>& args,
                                   const std::string& log_path) {
  if (args.empty()) return absl::InvalidArgumentError("SpawnWithLog: no program");
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& arg : copy) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int error = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    return absl::InternalError(absl::StrCat("posix_spawn ", args[0], ": ", strerror(error)));
  }
  return pid;
}

std::map<std::string, int> ReadPortFile(const std::string& path) {
  std::map<std::string, int> ports;
  std::ifstream file(path);
  std::string name;
  int port = 0;
  while (file >> name >> port) ports[name] = port;
  return ports;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream file(path);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

}  // namespace infusion
