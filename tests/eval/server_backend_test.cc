// infusion-eval --server: a real infusion-server on loopback serving the random tiny model. The
// gRPC backend must run every task, record the served model, and score what the in-process
// backend scores for the same tasks and seeds.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/client_lib/infusion_client.h"
#include "tests/eval/tiny_model.h"

extern char** environ;

namespace infusion::eval {
namespace {

// An infusion-server child process on a free port, stopped with SIGTERM.
class ServerProcess {
 public:
  explicit ServerProcess(const std::string& model_dir) {
    port_file_ = PrivateTempDir("server") + "/port";
    std::vector<std::string> args = {INFUSION_SERVER_BINARY,
                                     "--model",
                                     model_dir,
                                     "--port",
                                     "0",
                                     "--metrics_port",
                                     "0",
                                     "--port_file",
                                     port_file_,
                                     "--threads",
                                     "2",
                                     "--kv_cache_mb",
                                     "16"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  }
  ~ServerProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }

  // The gRPC port once the server serves, or 0 after 60 s.
  int WaitUntilServing() const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    int port = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::ifstream in(port_file_);
      std::string key, value;
      if (port == 0 && in >> key >> value && key == "grpc" && absl::SimpleAtoi(value, &port)) {
        continue;
      }
      if (port == 0) continue;
      client::ClientOptions options;
      options.server = absl::StrCat("localhost:", port);
      auto c = client::InfusionClient::Create(options);
      client::CallOptions call;
      call.timeout = absl::Seconds(1);
      if (c.ok()) {
        auto health = (*c)->CheckHealth("", call);
        if (health.ok() && *health == grpc::health::v1::HealthCheckResponse::SERVING) return port;
      }
    }
    return 0;
  }

 private:
  std::string port_file_;
  pid_t pid_ = 0;
};

TEST(ServerBackendTest, ShapesThroughTheServerMatchInProcess) {
  ServerProcess server(TinyModelDir());
  const int port = server.WaitUntilServing();
  ASSERT_GT(port, 0) << "infusion-server did not come up";

  const std::string flags =
      " shapes --prompts_per_category 2 --captions 3 --questions 3 --edits 3 --image_steps 2"
      " --max_text_tokens 6 --grid_samples 2 --threads 2";
  const std::string remote = PrivateTempDir("remote");
  const std::string local = PrivateTempDir("local");
  ASSERT_EQ(RunCommand(absl::StrCat(INFUSION_EVAL_BINARY, " --server localhost:", port,
                                    " --concurrency 8 --out_dir ", remote, flags)),
            0);
  ASSERT_EQ(RunCommand(absl::StrCat(INFUSION_EVAL_BINARY, " --model ", TinyModelDir(),
                                    " --out_dir ", local, flags)),
            0);

  const Json r = ReadJson(remote + "/results.json")["shapes"];
  const Json l = ReadJson(local + "/results.json")["shapes"];
  EXPECT_EQ(r["run"]["backend"].get<std::string>(), absl::StrCat("server localhost:", port));
  EXPECT_EQ(r["run"]["model"].get<std::string>(), "eval_tiny_model");  // from GetModelInfo
  for (const char* c :
       {"single_object", "position", "two_objects", "relation", "counting", "color_attribution"}) {
    EXPECT_EQ(r["text_to_image"]["categories"][c]["total"].get<int>(), 2) << c;
  }
  EXPECT_EQ(r["captioning"]["images"].get<int>(), 3);
  EXPECT_EQ(r["chat"]["total"].get<int>(), 3);
  EXPECT_EQ(r["edits"]["total"].get<int>(), 3);
  // Same model, same tasks, same seeds: the same scores through either backend.
  EXPECT_EQ(r["text_to_image"], l["text_to_image"]);
  EXPECT_EQ(r["captioning"], l["captioning"]);
  EXPECT_EQ(r["chat"], l["chat"]);
  EXPECT_EQ(r["edits"], l["edits"]);
}

}  // namespace
}  // namespace infusion::eval
