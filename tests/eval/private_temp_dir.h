// Scratch folders of the eval tests, private to the test process so that concurrent runs from
// several build trees never meet, and removed when the process exits.
#ifndef INFUSION_TESTS_EVAL_PRIVATE_TEMP_DIR_H_
#define INFUSION_TESTS_EVAL_PRIVATE_TEMP_DIR_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace infusion::eval {

// An empty folder TMP/infusion_eval_<pid>/<name>.
inline std::string PrivateTempDir(const std::string& name) {
  static const struct Root {
    std::string path = ::testing::TempDir() + "/infusion_eval_" + std::to_string(getpid());
    ~Root() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } root;
  const std::string dir = root.path + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace infusion::eval

#endif  // INFUSION_TESTS_EVAL_PRIVATE_TEMP_DIR_H_
