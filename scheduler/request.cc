#include "scheduler/request.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace infusion::scheduler {

using engine::ExecutorInfo;
using engine::PromptPart;

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

bool IsNormalEnd(FinishReason reason) {
  return reason == FinishReason::kStop || reason == FinishReason::kLength ||
         reason == FinishReason::kImage;
}

int PromptPositions(const std::vector<PromptPart>& prompt, int num_patches) {
  int n = 0;
  for (const PromptPart& part : prompt) {
    n += part.is_image() ? num_patches : static_cast<int>(part.tokens.size());
  }
  return n;
}

absl::Status ValidateRequest(const Request& request, const ExecutorInfo& info, int boi_token_id) {
  RETURN_IF_ERROR(request.text.Validate());
  if (request.starts_with_image || request.max_images > 0) RETURN_IF_ERROR(request.image.Validate());
  for (const auto& part : request.prompt) {
    if (part.is_image() &&
        static_cast<int>(part.image_patches.size()) != info.num_patches * info.patch_dim) {
      return absl::InvalidArgumentError("prompt image has the wrong number of latent values");
    }
    for (int32_t t : part.tokens) {
      if (t < 0 || t >= info.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("prompt token id ", t, " out of range"));
      }
    }
  }
  const int positions = PromptPositions(request.prompt, info.num_patches);
  if (positions == 0) return absl::InvalidArgumentError("empty prompt");
  const int image_positions = request.starts_with_image ? info.num_patches + 1 : 0;
  if (positions + image_positions >= info.max_positions) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt of ", positions, " positions leaves no room in the model's ", info.max_positions));
  }
  const int blocks = (positions + image_positions + info.block_size) / info.block_size;
  if (blocks > info.num_kv_blocks) {
    return absl::InvalidArgumentError("prompt does not fit in the KV cache");
  }
  if (request.starts_with_image) {
    auto last = std::find_if(request.prompt.rbegin(), request.prompt.rend(), [](const PromptPart& p) {
      return p.is_image() || !p.tokens.empty();
    });
    if (last->is_image() || last->tokens.back() != boi_token_id) {
      return absl::InvalidArgumentError("an image request's prompt must end with <boi>");
    }
  }
  return absl::OkStatus();
}

}  // namespace infusion::scheduler
