// A random tiny model directory for the end-to-end tests, written once per test process by
// `infusion-tool init` (the tests that use it define INFUSION_TOOL_BINARY).
#ifndef INFUSION_TESTS_EVAL_TINY_MODEL_H_
#define INFUSION_TESTS_EVAL_TINY_MODEL_H_

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "clients/eval/accuracy.h"
#include "tests/eval/private_temp_dir.h"

namespace infusion::eval {

inline int RunCommand(const std::string& command) {
  std::fprintf(stderr, "$ %s\n", command.c_str());
  return std::system(command.c_str());
}

inline Json ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return Json::parse(s.str());
}

// tests/data/configs/tiny-unet.json with random weights (seed 1): 32×32 images, 320 pieces.
inline const std::string& TinyModelDir() {
  static const std::string* const dir = [] {
    auto* d = new std::string(PrivateTempDir("eval_tiny_model"));
    const int rc = RunCommand(absl::StrCat(
        INFUSION_TOOL_BINARY, " init --config ", INFUSION_SOURCE_DIR,
        "/tests/data/configs/tiny-unet.json --out ", *d, " --seed 1 --tokenizer_corpus ",
        INFUSION_SOURCE_DIR, "/tests/data/corpus.txt > /dev/null"));
    EXPECT_EQ(rc, 0) << "infusion-tool init failed";
    return d;
  }();
  return *dir;
}

}  // namespace infusion::eval

#endif  // INFUSION_TESTS_EVAL_TINY_MODEL_H_
