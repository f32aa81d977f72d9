#include "absl/strings/str_cat.h"
#include "scheduler/scheduler.h"

namespace infusion::scheduler {

using engine::ModelConfig;

SchedulerModelInfo SchedulerModelInfo::FromConfig(const ModelConfig& config) {
  SchedulerModelInfo info;
  info.bos_token_id = config.tokens.bos;
  info.boi_token_id = config.tokens.boi;
  info.eoi_token_id = config.tokens.eoi;
  return info;
}

absl::Status SchedulerOptions::Validate() const {
  auto bad = [](const char* field, const char* what) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler: ", field, " ", what));
  };
  if (max_tokens_per_step < 1) return bad("max_tokens_per_step", "must be positive");
  if (!(max_image_share > 0 && max_image_share <= 1)) return bad("max_image_share", "must be in (0, 1]");
  if (max_prefill_chunk < 1) return bad("max_prefill_chunk", "must be positive");
  if (max_running < 1) return bad("max_running", "must be positive");
  if (max_queued < 1) return bad("max_queued", "must be positive");
  return absl::OkStatus();
}

}  // namespace infusion::scheduler
