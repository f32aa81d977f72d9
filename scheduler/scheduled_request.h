// The scheduler's per-request state and the records of one step's decisions. Internal to
// scheduler/ (scheduler.cc); engine thread only.
#ifndef INFUSION_SCHEDULER_SCHEDULED_REQUEST_H_
#define INFUSION_SCHEDULER_SCHEDULED_REQUEST_H_

#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "engine/executor/step_plan.h"
#include "scheduler/kv_sequence.h"
#include "scheduler/request.h"
#include "scheduler/request_state.h"

namespace infusion::scheduler {

// Everything the scheduler knows about one request. Owned by the engine thread.
struct ScheduledRequest {
  ScheduledRequest(RequestId id, engine::SeqId cond_kv, engine::SeqId uncond_kv, int num_patches,
                   int32_t image_token)
      : id(id),
        cond(cond_kv, num_patches, image_token),
        uncond(uncond_kv, num_patches, image_token) {}

  const RequestId id;
  Request req;
  std::shared_ptr<EventSink> sink;
  RequestState state = RequestState::kQueued;
  absl::Time submit_time, admit_time;

  KvSequence cond;    // the request's own sequence: prompt, generated text, committed images
  KvSequence uncond;  // the classifier-free-guidance prefix while an image is drawn
  bool in_image = false;  // an image is being drawn (the runner holds its latents and step)
  bool uses_cfg = false;  // ... with guidance
  int images_drawn = 0;
  Usage usage;
};

// A planned run of positions of one sequence that computes (and writes) K/V.
struct Fill {
  ScheduledRequest* seq;
  bool uncond;
  engine::SpanKind kind;
  int begin;
  int end;
  bool want_logits;

  KvSequence& kv() const { return uncond ? seq->uncond : seq->cond; }
};

// Side-effect-free decisions of one step.
struct Decisions {
  std::vector<Fill> fills;
  std::vector<ScheduledRequest*> denoise;
};

// Which plan span produced what, for applying the results.
struct SpanRef {
  enum class Role { kFill, kDenoiseCond, kDenoiseUncond };
  Role role;
  ScheduledRequest* seq;
  int fill_index;  // kFill: index into Decisions::fills
};

}  // namespace infusion::scheduler

#endif  // INFUSION_SCHEDULER_SCHEDULED_REQUEST_H_
