// A fault in one request's span fails that request alone (issue #22, item 4): the executor
// failing its span, NaN in its logits or in its noise prediction (conditional or guidance row),
// or the executor throwing for the whole step. The scheduler and the engine's real
// OutputProcessor run over the scheduler tests' FakeExecutor, wrapped by one that injects the
// fault; the requests sharing the steps with the victim must produce exactly what they produce
// in the same run without the fault, and every KV block must come back.
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/scheduler.h"
#include "tests/scheduler/fake_executor.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace infusion::testing {

using engine::Executor;
using engine::ExecutorInfo;
using engine::OutputProcessor;
using engine::Span;
using engine::SpanResult;
using engine::StepPlan;
using engine::StepResult;
using scheduler::FinishReason;
using scheduler::RequestEvent;
using scheduler::RequestId;
using scheduler::Request;
using scheduler::Scheduler;
using scheduler::SchedulerOptions;
namespace {

using ::testing::HasSubstr;
using Type = RequestEvent::Type;

enum class Fault { kNone, kFailSpan, kNanLogits, kInfLogits, kNanEps, kNanGuidanceEps, kThrow };

// Passes steps to `inner` and, from its `from_step`-th call (1-based) on, breaks what the
// victim's spans get back.
class FaultyExecutor : public Executor {
 public:
  FaultyExecutor(Executor* inner, Fault fault, int from_step)
      : inner_(inner), fault_(fault), from_step_(from_step) {}
  void set_victim(RequestId id) { victim_ = id; }
  int fired() const { return fired_; }

  const ExecutorInfo& info() const override { return inner_->info(); }

  StepResult Execute(const StepPlan& plan) override {
    const bool armed = fault_ != Fault::kNone && ++steps_ >= from_step_;
    bool has_victim = false;
    for (const Span& span : plan.spans) has_victim = has_victim || span.seq_id == victim_;
    if (armed && fault_ == Fault::kThrow && has_victim) {
      // Throws for every plan holding the victim's span: the whole step, then (run one by one)
      // that span alone.
      ++fired_;
      throw std::runtime_error("injected: the device fell over");
    }
    StepResult result = inner_->Execute(plan);
    if (!armed) return result;
    for (size_t i = 0; i < plan.spans.size(); ++i) {
      const Span& span = plan.spans[i];
      if (span.seq_id != victim_) continue;
      SpanResult& r = result.spans[i];
      switch (fault_) {
        case Fault::kFailSpan:
          r.status = absl::InternalError("injected: this span failed");
          ++fired_;
          break;
        case Fault::kNanLogits:
        case Fault::kInfLogits:
          if (!r.logits.empty()) {
            r.logits[r.logits.size() / 2] = fault_ == Fault::kNanLogits
                                                ? std::numeric_limits<float>::quiet_NaN()
                                                : std::numeric_limits<float>::infinity();
            ++fired_;
          }
          break;
        case Fault::kNanEps:
        case Fault::kNanGuidanceEps:
          if (!r.eps.empty() && span.guidance_row == (fault_ == Fault::kNanGuidanceEps)) {
            r.eps[0][1] = std::numeric_limits<float>::quiet_NaN();
            ++fired_;
          }
          break;
        default:
          break;
      }
    }
    return result;
  }

 private:
  Executor* const inner_;
  const Fault fault_;
  const int from_step_;
  RequestId victim_ = -1;
  int steps_ = 0;
  int fired_ = 0;
};

// What a request's client saw.
struct Seen {
  std::string text;
  std::vector<std::vector<float>> images;
  int progress = 0;
  FinishReason reason = FinishReason::kStop;
  absl::Status status;
};

Seen Summarize(const RecordingSink& sink) {
  Seen seen;
  for (const RequestEvent& e : sink.events()) {
    if (e.type == Type::kText) seen.text += e.text;
    if (e.type == Type::kImageProgress) ++seen.progress;
    if (e.type == Type::kImage) seen.images.push_back(e.patches);
    if (e.type == Type::kFinish) {
      seen.reason = e.reason;
      seen.status = e.status;
    }
  }
  return seen;
}

// Four requests sharing every step: two texts, a guided image and an image without guidance;
// `victim` names the one the fault hits. Returns what each client saw, by name.
struct Outcome {
  std::map<std::string, Seen> seen;
  int fired = 0;
  int kv_blocks_used = -1;
  int finishes = 0;
};

Outcome RunWith(Fault fault, const std::string& victim, int from_step = 3) {
  FakeExecutor fake(/*num_blocks=*/128, /*block_size=*/4);
  FaultyExecutor faulty(&fake, fault, from_step);
  std::unique_ptr<OutputProcessor> runner = MakeRunner(&faulty);
  SchedulerOptions options;
  std::unique_ptr<Scheduler> scheduler = *Scheduler::Create(options, FakeModelInfo(), runner.get());
  std::map<std::string, Request> requests = {
      {"text_a", TextRequest(6, 8, /*first_token=*/11)},
      {"text_b", TextRequest(7, 8, /*first_token=*/17)},
      {"image_guided", ImageRequest(5, /*steps=*/6, /*guidance=*/3.0f, /*seed=*/5)},
      {"image_plain", ImageRequest(4, /*steps=*/6, /*guidance=*/1.0f, /*seed=*/9)},
  };
  std::map<std::string, std::shared_ptr<RecordingSink>> sinks;
  for (auto& [name, request] : requests) {
    sinks[name] = std::make_shared<RecordingSink>();
    absl::StatusOr<RequestId> id = scheduler->Submit(request, sinks[name]);
    EXPECT_TRUE(id.ok()) << id.status();
    if (name == victim) faulty.set_victim(*id);
  }
  for (int i = 0; i < 1000 && scheduler->Step(); ++i) {
  }
  Outcome run;
  for (const auto& [name, sink] : sinks) {
    run.seen[name] = Summarize(*sink);
    run.finishes += sink->CountType(Type::kFinish);
  }
  run.fired = faulty.fired();
  run.kv_blocks_used = scheduler->Stats().kv_blocks_used;
  EXPECT_EQ(fake.errors(), 0);
  return run;
}

struct Case {
  Fault fault;
  std::string victim;
  std::string message;  // in the victim's finish status
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  static const char* const kNames[] = {"None",   "FailSpan",       "NanLogits", "InfLogits",
                                       "NanEps", "NanGuidanceEps", "Throw"};
  return std::string(kNames[static_cast<int>(info.param.fault)]) + "_" + info.param.victim;
}

class StepFaultTest : public ::testing::TestWithParam<Case> {};

TEST_P(StepFaultTest, FailsTheVictimAloneAndTheOthersFinishAsWithoutIt) {
  const Case& c = GetParam();
  const Outcome reference = RunWith(Fault::kNone, "");
  const Outcome run = RunWith(c.fault, c.victim);
  ASSERT_GT(run.fired, 0) << "the fault was never injected";
  EXPECT_EQ(run.finishes, 4);  // exactly one finish per request
  EXPECT_EQ(run.kv_blocks_used, 0);
  for (const auto& [name, seen] : run.seen) {
    const Seen& expected = reference.seen.at(name);
    if (name == c.victim) {
      EXPECT_EQ(seen.reason, FinishReason::kError) << name;
      EXPECT_THAT(std::string(seen.status.message()), HasSubstr(c.message)) << seen.status;
      EXPECT_TRUE(seen.images.empty()) << "a broken image reached the client";
      continue;
    }
    EXPECT_EQ(seen.reason, expected.reason) << name << ": " << seen.status;
    EXPECT_TRUE(seen.status.ok()) << name << ": " << seen.status;
    EXPECT_EQ(seen.text, expected.text) << name;
    EXPECT_EQ(seen.progress, expected.progress) << name;
    EXPECT_EQ(seen.images, expected.images) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Faults, StepFaultTest,
    ::testing::Values(
        Case{Fault::kFailSpan, "text_b", "injected: this span failed"},
        Case{Fault::kFailSpan, "image_guided", "injected: this span failed"},
        Case{Fault::kNanLogits, "text_a", "logits are not finite"},
        Case{Fault::kInfLogits, "text_b", "logits are not finite"},
        Case{Fault::kNanEps, "image_plain", "noise prediction is not finite"},
        Case{Fault::kNanEps, "image_guided", "noise prediction is not finite"},
        Case{Fault::kNanGuidanceEps, "image_guided", "noise prediction is not finite"},
        Case{Fault::kThrow, "text_a", "injected: the device fell over"},
        Case{Fault::kThrow, "image_guided", "injected: the device fell over"}),
    CaseName);

// The reference run itself: every request ends normally, so the comparisons above mean something.
TEST(StepFaultReference, EveryRequestEndsNormallyWithoutFaults) {
  const Outcome run = RunWith(Fault::kNone, "");
  for (const auto& [name, seen] : run.seen) {
    EXPECT_TRUE(seen.status.ok()) << name << ": " << seen.status;
    EXPECT_TRUE(IsNormalEnd(seen.reason)) << name;
  }
  EXPECT_FALSE(run.seen.at("text_a").text.empty());
  EXPECT_EQ(run.seen.at("image_guided").images.size(), 1u);
  EXPECT_EQ(run.seen.at("image_plain").images.size(), 1u);
  EXPECT_EQ(run.kv_blocks_used, 0);
}

}  // namespace
}  // namespace infusion::testing
