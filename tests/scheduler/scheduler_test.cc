#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "engine/codec/image.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace infusion::testing {

using engine::OutputProcessor;
using engine::PromptPart;
using engine::Span;
using engine::TextDecoder;
using scheduler::FinishReason;
using scheduler::Request;
using scheduler::RequestEvent;
using scheduler::RequestId;
using scheduler::Scheduler;
using scheduler::SchedulerOptions;

namespace {

using Type = RequestEvent::Type;

class SchedulerTest : public ::testing::Test {
 protected:
  void Make(int num_blocks, SchedulerOptions options = {}, int block_size = 4) {
    scheduler_.reset();
    executor_ = std::make_unique<FakeExecutor>(num_blocks, block_size);
    runner_ = MakeRunner(executor_.get());
    auto s = Scheduler::Create(options, FakeModelInfo(), runner_.get());
    ASSERT_TRUE(s.ok()) << s.status();
    scheduler_ = std::move(*s);
  }
  RequestId Submit(const std::string& name, Request r) {
    auto sink = std::make_shared<RecordingSink>();
    auto id = scheduler_->Submit(std::move(r), sink);
    EXPECT_TRUE(id.ok()) << id.status();
    names_[*id] = name;
    sinks_[name] = sink;
    return *id;
  }
  // Runs one step and describes its plan.
  std::string StepDescribed() {
    executor_->ClearPlans();
    scheduler_->Step();
    if (executor_->plans().empty()) return "idle";
    return Describe(executor_->plans().back(), names_);
  }
  void RunToIdle() {
    for (int i = 0; i < 10000 && scheduler_->Step(); ++i) {
    }
  }

  std::unique_ptr<FakeExecutor> executor_;
  std::unique_ptr<OutputProcessor> runner_;
  std::unique_ptr<Scheduler> scheduler_;  // after the runner it drives
  std::map<RequestId, std::string> names_;
  std::map<std::string, std::shared_ptr<RecordingSink>> sinks_;
};

// Iteration table: decode tokens first, then prompt chunks with what is left of the budget.
TEST_F(SchedulerTest, DecodeFirstThenChunkedPrefill) {
  SchedulerOptions o;
  o.max_tokens_per_step = 10;
  Make(64, o);
  Submit("A", TextRequest(6, 3));
  EXPECT_EQ(StepDescribed(), "A:prefill/6");
  Submit("B", TextRequest(12, 2, /*first_token=*/20));  // no prefix in common with A
  EXPECT_EQ(StepDescribed(), "A:decode/1 B:prefill/9");
  EXPECT_EQ(StepDescribed(), "A:decode/1 B:prefill/3");
  EXPECT_EQ(StepDescribed(), "B:decode/1");  // A finished after 3 tokens
  EXPECT_EQ(StepDescribed(), "idle");        // B finished after 2 tokens
  EXPECT_EQ(sinks_["A"]->finish()->reason, FinishReason::kLength);
  EXPECT_EQ(sinks_["A"]->finish()->usage.generated_tokens, 3);
  EXPECT_EQ(executor_->errors(), 0);
  EXPECT_EQ(scheduler_->Stats().kv_blocks_used, 0);
}

// Text-to-image: prompt, then (with CFG) a conditional and an unconditional denoise row per step,
// the CFG prefix written in the first denoise step; no commit when the request ends with its image.
TEST_F(SchedulerTest, TextToImageWithGuidance) {
  Make(64);
  Submit("A", ImageRequest(5, /*steps=*/3, /*guidance=*/3.0f, /*seed=*/1234));
  EXPECT_EQ(StepDescribed(), "A:prefill/5");
  EXPECT_EQ(StepDescribed(), "A:prefill/2 A:denoise/4 A:denoise/4");
  EXPECT_EQ(StepDescribed(), "A:denoise/4 A:denoise/4");
  EXPECT_EQ(StepDescribed(), "A:denoise/4 A:denoise/4");
  EXPECT_EQ(StepDescribed(), "idle");
  auto& sink = *sinks_["A"];
  EXPECT_EQ(sink.CountType(Type::kImageProgress), 3);
  EXPECT_EQ(sink.CountType(Type::kImage), 1);
  EXPECT_EQ(sink.finish()->reason, FinishReason::kImage);
  EXPECT_EQ(sink.finish()->usage.image_steps, 3);
  // Streaming order: progress, progress, progress, image, finish.
  const auto events = sink.events();
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[3].type, Type::kImage);
  EXPECT_EQ(events[3].patches.size(), 4u * 2u);
  EXPECT_EQ(events[3].seed, 1234u);  // the first image of a request is drawn with its seed
  EXPECT_EQ(scheduler_->Stats().kv_blocks_used, 0);
}

// With an image decoder, the images a step finishes are decoded in one batch, each kImage event
// carrying its own pixels.
TEST_F(SchedulerTest, ImagesOfAStepDecodeInOneBatch) {
  Make(64);
  std::vector<std::vector<std::vector<float>>> batches;  // the patches of each decoder call
  scheduler_->SetImageDecoder([&](const std::vector<const std::vector<float>*>& patches) {
    batches.emplace_back();
    std::vector<std::shared_ptr<const engine::Image>> images;
    for (const std::vector<float>* p : patches) {
      batches.back().push_back(*p);
      engine::Image image;
      image.width = static_cast<int>(batches.back().size());  // tells the images apart
      images.push_back(std::make_shared<const engine::Image>(image));
    }
    return images;
  });
  Submit("A", ImageRequest(5, /*steps=*/3, /*guidance=*/3.0f, /*seed=*/1));
  Submit("B", ImageRequest(5, /*steps=*/3, /*guidance=*/3.0f, /*seed=*/2));
  RunToIdle();
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(batches[0].size(), 2u);
  int width = 1;
  for (const std::string name : {"A", "B"}) {
    const auto events = sinks_[name]->events();
    ASSERT_EQ(sinks_[name]->CountType(Type::kImage), 1) << name;
    const RequestEvent& image = events[events.size() - 2];
    ASSERT_EQ(image.type, Type::kImage) << name;
    ASSERT_NE(image.image, nullptr) << name;
    EXPECT_EQ(image.image->width, width) << name;
    EXPECT_EQ(image.patches, batches[0][width - 1]) << name;
    ++width;
  }
}

// Guidance scale 1 needs no unconditional row.
TEST_F(SchedulerTest, NoGuidanceMeansOneRow) {
  Make(64);
  Submit("A", ImageRequest(5, 2, /*guidance=*/1.0f));
  EXPECT_EQ(StepDescribed(), "A:prefill/5");
  EXPECT_EQ(StepDescribed(), "A:denoise/4");
}

// While text is waiting, images take at most max_image_share of the budget.
TEST_F(SchedulerTest, ImageShareKeepsTextFlowing) {
  SchedulerOptions o;
  o.max_tokens_per_step = 20;
  o.max_image_share = 0.5;  // 10 positions: one guided image (8) per step
  Make(128, o);
  Submit("A", ImageRequest(3, 4));
  Submit("B", ImageRequest(3, 4));
  Submit("T", TextRequest(4, 5));
  EXPECT_EQ(StepDescribed(), "A:prefill/3 B:prefill/3 T:prefill/4");
  EXPECT_EQ(StepDescribed(), "T:decode/1 A:prefill/2 A:denoise/4 A:denoise/4");
  EXPECT_EQ(StepDescribed(), "T:decode/1 A:denoise/4 A:denoise/4");
}

// A prompt chunk never splits an image: it stops before the image and takes it whole next step.
TEST_F(SchedulerTest, PrefillNeverSplitsAnImage) {
  SchedulerOptions o;
  o.max_tokens_per_step = 6;
  Make(64, o);
  Request r = TextRequest(3, 1);
  r.prompt.push_back(PromptPart::Image(std::vector<float>(8, 0.25f)));  // 4 patches
  r.prompt.push_back(PromptPart::Text({12, 13}));
  Submit("A", std::move(r));
  EXPECT_EQ(StepDescribed(), "A:prefill/3");  // 3 + 4 > 6: stop before the image
  EXPECT_EQ(StepDescribed(), "A:prefill/6");  // the image and the two tokens after it
  const Span& span = executor_->plans().back().spans[0];
  ASSERT_EQ(span.images.size(), 1u);
  EXPECT_EQ(span.images[0].offset, 0);
}

// Two requests with the same long prompt: the second reuses the first's full blocks.
TEST_F(SchedulerTest, PrefixCacheSkipsSharedPrompt) {
  Make(64);
  Submit("A", TextRequest(10, 2));
  EXPECT_EQ(StepDescribed(), "A:prefill/10");
  Submit("B", TextRequest(10, 2));
  EXPECT_EQ(StepDescribed(), "A:decode/1 B:prefill/2");  // 8 positions (2 blocks) cached
  RunToIdle();
  EXPECT_EQ(sinks_["A"]->text(), sinks_["B"]->text());
  EXPECT_GT(scheduler_->Stats().prefix_cache_hit_blocks, 0);
}

TEST_F(SchedulerTest, CancelFreesBlocksWithinOneStep) {
  Make(64);
  const RequestId id = Submit("A", ImageRequest(6, 50));
  scheduler_->Step();
  scheduler_->Step();
  EXPECT_GT(scheduler_->Stats().kv_blocks_used, 0);
  scheduler_->Cancel(id);
  scheduler_->Step();
  EXPECT_EQ(scheduler_->Stats().kv_blocks_used, 0);
  EXPECT_EQ(sinks_["A"]->finish()->reason, FinishReason::kCancelled);
  EXPECT_EQ(sinks_["A"]->CountType(Type::kFinish), 1);
}

TEST_F(SchedulerTest, QueueFullIsResourceExhausted) {
  SchedulerOptions o;
  o.max_queued = 2;
  Make(64, o);
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(scheduler_->Submit(TextRequest(4, 2), sink).ok());
  ASSERT_TRUE(scheduler_->Submit(TextRequest(4, 2), sink).ok());
  EXPECT_EQ(scheduler_->Submit(TextRequest(4, 2), sink).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(SchedulerTest, InvalidRequestsAreRefused) {
  Make(8);
  auto sink = std::make_shared<RecordingSink>();
  Request empty = TextRequest(1, 2);
  empty.prompt.clear();
  EXPECT_EQ(scheduler_->Submit(empty, sink).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(scheduler_->Submit(TextRequest(100, 2), sink).status().code(),
            absl::StatusCode::kInvalidArgument);  // 100 positions > 8 blocks of 4
  Request bad_token = TextRequest(3, 2);
  bad_token.prompt[0].tokens[1] = 999;
  EXPECT_EQ(scheduler_->Submit(bad_token, sink).status().code(),
            absl::StatusCode::kInvalidArgument);
  Request bad_temp = TextRequest(3, 2);
  bad_temp.text.temperature = -1;
  EXPECT_EQ(scheduler_->Submit(bad_temp, sink).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SchedulerTest, DeadlineAndQueueTimeout) {
  absl::Time now = absl::UnixEpoch();
  SchedulerOptions o;
  o.clock = [&now] { return now; };
  o.max_running = 1;
  Make(64, o);
  Request a = TextRequest(4, 100);
  a.deadline = now + absl::Seconds(5);
  Submit("A", std::move(a));
  Request b = TextRequest(4, 2);
  b.queue_timeout = absl::Seconds(2);
  Submit("B", std::move(b));
  scheduler_->Step();  // A admitted; B waits (max_running 1)
  now += absl::Seconds(3);
  scheduler_->Step();
  EXPECT_EQ(sinks_["B"]->finish()->reason, FinishReason::kTimeout);
  EXPECT_FALSE(sinks_["A"]->finished());
  now += absl::Seconds(3);
  scheduler_->Step();
  EXPECT_EQ(sinks_["A"]->finish()->reason, FinishReason::kTimeout);
  EXPECT_EQ(sinks_["A"]->finish()->status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(scheduler_->Stats().kv_blocks_used, 0);
}

// Out of blocks: the lowest-priority, latest request is preempted by recompute; an image in
// progress keeps its latents and step index, and every request still produces exactly what it
// produces alone.
TEST_F(SchedulerTest, PreemptionKeepsImageProgress) {
  // Reference: each request alone.
  std::string alone_text;
  std::vector<float> alone_image;
  {
    Make(64);
    Submit("T", TextRequest(14, 14));
    Submit("I", ImageRequest(6, 20));
    RunToIdle();
    alone_text = sinks_["T"]->text();
    for (const auto& e : sinks_["I"]->events()) {
      if (e.type == Type::kImage) alone_image = e.patches;
    }
  }
  sinks_.clear();
  names_.clear();
  // 36 positions: both fit at first (4 + 3 blocks); when T needs its 7th block, I (lower
  // priority) is preempted and resumes after T.
  Make(/*num_blocks=*/9);
  Request t = TextRequest(14, 14);
  t.priority = 1;
  Submit("T", std::move(t));
  Submit("I", ImageRequest(6, 20));
  RunToIdle();
  EXPECT_GE(scheduler_->Stats().preemptions, 1);
  EXPECT_EQ(sinks_["T"]->text(), alone_text);
  std::vector<float> image;
  for (const auto& e : sinks_["I"]->events()) {
    if (e.type == Type::kImage) image = e.patches;
  }
  EXPECT_EQ(image, alone_image);
  EXPECT_EQ(sinks_["I"]->finish()->usage.image_steps, 20);  // no step repeated
  EXPECT_EQ(executor_->errors(), 0);
  EXPECT_EQ(scheduler_->Stats().kv_blocks_used, 0);
}

// The model opens an image itself (<boi>) in a chat: denoise, commit the image and <eoi>, and
// continue with text conditioned on it.
TEST_F(SchedulerTest, ModelDrawsAnImageThenContinues) {
  Make(64);
  executor_->ForceNextToken(/*after=*/FakeExecutor::kFirstTextToken + 0, /*next=*/4);
  Request r = TextRequest(4, 6);
  r.max_images = 1;
  r.image.steps = 2;
  r.image.seed = 77;
  r.uncond_prompt = {PromptPart::Text({2, 4})};
  // Make the model say token 10 first, then <boi>.
  executor_->ForceNextToken(/*after=*/13, /*next=*/4);
  r.prompt = {PromptPart::Text({2, 11, 12, 13})};
  Submit("A", std::move(r));
  EXPECT_EQ(StepDescribed(), "A:prefill/4");                                 // samples <boi>
  EXPECT_EQ(StepDescribed(), "A:decode/1 A:prefill/2 A:denoise/4 A:denoise/4");  // <boi>, CFG prefix
  EXPECT_EQ(StepDescribed(), "A:denoise/4 A:denoise/4");
  EXPECT_EQ(StepDescribed(), "A:commit/5");  // 4 clean patches + <eoi>
  EXPECT_EQ(executor_->plans().back().spans[0].images[0].timestep, 0.0f);
  RunToIdle();
  auto& sink = *sinks_["A"];
  EXPECT_EQ(sink.CountType(Type::kImage), 1);
  for (const auto& e : sink.events()) {
    if (e.type == Type::kImage) EXPECT_EQ(e.seed, 77u);
  }
  EXPECT_EQ(sink.finish()->reason, FinishReason::kLength);
  EXPECT_EQ(executor_->errors(), 0);
}

// The scheduler streams the text the runner settles, in order, and the text the runner held back
// (an incomplete character, a possible stop string) arrives before the finish event.
class HoldingDecoder : public TextDecoder {
 public:
  // Holds back every odd token's letter until the next token, like an incomplete character.
  std::string Add(int32_t id) override {
    std::string letter(1, static_cast<char>('a' + (id - 10) % 26));
    if (++count_ % 2 == 1) {
      held_ = letter;
      return "";
    }
    std::string out = held_ + letter;
    held_.clear();
    return out;
  }
  std::string Finish() override { return std::exchange(held_, ""); }

 private:
  std::string held_;
  int count_ = 0;
};

TEST_F(SchedulerTest, StreamsSettledTextAndFlushesTheRestBeforeFinish) {
  scheduler_.reset();
  executor_ = std::make_unique<FakeExecutor>(64, 4);
  runner_ = MakeRunner(executor_.get(), [] { return std::make_unique<HoldingDecoder>(); });
  scheduler_ = *Scheduler::Create(SchedulerOptions(), FakeModelInfo(), runner_.get());
  for (int i = 0; i < 4; ++i) Submit(std::string(1, 'A' + i), TextRequest(3 + i, 5 + i, 11 + i));
  RunToIdle();
  // The same requests with a decoder that holds nothing back: the text to expect.
  std::map<std::string, std::string> expected;
  {
    auto executor = std::make_unique<FakeExecutor>(64, 4);
    auto runner = MakeRunner(executor.get());
    auto scheduler = *Scheduler::Create(SchedulerOptions(), FakeModelInfo(), runner.get());
    std::map<std::string, std::shared_ptr<RecordingSink>> sinks;
    for (int i = 0; i < 4; ++i) {
      sinks[std::string(1, 'A' + i)] = std::make_shared<RecordingSink>();
      ASSERT_TRUE(scheduler->Submit(TextRequest(3 + i, 5 + i, 11 + i), sinks[std::string(1, 'A' + i)]).ok());
    }
    while (scheduler->Step()) {
    }
    for (const auto& [name, sink] : sinks) expected[name] = sink->text();
  }
  for (const auto& [name, sink] : sinks_) {
    EXPECT_EQ(sink->text(), expected[name]) << name;
    EXPECT_EQ(sink->text().size(), static_cast<size_t>(sink->finish()->usage.generated_tokens));
    const auto events = sink->events();
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events.back().type, Type::kFinish);
    // Odd-length outputs end with a held-back letter: flushed just before the finish.
    if (sink->finish()->usage.generated_tokens % 2 == 1) {
      EXPECT_EQ(events[events.size() - 2].type, Type::kText);
      EXPECT_EQ(events[events.size() - 2].text.size(), 1u) << name;
    }
  }
}

// Stop() with live requests: each gets exactly one finish event (UNAVAILABLE), no block leaks,
// and the runner forgets them all; later submissions are refused.
TEST_F(SchedulerTest, StopEndsEveryLiveRequestOnce) {
  SchedulerOptions o;
  o.max_running = 2;
  Make(64, o);
  Submit("A", TextRequest(6, 50));
  Submit("B", ImageRequest(5, 30));
  Submit("C", TextRequest(4, 50));  // waits: max_running 2
  scheduler_->Step();
  scheduler_->Step();
  scheduler_->Step();
  EXPECT_GT(scheduler_->Stats().kv_blocks_used, 0);
  auto late = std::make_shared<RecordingSink>();
  ASSERT_TRUE(scheduler_->Submit(TextRequest(3, 2), late).ok());  // still in the inbox
  scheduler_->Stop();
  for (const auto& [name, sink] : sinks_) {
    EXPECT_EQ(sink->CountType(Type::kFinish), 1) << name;
    EXPECT_EQ(sink->finish()->status.code(), absl::StatusCode::kUnavailable) << name;
    EXPECT_EQ(sink->finish()->reason, FinishReason::kError) << name;
  }
  EXPECT_EQ(late->CountType(Type::kFinish), 1);
  EXPECT_EQ(scheduler_->Stats().kv_blocks_used, 0);
  EXPECT_EQ(scheduler_->Stats().running + scheduler_->Stats().waiting, 0);
  EXPECT_EQ(runner_->num_requests(), 0);
  EXPECT_EQ(scheduler_->Submit(TextRequest(3, 2), late).status().code(),
            absl::StatusCode::kUnavailable);
  scheduler_->Stop();  // idempotent: nothing is finished twice
  EXPECT_EQ(late->CountType(Type::kFinish), 1);
  EXPECT_EQ(scheduler_->Stats().invalid_transitions, 0);
}

// The same with the engine thread running: Stop() joins it, then ends what it left.
TEST_F(SchedulerTest, StopWithTheEngineThreadRunning) {
  Make(64);
  for (int i = 0; i < 6; ++i) Submit(std::string(1, 'A' + i), TextRequest(4 + i, 300));
  scheduler_->Start();
  scheduler_->Stop();
  for (const auto& [name, sink] : sinks_) EXPECT_EQ(sink->CountType(Type::kFinish), 1) << name;
  EXPECT_EQ(scheduler_->Stats().kv_blocks_used, 0);
  EXPECT_EQ(runner_->num_requests(), 0);
}

// RunBetweenSteps: tasks run in order on the engine thread, between steps of running requests
// and while it is idle; without an engine thread (before Start, after Stop) nothing is queued
// and the caller runs the task itself; tasks queued when Stop comes still run.
TEST_F(SchedulerTest, RunBetweenStepsRunsTasksOnTheEngineThread) {
  Make(64);
  EXPECT_FALSE(scheduler_->RunBetweenSteps([] {})) << "no engine thread yet";
  for (int i = 0; i < 3; ++i) Submit(std::string(1, 'A' + i), TextRequest(4 + i, 50));
  scheduler_->Start();
  absl::Mutex mu;
  std::vector<int> order;
  std::vector<std::thread::id> threads;
  absl::Notification all_ran;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(scheduler_->RunBetweenSteps([&, i] {
      absl::MutexLock lock(&mu);
      order.push_back(i);
      threads.push_back(std::this_thread::get_id());
      if (i == 4) all_ran.Notify();
    }));
  }
  ASSERT_TRUE(all_ran.WaitForNotificationWithTimeout(absl::Seconds(60)));
  scheduler_->WaitIdle();  // and then idle: a task still runs
  absl::Notification idle_ran;
  ASSERT_TRUE(scheduler_->RunBetweenSteps([&] { idle_ran.Notify(); }));
  EXPECT_TRUE(idle_ran.WaitForNotificationWithTimeout(absl::Seconds(60)));
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
    for (const std::thread::id& id : threads) {
      EXPECT_NE(id, std::this_thread::get_id());
      EXPECT_EQ(id, threads[0]);
    }
  }
  for (const auto& [name, sink] : sinks_) EXPECT_EQ(sink->CountType(Type::kFinish), 1) << name;
  scheduler_->Stop();
  EXPECT_FALSE(scheduler_->RunBetweenSteps([] {})) << "stopped";
}

}  // namespace
}  // namespace infusion::testing
