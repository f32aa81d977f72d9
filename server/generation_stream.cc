#include "server/generation_stream.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "infusion/v1/infusion.pb.h"
#include "server/grpc_status.h"

namespace infusion::server {

using scheduler::FinishReason;
using scheduler::IsNormalEnd;
using scheduler::RequestEvent;
using scheduler::RequestId;

namespace {

class RejectedStream : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RejectedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

void RunningRequests::Add(RequestId id) {
  absl::MutexLock lock(&mu_);
  ids_.insert(id);
}

void RunningRequests::Remove(RequestId id) {
  absl::MutexLock lock(&mu_);
  ids_.erase(id);
}

int RunningRequests::CancelAll(serving::InferenceEngine& engine) {
  std::vector<RequestId> ids;
  {
    absl::MutexLock lock(&mu_);
    ids.assign(ids_.begin(), ids_.end());
  }
  // Outside the lock: a cancelled request's finish event may reach Remove on another thread.
  for (RequestId id : ids) engine.Cancel(id);
  return static_cast<int>(ids.size());
}

bool RunningRequests::AwaitEmpty(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(
      absl::Condition(
          +[](std::unordered_set<RequestId>* ids) { return ids->empty(); }, &ids_),
      deadline);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* GenerationStream::Reject(const grpc::Status& status) {
  return new RejectedStream(status);
}

GenerationStream* GenerationStream::Start(const StreamEnvironment& env,
                                          grpc::CallbackServerContext* context, std::string rpc,
                                          std::string request_id, SubmitFn submit,
                                          absl::Time arrival, CallGate::Ticket ticket) {
  auto* stream = new GenerationStream(env, context, std::move(rpc), std::move(request_id),
                                      arrival, std::move(ticket));
  stream->Submit(submit);
  return stream;
}

GenerationStream::GenerationStream(const StreamEnvironment& env,
                                   grpc::CallbackServerContext* context, std::string rpc,
                                   std::string request_id, absl::Time arrival,
                                   CallGate::Ticket ticket)
    : env_(env),
      context_(context),
      ticket_(std::move(ticket)),
      recorder_(env.metrics, Frontend::kGrpc, std::move(rpc), std::move(request_id), arrival) {}

void GenerationStream::Submit(SubmitFn submit) {
  events_ = std::make_shared<EventQueue>([this] { env_.workers->Post([this] { Pump(); }); });
  absl::StatusOr<RequestId> id = submit(events_);
  if (!id.ok()) {
    End(ToGrpcStatus(id.status()));
    return;
  }
  id_ = *id;
  submitted_ = true;
  // Removed in OnDone, which gRPC calls only after this handler has returned. The request may
  // finish before the call does: cancelling a finished request does nothing.
  if (env_.running != nullptr) env_.running->Add(id_);
}

void GenerationStream::Pump() {
  while (std::optional<TimedEvent> next = events_->Pop()) {
    recorder_.Observe(next->event, next->time);
    const bool last = next->event.type == RequestEvent::Type::kFinish;
    if (!writes_failed_) {
      const absl::Status built = BuildResponse(next->event);
      if (built.ok()) {
        if (last) final_status_ = FinishStatus(next->event);
        StartWrite(&write_buffer_);
        return;  // OnWriteDone continues
      }
      // The call cannot go on: its request is cancelled and the rest of its events dropped.
      writes_failed_ = true;
      error_ =
          grpc::Status(grpc::StatusCode::INTERNAL, absl::StrCat("response: ", built.message()));
      if (!last) env_.engine->Cancel(id_);
    }
    if (last) {
      End(error_.value_or(FinishStatus(next->event)));
      return;
    }
  }
}

absl::Status GenerationStream::BuildResponse(const RequestEvent& event) {
  absl::StatusOr<v1::GenerateResponse> response = env_.converter->ToResponse(event);
  if (!response.ok()) return response.status();
  write_buffer_.Clear();  // the serializer wants an empty buffer; the last write is done with it
  bool own_buffer = false;
  const grpc::Status serialized = grpc::SerializationTraits<v1::GenerateResponse>::Serialize(
      *response, &write_buffer_, &own_buffer);
  if (!serialized.ok()) return absl::InternalError(serialized.error_message());
  return absl::OkStatus();
}

void GenerationStream::OnWriteDone(bool ok) {
  if (!ok && !writes_failed_) {
    writes_failed_ = true;  // the client is gone; gRPC reports it to OnCancel as well
    env_.engine->Cancel(id_);
  }
  if (final_status_.has_value()) {
    End(*final_status_);
    return;
  }
  env_.workers->Post([this] { Pump(); });
}

void GenerationStream::OnCancel() {
  if (context_->deadline() <= std::chrono::system_clock::now()) deadline_passed_ = true;
  if (submitted_) env_.engine->Cancel(id_);
}

void GenerationStream::OnDone() {
  if (submitted_ && env_.running != nullptr) env_.running->Remove(id_);
  delete this;
}

grpc::Status GenerationStream::FinishStatus(const RequestEvent& finish) const {
  if (finish.reason == FinishReason::kCancelled && deadline_passed_) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded");
  }
  if (finish.reason == FinishReason::kError && finish.status.ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "generation failed");
  }
  return ToGrpcStatus(finish.status);
}

void GenerationStream::End(const grpc::Status& status) {
  recorder_.End(static_cast<absl::StatusCode>(status.error_code()));
  Finish(status);
}

}  // namespace infusion::server
