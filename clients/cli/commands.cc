#include "clients/cli/commands.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "clients/cli/progress_bar.h"

namespace infusion::cli {
namespace {

absl::Status Usage(absl::string_view usage) {
  return absl::InvalidArgumentError(absl::StrCat("usage: infusion ", usage));
}

absl::StatusOr<v1::Image> ReadImage(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream bytes;
  bytes << file.rdbuf();
  v1::Image image;
  image.set_data(bytes.str());
  return image;
}

absl::Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream file(path, std::ios::binary);
  file << bytes;
  if (!file.good()) return absl::InternalError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

// Writes an image and says which seed drew it: `--seed N` with the same prompt and parameters
// draws it again.
absl::Status WriteImage(const std::string& path, const std::string& png, uint64_t seed) {
  if (absl::Status s = WriteFile(path, png); !s.ok()) return s;
  std::fprintf(stderr, "wrote %s (seed %llu)\n", path.c_str(),
               static_cast<unsigned long long>(seed));
  return absl::OkStatus();
}

v1::TextParams TextParams(const CommandOptions& o) {
  v1::TextParams p;
  if (o.max_tokens > 0) p.set_max_tokens(o.max_tokens);
  if (o.temperature >= 0) p.set_temperature(o.temperature);
  if (o.seed.has_value()) p.set_seed(*o.seed);
  return p;
}

v1::ImageParams ImageParams(const CommandOptions& o) {
  v1::ImageParams p;
  if (o.steps > 0) p.set_steps(o.steps);
  if (o.guidance >= 0) p.set_guidance_scale(o.guidance);
  if (o.seed.has_value()) p.set_seed(*o.seed);
  return p;
}

// Shows a stream as it arrives: text on stdout, denoising progress as a bar on stderr; keeps the
// reply's parts in order (text and images interleaved) for a conversation's history.
class StreamPrinter {
 public:
  client::CallOptions Options() {
    client::CallOptions call;
    call.on_event = [this](const v1::GenerateResponse& response) {
      Show(response);
      return true;
    };
    return call;
  }
  // Ends the output's last line.
  void Done() {
    bar_.Done();
    if (text_open_) std::fputc('\n', stdout);
    std::fflush(stdout);
    text_open_ = false;
  }
  const std::vector<v1::Part>& parts() const { return parts_; }
  // The seed of each image in parts(), in order.
  const std::vector<uint64_t>& seeds() const { return seeds_; }

 private:
  void Show(const v1::GenerateResponse& response) {
    switch (response.event_case()) {
      case v1::GenerateResponse::kText:
        bar_.Done();
        std::fputs(response.text().text().c_str(), stdout);
        std::fflush(stdout);
        text_open_ = true;
        if (parts_.empty() || !parts_.back().has_text()) parts_.emplace_back().set_text("");
        parts_.back().mutable_text()->append(response.text().text());
        break;
      case v1::GenerateResponse::kProgress:
        if (text_open_) std::fputc('\n', stdout);
        text_open_ = false;
        bar_.Update(response.progress().step(), response.progress().total_steps());
        break;
      case v1::GenerateResponse::kImage:
        bar_.Done();
        parts_.emplace_back().mutable_image()->set_data(response.image().png());
        seeds_.push_back(response.image().seed());
        break;
      case v1::GenerateResponse::kFinish:
      case v1::GenerateResponse::EVENT_NOT_SET:
        break;
    }
  }

  ProgressBar bar_{stderr};
  bool text_open_ = false;
  std::vector<v1::Part> parts_;
  std::vector<uint64_t> seeds_;
};

// Writes each image of the printer's reply to dir/STEM-N.png, N counting on from *count.
absl::Status SaveImages(const StreamPrinter& printer, const std::string& dir,
                        const std::string& stem, int* count) {
  size_t image = 0;
  for (const v1::Part& part : printer.parts()) {
    if (!part.has_image()) continue;
    const absl::Status s = WriteImage(absl::StrCat(dir, "/", stem, "-", ++*count, ".png"),
                                      part.image().data(), printer.seeds()[image++]);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// Runs one image-producing call and writes its image to `out`.
absl::Status WriteImageResult(absl::StatusOr<client::StreamResult> result, StreamPrinter* printer,
                              const std::string& out) {
  printer->Done();
  if (!result.ok()) return result.status();
  if (result->images.empty()) {
    return absl::InternalError(absl::StrCat("no image (finish: ", result->finish.reason(), ")"));
  }
  return WriteImage(out, result->images.front().png(), result->images.front().seed());
}

}  // namespace

absl::Status RunTextToImage(const InfusionClient& client, const CommandOptions& o,
                            const Args& args) {
  if (args.size() != 1) return Usage("t2i PROMPT [-o out.png]");
  v1::TextToImageRequest request;
  request.set_prompt(args[0]);
  *request.mutable_image() = ImageParams(o);
  StreamPrinter printer;
  return WriteImageResult(client.TextToImage(request, printer.Options()), &printer, o.out);
}

absl::Status RunEdit(const InfusionClient& client, const CommandOptions& o, const Args& args) {
  if (args.size() != 2) return Usage("edit IMAGE INSTRUCTION [-o out.png]");
  v1::EditImageRequest request;
  absl::StatusOr<v1::Image> image = ReadImage(args[0]);
  if (!image.ok()) return image.status();
  *request.mutable_image() = *std::move(image);
  request.set_instruction(args[1]);
  *request.mutable_image_params() = ImageParams(o);
  StreamPrinter printer;
  return WriteImageResult(client.EditImage(request, printer.Options()), &printer, o.out);
}

absl::Status RunCaption(const InfusionClient& client, const CommandOptions& o, const Args& args) {
  if (args.empty() || args.size() > 2) return Usage("caption IMAGE [PROMPT]");
  v1::CaptionRequest request;
  absl::StatusOr<v1::Image> image = ReadImage(args[0]);
  if (!image.ok()) return image.status();
  *request.mutable_image() = *std::move(image);
  if (args.size() == 2) request.set_prompt(args[1]);
  *request.mutable_text() = TextParams(o);
  StreamPrinter printer;
  absl::StatusOr<client::StreamResult> result = client.Caption(request, printer.Options());
  printer.Done();
  return result.status();
}

absl::Status RunGenerate(const InfusionClient& client, const CommandOptions& o, const Args& args) {
  if (args.empty()) return Usage("generate PART... (\"@FILE\" is an image, anything else text)");
  v1::GenerateRequest request;
  for (const std::string& arg : args) {
    absl::string_view path = arg;
    if (absl::ConsumePrefix(&path, "@")) {
      absl::StatusOr<v1::Image> image = ReadImage(std::string(path));
      if (!image.ok()) return image.status();
      *request.add_parts()->mutable_image() = *std::move(image);
    } else {
      request.add_parts()->set_text(arg);
    }
  }
  *request.mutable_text() = TextParams(o);
  *request.mutable_image() = ImageParams(o);
  if (o.max_images >= 0) request.set_max_images(o.max_images);
  StreamPrinter printer;
  absl::StatusOr<client::StreamResult> result = client.Generate(request, printer.Options());
  printer.Done();
  if (!result.ok()) return result.status();
  int count = 0;
  return SaveImages(printer, o.image_dir, "generated", &count);
}

absl::Status RunChat(const InfusionClient& client, const CommandOptions& o, std::istream& in) {
  std::vector<v1::Message> history;
  std::vector<v1::Part> attached;
  int images_saved = 0;
  // The banner and the "> " prompt are for a person at a terminal, not for piped input.
  const bool interactive = &in == &std::cin && isatty(STDIN_FILENO) == 1;
  if (interactive) {
    std::fputs("chat: one message per line; /image PATH attaches an image, /reset, /quit\n",
               stderr);
  }
  std::string line;
  while ((interactive && std::fputs("> ", stderr) >= 0), std::getline(in, line)) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty()) continue;
    if (text == "/quit" || text == "/exit") break;
    if (text == "/reset") {
      history.clear();
      attached.clear();
      continue;
    }
    if (absl::ConsumePrefix(&text, "/image ")) {
      absl::StatusOr<v1::Image> image = ReadImage(std::string(absl::StripAsciiWhitespace(text)));
      if (!image.ok()) {
        std::fprintf(stderr, "%s\n", std::string(image.status().message()).c_str());
        continue;
      }
      *attached.emplace_back().mutable_image() = *std::move(image);
      if (interactive) std::fputs("(image attached to your next message)\n", stderr);
      continue;
    }
    v1::Message user;
    user.set_role("user");
    for (v1::Part& part : attached) *user.add_parts() = std::move(part);
    attached.clear();
    user.add_parts()->set_text(std::string(text));

    v1::ChatRequest request;
    for (const v1::Message& m : history) *request.add_messages() = m;
    *request.add_messages() = user;
    *request.mutable_text() = TextParams(o);
    *request.mutable_image() = ImageParams(o);
    if (o.max_images >= 0) request.set_max_images(o.max_images);
    StreamPrinter printer;
    absl::StatusOr<client::StreamResult> result = client.Chat(request, printer.Options());
    printer.Done();
    if (!result.ok()) {  // the conversation goes on without the failed turn
      std::fprintf(stderr, "error: %s\n", result.status().ToString().c_str());
      continue;
    }
    history.push_back(std::move(user));
    v1::Message& reply = history.emplace_back();
    reply.set_role("assistant");
    for (const v1::Part& part : printer.parts()) *reply.add_parts() = part;
    if (absl::Status s = SaveImages(printer, o.image_dir, "reply", &images_saved);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status RunInfo(const InfusionClient& client) {
  absl::StatusOr<v1::ModelInfo> info = client.GetModelInfo();
  if (!info.ok()) return info.status();
  std::fputs(info->DebugString().c_str(), stdout);
  return absl::OkStatus();
}

absl::Status RunHealth(const InfusionClient& client, const Args& args) {
  if (args.size() > 1) return Usage("health [SERVICE]");
  absl::StatusOr<client::ServingStatus> status = client.CheckHealth(args.empty() ? "" : args[0]);
  if (!status.ok()) return status.status();
  const std::string name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(*status);
  std::printf("%s\n", name.c_str());
  if (*status != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError(name);
  }
  return absl::OkStatus();
}

}  // namespace infusion::cli
