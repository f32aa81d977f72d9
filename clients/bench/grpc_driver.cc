#include "clients/bench/grpc_driver.h"

#include "clients/bench/prompts.h"
#include "common/status_macros.h"

namespace infusion::bench {

absl::StatusOr<std::unique_ptr<GrpcDriver>> GrpcDriver::Create(
    const client::ClientOptions& options, const WorkloadParams& workload) {
  ASSIGN_OR_RETURN(std::unique_ptr<client::InfusionClient> c, client::InfusionClient::Create(options));
  return std::unique_ptr<GrpcDriver>(new GrpcDriver(std::move(c), workload));
}

RequestTiming GrpcDriver::Run(WorkKind kind, int index) {
  RequestTiming timing;
  timing.kind = kind;
  client::CallOptions call;
  call.on_event = [&](const v1::GenerateResponse& event) {
    const double now = clock_.Now();
    if (event.has_text()) {
      if (!timing.first_token) timing.first_token = now;
      timing.token_times.push_back(now);
    } else if (event.has_image()) {
      timing.image = now;
    }
    return true;
  };
  absl::StatusOr<client::StreamResult> result;
  timing.start = clock_.Now();
  if (kind == WorkKind::kChat) {
    v1::ChatRequest request;
    v1::Message* m = request.add_messages();
    m->set_role("user");
    m->add_parts()->set_text(ChatPrompt(index));
    // Text only, as in-process and over HTTP: a chat may otherwise draw an image when the model
    // opens one (max_images defaults to 1), and its denoising steps would count as chat.
    request.set_max_images(0);
    request.mutable_text()->set_max_tokens(workload_.chat_max_tokens);
    request.mutable_text()->set_temperature(0);
    request.mutable_text()->set_ignore_eos(true);
    result = client_->Chat(request, call);
  } else {
    v1::TextToImageRequest request;
    request.set_prompt(ImagePrompt(index));
    request.mutable_image()->set_steps(workload_.image_steps);
    request.mutable_image()->set_guidance_scale(workload_.guidance_scale);
    request.mutable_image()->set_seed(static_cast<uint64_t>(index));
    result = client_->TextToImage(request, call);
  }
  timing.end = clock_.Now();
  if (!result.ok()) {
    timing.error = result.status().ToString();
    return timing;
  }
  timing.ok = true;
  timing.output_tokens = result->finish.usage().generated_tokens();
  return timing;
}

}  // namespace infusion::bench
