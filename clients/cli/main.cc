// infusion: the command-line client of infusion-server.
//
//   infusion t2i "a red circle" -o out.png
//   infusion caption img.png ["A photo of"]
//   infusion chat                      (one message per line; /image PATH attaches an image)
//   infusion edit img.png "make the circle blue" -o out.png
//   infusion generate "Once upon a time" @img.png "and then"
//   infusion info | health
//
// Text streams to stdout as it arrives; image steps show a progress bar on stderr; every image
// written is reported with the seed that drew it (`--seed N` draws it again).
// $INFUSION_SERVER and $INFUSION_API_KEY stand in for --server and --api_key.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "clients/cli/commands.h"
#include "clients/client_lib/infusion_client.h"
#include "common/version.h"

ABSL_FLAG(std::string, server, "localhost:50051",
          "infusion-server address, host:port (default: $INFUSION_SERVER if set)");
ABSL_FLAG(std::string, api_key, "",
          "API key, sent as 'authorization: Bearer KEY' (default: $INFUSION_API_KEY if set)");
ABSL_FLAG(absl::Duration, timeout, absl::InfiniteDuration(), "deadline of the call, e.g. 30s");
ABSL_FLAG(bool, tls, false, "connect with TLS");
ABSL_FLAG(std::string, tls_root_certs, "", "PEM file of the CAs to trust (default: the system's)");
ABSL_FLAG(std::string, out, "out.png", "t2i, edit: the image file to write (also -o)");
ABSL_FLAG(std::string, image_dir, ".", "chat, generate: where images in replies are written");
// A string, not an integer flag: seeds span all of uint64 (the server draws them so), and absl's
// integer flags have no "unset" value.
ABSL_FLAG(std::string, seed, "",
          "sampling seed, 0 to 18446744073709551615 (as printed after each image); empty: random");
ABSL_FLAG(int, steps, 0, "denoising steps; 0: the model's default");
ABSL_FLAG(float, guidance, -1.0f, "classifier-free guidance scale; < 0: the model's default");
ABSL_FLAG(int, max_tokens, 0, "longest reply in tokens; 0: the model's default");
ABSL_FLAG(float, temperature, -1.0f, "sampling temperature (0 = greedy); < 0: the model's default");
ABSL_FLAG(int, max_images, -1,
          "chat, generate: images a reply may hold; < 0: the server's default");

namespace {

constexpr char kUsage[] =
    "infusion <t2i|caption|chat|edit|generate|info|health> [args] [flags]\n"
    "  t2i PROMPT [-o out.png]          text to image\n"
    "  caption IMAGE [PROMPT]           describe an image\n"
    "  chat                             a conversation; /image PATH attaches an image\n"
    "  edit IMAGE INSTRUCTION [-o out]  change an image\n"
    "  generate PART...                 interleaved prompt; @FILE is an image\n"
    "  info                             the served model\n"
    "  health [SERVICE]                 SERVING or not";

// $INFUSION_SERVER and $INFUSION_API_KEY become the defaults of --server and --api_key, so that
// a shell can say once where the server is and how to reach it (an API key kept out of `ps` and
// the shell history); a flag given on the command line still wins. An empty variable is unset.
void DefaultsFromEnvironment() {
  if (const char* server = std::getenv("INFUSION_SERVER"); server != nullptr && *server != 0) {
    absl::SetFlag(&FLAGS_server, server);
  }
  if (const char* key = std::getenv("INFUSION_API_KEY"); key != nullptr && *key != 0) {
    absl::SetFlag(&FLAGS_api_key, key);
  }
}

// Flags as users type them: "--api-key" for --api_key, "-o" for --out.
std::vector<std::string> NormalizeFlags(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    std::string& arg = args[i];
    if (arg == "--") break;
    if (arg == "-o") {
      arg = "--out";
    } else if (absl::StartsWith(arg, "--")) {
      const size_t end = std::min(arg.find('='), arg.size());
      for (size_t j = 2; j < end; ++j) {
        if (arg[j] == '-') arg[j] = '_';
      }
    }
  }
  return args;
}

absl::Status Run(const std::string& command, const infusion::cli::Args& args) {
  using namespace infusion::cli;  // NOLINT: the commands
  infusion::client::ClientOptions options;
  options.server = absl::GetFlag(FLAGS_server);
  options.api_key = absl::GetFlag(FLAGS_api_key);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  options.tls = absl::GetFlag(FLAGS_tls);
  if (const std::string path = absl::GetFlag(FLAGS_tls_root_certs); !path.empty()) {
    std::ifstream file(path);
    if (!file) return absl::NotFoundError(path + ": cannot open");
    options.tls_root_certs.assign(std::istreambuf_iterator<char>(file), {});
  }
  absl::StatusOr<std::unique_ptr<infusion::client::InfusionClient>> client =
      infusion::client::InfusionClient::Create(options);
  if (!client.ok()) return client.status();

  CommandOptions o;
  if (const std::string seed = absl::GetFlag(FLAGS_seed); !seed.empty()) {
    uint64_t value = 0;
    if (!absl::SimpleAtoi(seed, &value)) {
      return absl::InvalidArgumentError("--seed: '" + seed + "' is not an integer in [0, 2^64)");
    }
    o.seed = value;
  }
  o.out = absl::GetFlag(FLAGS_out);
  o.image_dir = absl::GetFlag(FLAGS_image_dir);
  o.steps = absl::GetFlag(FLAGS_steps);
  o.guidance = absl::GetFlag(FLAGS_guidance);
  o.max_tokens = absl::GetFlag(FLAGS_max_tokens);
  o.temperature = absl::GetFlag(FLAGS_temperature);
  o.max_images = absl::GetFlag(FLAGS_max_images);

  const InfusionClient& c = **client;
  if (command == "t2i") return RunTextToImage(c, o, args);
  if (command == "caption") return RunCaption(c, o, args);
  if (command == "edit") return RunEdit(c, o, args);
  if (command == "generate") return RunGenerate(c, o, args);
  if (command == "chat") {
    if (!args.empty()) return absl::InvalidArgumentError("usage: infusion chat");
    return RunChat(c, o, std::cin);
  }
  if (command == "info") return RunInfo(c);
  if (command == "health") return RunHealth(c, args);
  return absl::InvalidArgumentError("unknown command '" + command + "'\nusage: " + kUsage);
}

}  // namespace

int main(int argc, char** argv) {
  infusion::SetVersionFlag("infusion");
  absl::SetProgramUsageMessage(kUsage);
  DefaultsFromEnvironment();  // before parsing: the command line overrides
  std::vector<std::string> normalized = NormalizeFlags(argc, argv);
  std::vector<char*> raw;
  for (std::string& arg : normalized) raw.push_back(arg.data());
  std::vector<char*> positional = absl::ParseCommandLine(static_cast<int>(raw.size()), raw.data());
  if (positional.size() < 2) {
    std::fprintf(stderr, "usage: %s\n", kUsage);
    return 2;
  }
  const infusion::cli::Args args(positional.begin() + 2, positional.end());
  const absl::Status status = Run(positional[1], args);
  if (!status.ok()) {
    std::fprintf(stderr, "infusion %s: %s\n", positional[1], status.ToString().c_str());
    return 1;
  }
  return 0;
}
