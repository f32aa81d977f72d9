// The subcommands of `infusion`, the command-line client. Each takes the client, the options
// main.cc read from flags, and its positional arguments.
#ifndef INFUSION_CLIENTS_CLI_COMMANDS_H_
#define INFUSION_CLIENTS_CLI_COMMANDS_H_

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "clients/client_lib/infusion_client.h"

namespace infusion::cli {

struct CommandOptions {
  std::string out = "out.png";  // t2i, edit: the image file written
  std::string image_dir = ".";  // chat, generate: where images in replies are written
  std::optional<uint64_t> seed;  // unset: the server draws one
  int steps = 0;                // 0: the model's default
  float guidance = -1.0f;       // < 0: the model's default
  int max_tokens = 0;           // 0: the model's default
  float temperature = -1.0f;    // < 0: the model's default
  int max_images = -1;          // chat, generate: images a reply may hold; < 0: the default
};

using Args = std::vector<std::string>;
using client::InfusionClient;

// infusion t2i PROMPT [-o out.png]
absl::Status RunTextToImage(const InfusionClient& client, const CommandOptions& o,
                            const Args& args);
// infusion caption IMAGE [PROMPT]
absl::Status RunCaption(const InfusionClient& client, const CommandOptions& o, const Args& args);
// infusion edit IMAGE INSTRUCTION [-o out.png]
absl::Status RunEdit(const InfusionClient& client, const CommandOptions& o, const Args& args);
// infusion generate PART... (a part "@FILE" is an image, any other a text)
absl::Status RunGenerate(const InfusionClient& client, const CommandOptions& o, const Args& args);
// infusion chat: one message per line from `in`; "/image PATH" attaches an image to the next
// message, "/reset" forgets the conversation, "/quit" (or end of input) ends it.
absl::Status RunChat(const InfusionClient& client, const CommandOptions& o, std::istream& in);
// infusion info
absl::Status RunInfo(const InfusionClient& client);
// infusion health [SERVICE]: prints the status; an error unless SERVING.
absl::Status RunHealth(const InfusionClient& client, const Args& args);

}  // namespace infusion::cli

#endif  // INFUSION_CLIENTS_CLI_COMMANDS_H_
