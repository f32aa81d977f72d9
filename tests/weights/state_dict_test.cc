#include "engine/weights/state_dict.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace infusion::engine {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// A directory of scratch files for this test binary, removed when the binary exits.
const std::string& ScratchDir() {
  struct Dir {
    Dir() : path(absl::StrCat(testing::TempDir(), "state_dict_test_", getpid())) {
      std::filesystem::create_directories(path);
    }
    ~Dir() { std::filesystem::remove_all(path); }
    std::string path;
  };
  static const Dir dir;
  return dir.path;
}

std::string TempPath(const std::string& name) { return ScratchDir() + "/" + name; }

// fc.weight [3, 2], fc.bias [3] and the buffer scale [3].
struct TinyNetImpl : torch::nn::Module {
  TinyNetImpl() {
    fc = register_module("fc", torch::nn::Linear(2, 3));
    scale = register_buffer("scale", torch::ones({3}));
  }
  torch::nn::Linear fc{nullptr};
  torch::Tensor scale;
};
TORCH_MODULE(TinyNet);

StateDict TinyNetState(const std::string& prefix = "") {
  StateDict state;
  state.Insert(prefix + "fc.weight", torch::arange(6, torch::kFloat).reshape({3, 2}));
  state.Insert(prefix + "fc.bias", torch::tensor({-1.0f, 0.0f, 1.0f}));
  state.Insert(prefix + "scale", torch::tensor({2.0f, 3.0f, 4.0f}));
  return state;
}

TEST(StateDictTest, SelectStripsThePrefixAndErrorsShowFullNames) {
  StateDict state;
  state.Insert("layers.0.w", torch::zeros({1}));
  state.Insert("layers.0.b", torch::zeros({1}));
  state.Insert("layers.1.w", torch::zeros({2}));
  state.Insert("layers.10.w", torch::zeros({3}));
  state.Insert("head.w", torch::zeros({4}));

  const StateDict layer1 = state.Select("layers.1.");
  EXPECT_EQ(layer1.Names(), std::vector<std::string>{"w"});
  EXPECT_EQ(layer1.Get("w")->size(0), 2);
  EXPECT_EQ(state.Select("layers.0.").Names(), (std::vector<std::string>{"b", "w"}));
  EXPECT_EQ(state.Select("layers.").size(), 4u);
  EXPECT_EQ(state.Select("tail.").size(), 0u);

  const StateDict nested = state.Select("layers.").Select("0.");
  EXPECT_EQ(nested.prefix(), "layers.0.");
  absl::StatusOr<at::Tensor> missing = nested.Get("gamma");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("'layers.0.gamma'"));
}

TEST(StateDictTest, GetWithShapeNamesBothShapes) {
  StateDict state;
  state.Insert("w", torch::zeros({2, 3}));
  EXPECT_TRUE(state.Get("w", {2, 3}).ok());
  absl::StatusOr<at::Tensor> wrong = state.Get("w", {3, 2});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(),
              AllOf(HasSubstr("'w'"), HasSubstr("shape [2, 3], expected [3, 2]")));
}

TEST(StateDictTest, SaveAndLoadRoundTrip) {
  const std::string path = TempPath("round_trip.safetensors");
  ASSERT_TRUE(TinyNetState().Save(path, {{"kind", "tiny"}}, DType::kBF16).ok());
  absl::StatusOr<StateDict> loaded = StateDict::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->source(), path);
  EXPECT_EQ(loaded->Names(), (std::vector<std::string>{"fc.bias", "fc.weight", "scale"}));
  // Small integers are exact in bfloat16.
  EXPECT_TRUE(torch::equal(*loaded->Get("fc.weight"), *TinyNetState().Get("fc.weight")));

  absl::StatusOr<at::Tensor> absent = loaded->Get("fc.gamma");
  EXPECT_THAT(absent.status().message(), AllOf(HasSubstr(path), HasSubstr("'fc.gamma'")));
}

TEST(StateDictTest, FromModuleSharesStorageWithTheModule) {
  TinyNet net;
  const StateDict state = StateDict::FromModule(*net);
  EXPECT_EQ(state.Names(), (std::vector<std::string>{"fc.bias", "fc.weight", "scale"}));
  EXPECT_EQ(state.Get("scale")->data_ptr(), net->scale.data_ptr());
}

TEST(StateDictTest, LoadCopiesParametersAndBuffersInPlace) {
  TinyNet net;
  void* weight_storage = net->fc->weight.data_ptr();
  ASSERT_TRUE(LoadStateDict(*net, TinyNetState()).ok());

  EXPECT_TRUE(torch::equal(net->fc->weight, torch::arange(6, torch::kFloat).reshape({3, 2})));
  EXPECT_TRUE(torch::equal(net->fc->bias, torch::tensor({-1.0f, 0.0f, 1.0f})));
  EXPECT_TRUE(torch::equal(net->scale, torch::tensor({2.0f, 3.0f, 4.0f})));
  EXPECT_EQ(net->fc->weight.data_ptr(), weight_storage);
  EXPECT_TRUE(net->fc->weight.requires_grad());
  EXPECT_TRUE(net->fc->weight.is_leaf());

  // fc(x) = W x + b with W = [[0, 1], [2, 3], [4, 5]], b = [-1, 0, 1].
  const torch::Tensor y = net->fc->forward(torch::tensor({{1.0f, 1.0f}}));
  EXPECT_TRUE(torch::equal(y, torch::tensor({{0.0f, 5.0f, 10.0f}})));
}

TEST(StateDictTest, LoadReportsEveryProblemAndChangesNothing) {
  TinyNet net;
  const torch::Tensor weight_before = net->fc->weight.clone();
  StateDict state;
  state.Insert("fc.weight", torch::zeros({2, 2}));
  state.Insert("scale", torch::zeros({3}));
  state.Insert("fc.extra", torch::zeros({1}));

  const absl::Status status = LoadStateDict(*net, state);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("missing tensor 'fc.bias'"),
                    HasSubstr("tensor 'fc.weight' has shape [2, 2], expected [3, 2]"),
                    HasSubstr("unexpected tensor 'fc.extra'"), HasSubstr("TinyNetImpl")));
  EXPECT_TRUE(torch::equal(net->fc->weight, weight_before));
  EXPECT_TRUE(torch::equal(net->scale, torch::ones({3})));
}

TEST(StateDictTest, NonStrictLoadIgnoresExtraTensorsOnly) {
  TinyNet net;
  StateDict state = TinyNetState();
  state.Insert("unused", torch::zeros({1}));
  EXPECT_FALSE(LoadStateDict(*net, state, /*strict=*/true).ok());
  EXPECT_TRUE(LoadStateDict(*net, state, /*strict=*/false).ok());
  EXPECT_TRUE(torch::equal(net->scale, torch::tensor({2.0f, 3.0f, 4.0f})));

  StateDict incomplete;
  incomplete.Insert("scale", torch::zeros({3}));
  EXPECT_THAT(LoadStateDict(*net, incomplete, /*strict=*/false).message(),
              HasSubstr("missing tensor 'fc.weight'"));
}

TEST(StateDictTest, LoadFromASelectionNamesTensorsWithThePrefix) {
  const std::string path = TempPath("prefixed.safetensors");
  StateDict saved = TinyNetState("model.");
  saved.Insert("optimizer.step", torch::zeros({1}));
  ASSERT_TRUE(saved.Save(path).ok());
  absl::StatusOr<StateDict> loaded = StateDict::Load(path);
  ASSERT_TRUE(loaded.ok());

  TinyNet net;
  EXPECT_TRUE(LoadStateDict(*net, loaded->Select("model.")).ok());
  EXPECT_TRUE(torch::equal(net->fc->bias, torch::tensor({-1.0f, 0.0f, 1.0f})));

  const absl::Status status = LoadStateDict(*net, loaded->Select("optimizer."));
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(path), HasSubstr("missing tensor 'optimizer.fc.weight'"),
                    HasSubstr("unexpected tensor 'optimizer.step'"), Not(HasSubstr("model."))));
}

}  // namespace
}  // namespace infusion::engine
