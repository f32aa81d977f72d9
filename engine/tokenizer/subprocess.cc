#include "engine/tokenizer/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace infusion::engine {
namespace {

// The last `max_bytes` of `path`, for error messages.
std::string Tail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  const std::string text = contents.str();
  return text.size() <= max_bytes ? text : text.substr(text.size() - max_bytes);
}

// posix_spawn's file actions, released on every path out.
class FileActions {
 public:
  FileActions() { posix_spawn_file_actions_init(&actions_); }
  ~FileActions() { posix_spawn_file_actions_destroy(&actions_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

}  // namespace

absl::Status RunProcess(const std::vector<std::string>& argv, const std::string& working_dir,
                        const std::string& log_file) {
  if (argv.empty()) return absl::InvalidArgumentError("RunProcess: empty argv");
  // Checked here because a failed chdir in the child reads like a missing program (ENOENT).
  if (!std::filesystem::is_directory(working_dir)) {
    return absl::InvalidArgumentError(absl::StrCat("RunProcess: no directory ", working_dir));
  }
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);

  // Actions run in order in the child: chdir first, so that log_file resolves inside it.
  FileActions actions;
  if (posix_spawn_file_actions_addchdir_np(actions.get(), working_dir.c_str()) != 0 ||
      posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0) !=
          0 ||
      posix_spawn_file_actions_addopen(actions.get(), STDOUT_FILENO, log_file.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644) != 0 ||
      posix_spawn_file_actions_adddup2(actions.get(), STDOUT_FILENO, STDERR_FILENO) != 0) {
    return absl::InternalError("RunProcess: cannot set up posix_spawn file actions");
  }
  pid_t pid;
  const int error = posix_spawnp(&pid, args[0], actions.get(), nullptr, args.data(), environ);
  if (error == ENOENT) {
    return absl::NotFoundError(absl::StrCat(argv[0], " is not installed (not found on PATH)"));
  }
  if (error != 0) {
    return absl::InternalError(absl::StrCat("cannot start ", argv[0], ": ", std::strerror(error)));
  }
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return absl::InternalError(absl::StrCat("waitpid(", argv[0], "): ", std::strerror(errno)));
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  const std::string how = WIFEXITED(status)
                              ? absl::StrCat("exited with status ", WEXITSTATUS(status))
                              : absl::StrCat("was killed by signal ", WTERMSIG(status));
  const std::string log = (std::filesystem::path(working_dir) / log_file).string();
  return absl::InternalError(absl::StrCat(argv[0], " ", how, ": ", Tail(log, 2000)));
}

}  // namespace infusion::engine
