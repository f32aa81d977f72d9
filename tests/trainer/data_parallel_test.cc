// Done-when 2 of the trainer: two processes on loopback, each with half of the global batch,
// end with the parameters of one process that trains on the whole batch.
#include <ATen/ATen.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "engine/weights/safetensors.h"
#include "gtest/gtest.h"
#include "tests/trainer/test_util.h"

namespace infusion::trainer {

using engine::SafetensorsFile;

namespace {

// A TCP port nobody listens on now.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(DataParallelTest, TwoProcessesMatchOne) {
  const std::string dir = testing::FreshDir("data_parallel");
  testing::Json config = testing::TinyConfig(dir + "/cache");
  config["steps"] = 6;
  config["warmup_steps"] = 2;
  config["batch_size"] = 4;
  config["checkpoint_every"] = 0;
  config["samples"]["every"] = 0;
  const std::string config_path = dir + "/config.json";
  testing::WriteText(config_path, config.dump());

  // One process, 4 rows per step (it also fills the cache the others read).
  ASSERT_EQ(testing::RunTrain({"--config", config_path, "--out", dir + "/one", "--threads", "1"},
                              dir + "/one.log"),
            0);
  // Two processes, 2 rows each.
  const std::string port = std::to_string(FreePort());
  std::vector<std::unique_ptr<testing::TrainProcess>> ranks;
  for (const char* rank : {"0", "1"}) {
    ranks.push_back(std::make_unique<testing::TrainProcess>(
        std::vector<std::string>{"--config", config_path, "--out", dir + "/two", "--threads", "1",
                                 "--world_size", "2", "--rank", rank, "--master_addr", "127.0.0.1",
                                 "--master_port", port},
        dir + "/rank" + rank + ".log"));
  }
  for (auto& rank : ranks) {
    const int status = rank->Wait();
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "a rank failed; see " << dir << "/rank*.log";
  }

  auto one = *SafetensorsFile::Open(dir + "/one/model.safetensors");
  auto two = *SafetensorsFile::Open(dir + "/two/model.safetensors");
  ASSERT_EQ(one->names(), two->names());
  double max_difference = 0;
  for (const std::string& name : one->names()) {
    const at::Tensor a = *one->ReadF32(name), b = *two->ReadF32(name);
    max_difference = std::max(max_difference, (a - b).abs().max().item<double>());
  }
  // Summing the two halves' gradients in another order changes their last bits, and Adam's
  // normalised update turns that into differences far above float rounding for parameters whose
  // gradient is near zero: 1.4e-5 on this CPU. A real fault (each process training on the same
  // half, no all-reduce) moves parameters by the order of one update, lr = 1e-2: 100x the bound.
  EXPECT_LT(max_difference, 1e-4);

  const auto log_one = testing::ReadLog(dir + "/one/train_log.jsonl");
  const auto log_two = testing::ReadLog(dir + "/two/train_log.jsonl");
  ASSERT_EQ(log_one.size(), 6u);
  ASSERT_EQ(log_two.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_NEAR(log_one[i]["loss"].get<double>(), log_two[i]["loss"].get<double>(), 1e-5) << i;
  }
  // The first step's loss is that of the initial weights on the same batch: only equal if the
  // processes really split that batch between them.
  EXPECT_NEAR(log_one[0]["loss_lm"].get<double>(), log_two[0]["loss_lm"].get<double>(), 1e-6);
}

}  // namespace
}  // namespace infusion::trainer
