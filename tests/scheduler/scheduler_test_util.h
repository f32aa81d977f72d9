// Helpers for scheduler tests: requests, a recording event sink, a fake clock, and a one-line
// description of each step's plan ("A:prefill/8 B:decode/1 C:denoise/4").
#ifndef INFUSION_TESTS_SCHEDULER_SCHEDULER_TEST_UTIL_H_
#define INFUSION_TESTS_SCHEDULER_SCHEDULER_TEST_UTIL_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "engine/output/output_processor.h"
#include "scheduler/scheduler.h"
#include "tests/scheduler/fake_executor.h"

namespace infusion::testing {

class RecordingSink : public scheduler::EventSink {
 public:
  void OnEvent(scheduler::RequestEvent event) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }
  std::vector<scheduler::RequestEvent> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  int CountType(scheduler::RequestEvent::Type type) const {
    int n = 0;
    for (const auto& e : events()) n += e.type == type;
    return n;
  }
  bool finished() const { return CountType(scheduler::RequestEvent::Type::kFinish) > 0; }
  const scheduler::RequestEvent* finish() const {
    absl::MutexLock lock(&mu_);
    for (const auto& e : events_) {
      if (e.type == scheduler::RequestEvent::Type::kFinish) return &e;
    }
    return nullptr;
  }
  std::string text() const {
    std::string s;
    for (const auto& e : events()) {
      if (e.type == scheduler::RequestEvent::Type::kText) s += e.text;
    }
    return s;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<scheduler::RequestEvent> events_;
};

inline scheduler::Request TextRequest(int prompt_len, int max_tokens, int first_token = 11) {
  scheduler::Request r;
  r.kind = scheduler::TaskKind::kText;
  std::vector<int32_t> tokens = {2};
  for (int i = 1; i < prompt_len; ++i) tokens.push_back(first_token + i % 30);
  r.prompt = {engine::PromptPart::Text(tokens)};
  r.text.temperature = 0;
  r.text.max_tokens = max_tokens;
  return r;
}

inline scheduler::Request ImageRequest(int prompt_len, int steps, float guidance = 3.0f,
                                       uint64_t seed = 1) {
  scheduler::Request r;
  r.kind = scheduler::TaskKind::kTextToImage;
  std::vector<int32_t> tokens = {2};
  for (int i = 1; i < prompt_len - 1; ++i) tokens.push_back(20 + i % 20);
  tokens.push_back(4);  // <boi>
  r.prompt = {engine::PromptPart::Text(tokens)};
  r.uncond_prompt = {engine::PromptPart::Text({2, 4})};
  r.starts_with_image = true;
  r.finish_after_image = true;
  r.image.steps = steps;
  r.image.guidance_scale = guidance;
  r.image.seed = seed;
  return r;
}

inline scheduler::SchedulerModelInfo FakeModelInfo() { return scheduler::SchedulerModelInfo(); }

// Text of the fake model: one letter per token.
class LetterDecoder : public engine::TextDecoder {
 public:
  std::string Add(int32_t id) override { return std::string(1, static_cast<char>('a' + (id - 10) % 26)); }
  std::string Finish() override { return ""; }
};

// The engine's real output processing over a fake executor.
inline std::unique_ptr<engine::OutputProcessor> MakeRunner(
    engine::Executor* executor, std::function<std::unique_ptr<engine::TextDecoder>()> new_decoder =
                                    [] { return std::make_unique<LetterDecoder>(); }) {
  engine::OutputProcessorOptions options;
  options.new_decoder = std::move(new_decoder);
  return *engine::OutputProcessor::Create(options, executor);
}

// "A:prefill/8" per span, in plan order; requests are named by `names` (id -> letter).
inline std::string Describe(const engine::StepPlan& plan,
                            const std::map<scheduler::RequestId, std::string>& names) {
  std::vector<std::string> parts;
  for (const engine::Span& s : plan.spans) {
    auto it = names.find(s.seq_id);
    parts.push_back(absl::StrCat(it == names.end() ? "?" : it->second, ":",
                                 engine::SpanKindName(s.kind), "/", s.num_positions()));
  }
  return absl::StrJoin(parts, " ");
}

}  // namespace infusion::testing

#endif  // INFUSION_TESTS_SCHEDULER_SCHEDULER_TEST_UTIL_H_
