#include "engine/executor/step_plan.h"

namespace infusion::engine {

const char* SpanKindName(SpanKind kind) {
  switch (kind) {
    case SpanKind::kPrefill: return "prefill";
    case SpanKind::kDecode: return "decode";
    case SpanKind::kDenoise: return "denoise";
    case SpanKind::kCommit: return "commit";
  }
  return "unknown";
}

}  // namespace infusion::engine
