// Helpers shared by the trainer's tests: scratch folders, the tiny training config, a tokenizer
// for the shapes vocabulary, and infusion-train as a child process.
#ifndef INFUSION_TESTS_TRAINER_TEST_UTIL_H_
#define INFUSION_TESTS_TRAINER_TEST_UTIL_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace infusion::testing {

using Json = nlohmann::json;

// An empty folder of the build tree for one test, `name` unique among the tests.
inline std::string FreshDir(const std::string& name) {
  const std::string dir = std::string(INFUSION_BINARY_DIR) + "/tests/trainer/work/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline Json ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return Json::parse(text.str());
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// configs/train/tiny.json with its cache in `cache_dir` (one per test binary, so that test
// binaries running at once never write the same cache file).
inline Json TinyConfig(const std::string& cache_dir) {
  Json c = ReadJson(std::string(INFUSION_SOURCE_DIR) + "/configs/train/tiny.json");
  c["cache_dir"] = cache_dir;
  c["codec_dir"] = std::string(INFUSION_SOURCE_DIR) + "/third_party/taef2";
  return c;
}

// The lines of a train_log.jsonl.
inline std::vector<Json> ReadLog(const std::string& path) {
  std::vector<Json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(Json::parse(line));
  return lines;
}

// A tokenizer trained on the words of the shapes world (spm_train runs in a child process).
inline std::unique_ptr<engine::Tokenizer> ShapesTokenizer(const std::string& dir) {
  const std::string path = dir + "/tokenizer.model";
  engine::TokenizerTrainOptions options;
  options.vocab_size = 320;
  const std::vector<std::string> corpus = {"a red circle",
                                           "two blue squares",
                                           "a green triangle at the top left",
                                           "what color is the circle?",
                                           "make the red circle blue",
                                           "an orange square above a purple circle",
                                           "three yellow triangles",
                                           "remove the blue square",
                                           "red",
                                           "yes",
                                           "no",
                                           "top left"};
  EXPECT_TRUE(engine::TrainTokenizer(corpus, options, path).ok());
  auto tokenizer = engine::Tokenizer::Load(path);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? *std::move(tokenizer) : nullptr;
}

// infusion-train with `args`, stdout and stderr into `log`.
class TrainProcess {
 public:
  TrainProcess(const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> argv = {INFUSION_TRAIN_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> c_argv;
    for (std::string& a : argv) c_argv.push_back(a.data());
    c_argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    EXPECT_EQ(posix_spawn(&pid_, c_argv[0], &actions, nullptr, c_argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~TrainProcess() {
    if (pid_ > 0 && !waited_) {
      kill(pid_, SIGKILL);
      Wait();
    }
  }

  void Kill() { kill(pid_, SIGKILL); }
  // The wait status (WIFEXITED / WIFSIGNALED apply).
  int Wait() {
    if (!waited_) waitpid(pid_, &status_, 0);
    waited_ = true;
    return status_;
  }
  bool Running() {
    if (!waited_ && waitpid(pid_, &status_, WNOHANG) == pid_) waited_ = true;
    return !waited_;
  }

 private:
  pid_t pid_ = -1;
  bool waited_ = false;
  int status_ = 0;
};

// Runs infusion-train to the end; its exit code (-1 when killed), with the log shown on failure.
inline int RunTrain(const std::vector<std::string>& args, const std::string& log) {
  TrainProcess process(args, log);
  const int status = process.Wait();
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code != 0) {
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    ADD_FAILURE() << "infusion-train exited with " << code << ":\n" << text.str();
  }
  return code;
}

}  // namespace infusion::testing

#endif  // INFUSION_TESTS_TRAINER_TEST_UTIL_H_
