#include "scheduler/request.h"

namespace infusion {

const char* TaskKindName(TaskKind kind) {
  switch (kind) {
    case TaskKind::kText: return "text";
    case TaskKind::kTextToImage: return "text_to_image";
    case TaskKind::kCaption: return "caption";
    case TaskKind::kChat: return "chat";
    case TaskKind::kEdit: return "edit";
  }
  return "unknown";
}

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kImage: return "image";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
    case FinishReason::kTimeout: return "timeout";
  }
  return "unknown";
}

}  // namespace infusion
