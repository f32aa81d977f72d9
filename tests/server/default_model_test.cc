#include "server/default_model.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace infusion::server {
namespace {

namespace fs = std::filesystem;

class DefaultModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("default_model_test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  void MakeModel(const fs::path& dir) {
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << "{}";
  }

  fs::path root_;
};

TEST_F(DefaultModelTest, InstalledTreeSharesTheModelBesideBin) {
  MakeModel(root_ / "usr/share/infusion/models/shapes");
  absl::StatusOr<std::string> found = FindDefaultModel((root_ / "usr/bin/infusion-server").string());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, (root_ / "usr/share/infusion/models/shapes").string());
}

TEST_F(DefaultModelTest, BuildTreeUsesTheSourceTreeModels) {
  MakeModel(root_ / "src/models/shapes");
  absl::StatusOr<std::string> found =
      FindDefaultModel((root_ / "src/build/server/infusion-server").string());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, (root_ / "src/models/shapes").string());
}

TEST_F(DefaultModelTest, InstalledModelComesFirst) {
  // PREFIX/bin/../share/... and PREFIX/bin/../../models/... both exist: the installed one wins.
  MakeModel(root_ / "opt/share/infusion/models/shapes");
  MakeModel(root_ / "models/shapes");
  absl::StatusOr<std::string> found = FindDefaultModel((root_ / "opt/bin/infusion-server").string());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, (root_ / "opt/share/infusion/models/shapes").string());
}

TEST_F(DefaultModelTest, DirectoryWithoutConfigIsNotAModel) {
  fs::create_directories(root_ / "usr/share/infusion/models/shapes");
  absl::StatusOr<std::string> found = FindDefaultModel((root_ / "usr/bin/infusion-server").string());
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), absl::StatusCode::kNotFound);
  // The error names every place tried, so that the user sees where to put a model.
  EXPECT_NE(found.status().message().find((root_ / "usr/share/infusion/models/shapes").string()),
            std::string::npos);
  EXPECT_NE(found.status().message().find("--model"), std::string::npos);
}

TEST_F(DefaultModelTest, ExecutablePathIsThisTest) {
  const std::string self = ExecutablePath("ignored");
  EXPECT_TRUE(fs::path(self).is_absolute());
  EXPECT_EQ(fs::path(self).filename(), "server_components_test");
}

}  // namespace
}  // namespace infusion::server
