// infusion-tool: create, inspect and run models outside the server.
//
//   infusion-tool init --config CFG.json --out DIR --seed N [--tokenizer FILE | --tokenizer_corpus FILE]
//   infusion-tool forward --model DIR --input SEQ.json --out OUT.safetensors
//   infusion-tool encode-image --model DIR --image IN.png --out PATCHES.safetensors
//   infusion-tool decode-image --model DIR --patches PATCHES.safetensors --out OUT.png
#include <cstdio>
#include <string>
#include <thread>
#include <vector>


#include "common/process_env.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/version.h"
#include "engine/model/compute_threads.h"
#include "tools/infusion_tool/commands.h"
#include "tools/infusion_tool/flags.h"

ABSL_FLAG(std::string, config, "", "init: model config JSON");
ABSL_FLAG(std::string, out, "", "output path (directory for init, file otherwise)");
ABSL_FLAG(uint64_t, seed, 0, "init: random seed of the weights");
ABSL_FLAG(std::string, tokenizer, "", "init: sentencepiece model to copy into the directory");
ABSL_FLAG(std::string, tokenizer_corpus, "",
          "init: text file (one sentence per line) to train a tokenizer on");
ABSL_FLAG(std::string, codec_weights, INFUSION_SOURCE_DIR "/third_party/taef2",
          "init: folder with taef2_encoder/decoder.safetensors and LICENSE");
ABSL_FLAG(std::string, model, "", "model directory");
ABSL_FLAG(std::string, input, "", "forward: sequence JSON");
ABSL_FLAG(std::string, image, "", "encode-image: PNG or JPEG file");
ABSL_FLAG(std::string, patches, "", "decode-image: safetensors file with a 'patches' tensor");
ABSL_FLAG(int, threads, static_cast<int>(std::thread::hardware_concurrency()),
          "LibTorch intra-op threads (default: number of cores)");

int main(int argc, char** argv) {
  infusion::PrepareComputeProcess(argv);
  infusion::SetVersionFlag("infusion-tool");
  absl::SetProgramUsageMessage(
      "infusion-tool <init|forward|encode-image|decode-image> [flags]; see --help");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) {
    std::fprintf(stderr, "usage: %s\n", absl::ProgramUsageMessage().data());
    return 2;
  }
  infusion::engine::SetComputeThreads(std::max(1, absl::GetFlag(FLAGS_threads)));
  const std::string command = args[1];
  absl::Status status;
  if (command == "init") {
    status = infusion::tool::RunInit();
  } else if (command == "forward") {
    status = infusion::tool::RunForward();
  } else if (command == "encode-image") {
    status = infusion::tool::RunEncodeImage();
  } else if (command == "decode-image") {
    status = infusion::tool::RunDecodeImage();
  } else {
    std::fprintf(stderr, "unknown command '%s'; usage: %s\n", command.c_str(),
                 absl::ProgramUsageMessage().data());
    return 2;
  }
  if (!status.ok()) {
    std::fprintf(stderr, "infusion-tool %s: %s\n", command.c_str(), status.ToString().c_str());
    return 1;
  }
  return 0;
}
