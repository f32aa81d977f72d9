#include "clients/eval/server_generator.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"

namespace infusion::eval {

using engine::DecodeImage;
using engine::EncodePng;
using engine::Image;

namespace {

absl::StatusOr<v1::Image> ToProtoImage(const Image& image) {
  ASSIGN_OR_RETURN(std::string png, EncodePng(image));
  v1::Image proto;
  proto.set_data(std::move(png));
  return proto;
}

absl::StatusOr<Image> TheImage(const client::StreamResult& result) {
  if (result.images.size() != 1) {
    return absl::InternalError(absl::StrCat("the server sent ", result.images.size(),
                                            " images (finish reason \"", result.finish.reason(),
                                            "\"), expected one"));
  }
  return DecodeImage(result.images.front().png());
}

}  // namespace

absl::Status ServerGeneratorOptions::Validate() const {
  if (concurrency < 1) {
    return absl::InvalidArgumentError(absl::StrCat("concurrency must be >= 1, got ", concurrency));
  }
  RETURN_IF_ERROR(client.Validate());
  return params.Validate();
}

absl::StatusOr<std::unique_ptr<ServerGenerator>> ServerGenerator::Create(
    const ServerGeneratorOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  ASSIGN_OR_RETURN(std::unique_ptr<client::InfusionClient> client,
                   client::InfusionClient::Create(options.client));
  return std::unique_ptr<ServerGenerator>(new ServerGenerator(options, std::move(client)));
}

absl::StatusOr<std::string> ServerGenerator::ModelName() const {
  ASSIGN_OR_RETURN(v1::ModelInfo info, client_->GetModelInfo());
  return info.name();
}

absl::Status ServerGenerator::ForEach(size_t n,
                                      const std::function<absl::Status(size_t)>& call) const {
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  absl::Status first_error;  // guarded by mu
  std::atomic<bool> failed{false};
  auto worker = [&] {
    for (size_t i; !failed && (i = next++) < n;) {
      absl::Status s = call(i);
      if (s.ok()) continue;
      absl::MutexLock lock(&mu);
      if (first_error.ok()) {
        first_error = absl::Status(s.code(), absl::StrCat("task ", i, ": ", s.message()));
      }
      failed = true;
    }
  };
  std::vector<std::thread> threads;
  const size_t num_threads = std::min<size_t>(n, options_.concurrency);
  for (size_t t = 0; t < num_threads; ++t) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  absl::MutexLock lock(&mu);
  return first_error;
}

v1::TextParams ServerGenerator::TextParams() const {
  v1::TextParams p;
  p.set_max_tokens(options_.params.max_text_tokens);
  p.set_temperature(0);
  return p;
}

v1::ImageParams ServerGenerator::ImageParams(uint64_t seed) const {
  v1::ImageParams p;
  if (options_.params.image_steps) p.set_steps(*options_.params.image_steps);
  if (options_.params.guidance_scale) p.set_guidance_scale(*options_.params.guidance_scale);
  p.set_seed(seed);
  return p;
}

absl::StatusOr<std::vector<Image>> ServerGenerator::TextToImage(
    const std::vector<TextToImageTask>& tasks) {
  std::vector<Image> images(tasks.size());
  RETURN_IF_ERROR(ForEach(tasks.size(), [&](size_t i) -> absl::Status {
    v1::TextToImageRequest request;
    request.set_prompt(tasks[i].prompt);
    *request.mutable_image() = ImageParams(tasks[i].seed);
    ASSIGN_OR_RETURN(client::StreamResult result, client_->TextToImage(request));
    ASSIGN_OR_RETURN(images[i], TheImage(result));
    return absl::OkStatus();
  }));
  return images;
}

absl::StatusOr<std::vector<std::string>> ServerGenerator::Caption(
    const std::vector<CaptionTask>& tasks) {
  std::vector<std::string> captions(tasks.size());
  RETURN_IF_ERROR(ForEach(tasks.size(), [&](size_t i) -> absl::Status {
    v1::CaptionRequest request;
    ASSIGN_OR_RETURN(*request.mutable_image(), ToProtoImage(tasks[i].image));
    *request.mutable_text() = TextParams();
    ASSIGN_OR_RETURN(client::StreamResult result, client_->Caption(request));
    captions[i] = std::move(result.text);
    return absl::OkStatus();
  }));
  return captions;
}

absl::StatusOr<std::vector<std::string>> ServerGenerator::Chat(const std::vector<ChatTask>& tasks) {
  std::vector<std::string> replies(tasks.size());
  RETURN_IF_ERROR(ForEach(tasks.size(), [&](size_t i) -> absl::Status {
    v1::ChatRequest request;
    v1::Message* message = request.add_messages();
    message->set_role("user");
    ASSIGN_OR_RETURN(*message->add_parts()->mutable_image(), ToProtoImage(tasks[i].image));
    message->add_parts()->set_text(tasks[i].question);
    *request.mutable_text() = TextParams();
    request.set_max_images(0);  // answers are words
    ASSIGN_OR_RETURN(client::StreamResult result, client_->Chat(request));
    replies[i] = std::move(result.text);
    return absl::OkStatus();
  }));
  return replies;
}

absl::StatusOr<std::vector<Image>> ServerGenerator::Edit(const std::vector<EditTask>& tasks) {
  std::vector<Image> images(tasks.size());
  RETURN_IF_ERROR(ForEach(tasks.size(), [&](size_t i) -> absl::Status {
    v1::EditImageRequest request;
    ASSIGN_OR_RETURN(*request.mutable_image(), ToProtoImage(tasks[i].source));
    request.set_instruction(tasks[i].instruction);
    *request.mutable_image_params() = ImageParams(tasks[i].seed);
    ASSIGN_OR_RETURN(client::StreamResult result, client_->EditImage(request));
    ASSIGN_OR_RETURN(images[i], TheImage(result));
    return absl::OkStatus();
  }));
  return images;
}

}  // namespace infusion::eval
