// One streaming call (Generate, TextToImage, Caption, Chat, EditImage): submits the converted
// request to the engine and writes the request's events to the client as GenerateResponses.
//
// Threads: the scheduler's engine thread only queues events (EventQueue); a WorkerPool thread
// turns each into a response (decoding images to PNG) and starts its write; gRPC runs
// OnWriteDone, OnCancel and OnDone. One write is in flight at a time; OnWriteDone hands the next
// one back to the pool. OnCancel (client gone, or its deadline passed) cancels the request in the
// engine, which frees its KV blocks at the next step and ends the event stream.
//
// The call ends with the status of the scheduler's Finish event: OK for stop, length and image;
// CANCELLED, DEADLINE_EXCEEDED or the executor's error otherwise. A Finish message is written
// before the status in every case, so clients see the reason and the usage.
#ifndef INFUSION_SERVER_GENERATION_STREAM_H_
#define INFUSION_SERVER_GENERATION_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/request.h"
#include "server/call_gate.h"
#include "server/event_queue.h"
#include "server/proto_converter.h"
#include "server/server_metrics.h"
#include "server/worker_pool.h"
#include "serving/inference_engine.h"

namespace infusion::server {

// The engine requests of the streams whose Finish event has not come yet, so that a drain whose
// grace ran out can cancel them through the engine: each call then writes its finish event
// `cancelled` and ends with CANCELLED (docs/api.md, section 4), where gRPC's own shutdown would
// end it with UNAVAILABLE and no finish event.
class RunningRequests {
 public:
  void Add(scheduler::RequestId id);
  void Remove(scheduler::RequestId id);
  // Cancels every request running now; returns how many.
  int CancelAll(serving::InferenceEngine& engine);
  // Waits until every call added has ended (OnDone) or `deadline` passes; true when all have.
  bool AwaitEmpty(absl::Time deadline);

 private:
  absl::Mutex mu_;
  std::unordered_set<scheduler::RequestId> ids_ ABSL_GUARDED_BY(mu_);
};

// What every stream uses; owned by the server, outliving every call.
struct StreamEnvironment {
  serving::InferenceEngine* engine = nullptr;
  const ProtoConverter* converter = nullptr;
  WorkerPool* workers = nullptr;
  ServerMetrics* metrics = nullptr;
  RunningRequests* running = nullptr;
};

class GenerationStream : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  // Submits the call's request by calling `submit` (one of InferenceEngine's Submit calls, given
  // the stream's sink) and streams its events; a refused submission (invalid request, queue full,
  // request that can never run) ends the call at once with its status. `arrival` is when the call
  // reached the server; `ticket` is held until the call is done, when the stream deletes itself.
  // `request_id` names the call in its log line (RequestIdFrom).
  using SubmitFn = absl::FunctionRef<absl::StatusOr<scheduler::RequestId>(
      std::shared_ptr<scheduler::EventSink>)>;
  static GenerationStream* Start(const StreamEnvironment& env, grpc::CallbackServerContext* context,
                                 std::string rpc, std::string request_id, SubmitFn submit,
                                 absl::Time arrival, CallGate::Ticket ticket);

  // A call refused before it reached the engine (authentication, parsing).
  static grpc::ServerWriteReactor<grpc::ByteBuffer>* Reject(const grpc::Status& status);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  GenerationStream(const StreamEnvironment& env, grpc::CallbackServerContext* context,
                   std::string rpc, std::string request_id, absl::Time arrival,
                   CallGate::Ticket ticket);
  void Submit(SubmitFn submit);
  // Worker thread: takes the next event and starts its write; returns when a write is in flight,
  // the call is finished, or no event is left (the next one wakes the pump again).
  void Pump();
  // Serializes the response to `event` into write_buffer_.
  absl::Status BuildResponse(const scheduler::RequestEvent& event);
  grpc::Status FinishStatus(const scheduler::RequestEvent& finish) const;
  void End(const grpc::Status& status);

  const StreamEnvironment env_;
  grpc::CallbackServerContext* const context_;
  const CallGate::Ticket ticket_;
  std::shared_ptr<EventQueue> events_;  // shared with the engine, which may outlive the call

  // Set by Submit, which runs in the method handler: gRPC sets the reactor up, and may call
  // OnCancel, only after the handler returns.
  bool submitted_ = false;
  scheduler::RequestId id_ = 0;
  std::atomic<bool> deadline_passed_{false};  // OnCancel ran because the deadline passed

  // The pump's state: touched by one thread at a time, handed over by StartWrite / OnWriteDone /
  // WorkerPool::Post, each of which orders memory.
  grpc::ByteBuffer write_buffer_;             // the response being written
  bool writes_failed_ = false;                // the client is gone: drain events, write nothing
  std::optional<grpc::Status> final_status_;  // set once the Finish event's write started
  std::optional<grpc::Status> error_;         // a response could not be built: the call's status
  CallRecorder recorder_;                     // metrics and the log line
};

}  // namespace infusion::server

#endif  // INFUSION_SERVER_GENERATION_STREAM_H_
