// InferenceEngine on the tiny random model (tests/data/configs/tiny-linear.json: 32x32 images of
// 4 patches of 128 values, a context of 256), with a generation.json whose every value differs
// from GenerationConfig's built-in defaults, so that a default that does not come from the file
// shows.
#include "serving/inference_engine.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "serving/request_stream.h"

namespace infusion::serving {

using engine::ChatMessage;
using engine::DecodeImage;
using engine::DiffusionSolver;
using engine::EncodePng;
using engine::Image;
using engine::ModelProcessor;
using engine::PromptBuilder;
using engine::PromptPart;
using scheduler::FinishReason;
using scheduler::Request;
using scheduler::RequestEvent;
using scheduler::RequestId;
using scheduler::TaskKind;

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kGenerationJson[] = R"({
  "max_tokens": 7,
  "temperature": 0.5,
  "top_p": 0.9,
  "top_k": 5,
  "repetition_penalty": 1.25,
  "image_steps": 3,
  "guidance_scale": 2.5,
  "sampler": "ddpm",
  "eta": 0.5
})";

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

// Every event of a request, pulled until its finish.
std::vector<RequestEvent> Drain(RequestStream& stream) {
  std::vector<RequestEvent> events;
  while (std::optional<RequestEvent> event = stream.Next()) events.push_back(*std::move(event));
  return events;
}

class InferenceEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The fixture's model with this test's generation.json, in a folder of this process.
    model_dir_ = new std::string(::testing::TempDir() + "/infusion_serving_" +
                                 std::to_string(getpid()) + "/tiny-model");
    std::filesystem::remove_all(*model_dir_);
    std::filesystem::create_directories(*model_dir_);
    std::filesystem::copy(INFUSION_TEST_MODEL_DIR, *model_dir_,
                          std::filesystem::copy_options::recursive);
    std::ofstream(*model_dir_ + "/generation.json") << kGenerationJson;

    InferenceEngineOptions options;
    options.executor.model_dir = *model_dir_;
    options.executor.num_threads = 2;
    options.executor.kv_cache_bytes = size_t{8} << 20;
    options.image_limits.max_pixels = 64 * 64;  // the test image's size
    absl::StatusOr<std::unique_ptr<InferenceEngine>> engine = InferenceEngine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = engine->release();
  }

  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
    std::filesystem::remove_all(std::filesystem::path(*model_dir_).parent_path());
    delete model_dir_;
  }

  void SetUp() override { ASSERT_NE(engine_, nullptr); }

  static std::string TestPng() {
    return ReadFile(INFUSION_SOURCE_DIR "/tests/data/images/shapes/red_circle.png");
  }

  static std::string Message(const absl::StatusOr<Request>& r) {
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    return std::string(r.status().message());
  }

  static ChatRequest UserSays(const std::string& text) {
    ChatRequest r;
    r.messages.push_back({"user", {InputPart::Text(text)}});
    return r;
  }

  static std::string* model_dir_;
  static InferenceEngine* engine_;
};

std::string* InferenceEngineTest::model_dir_ = nullptr;
InferenceEngine* InferenceEngineTest::engine_ = nullptr;

TEST_F(InferenceEngineTest, ReportsTheModel) {
  EXPECT_EQ(engine_->model_name(), "tiny-model");
  EXPECT_EQ(engine_->config().max_position_embeddings, 256);
  EXPECT_EQ(engine_->generation().max_tokens, 7);
  EXPECT_EQ(engine_->generation().sampler, "ddpm");
  EXPECT_EQ(engine_->image_limits().max_pixels, 64 * 64);
}

TEST_F(InferenceEngineTest, UnsetFieldsTakeTheModelsGenerationJson) {
  absl::StatusOr<Request> chat = engine_->Prepare(UserSays("hi"));
  ASSERT_TRUE(chat.ok()) << chat.status();
  EXPECT_EQ(chat->text.max_tokens, 7);
  EXPECT_EQ(chat->text.temperature, 0.5f);
  EXPECT_EQ(chat->text.top_p, 0.9f);
  EXPECT_EQ(chat->text.top_k, 5);
  EXPECT_EQ(chat->text.min_p, 0.0f);
  EXPECT_EQ(chat->text.repetition_penalty, 1.25f);
  EXPECT_THAT(chat->text.stop_token_ids, ElementsAre(9, 3));  // <|end|> </s>
  EXPECT_EQ(chat->max_images, 1);
  // The images a reply opens use the image defaults, the sampler and eta included.
  EXPECT_EQ(chat->image.steps, 3);
  EXPECT_EQ(chat->image.guidance_scale, 2.5f);
  EXPECT_EQ(chat->image.solver, DiffusionSolver::kDdpm);
  EXPECT_EQ(chat->image.eta, 0.5f);

  TextToImageRequest t2i;
  t2i.prompt = "a red circle";
  absl::StatusOr<Request> image = engine_->Prepare(t2i);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->image.steps, 3);
  EXPECT_EQ(image->image.guidance_scale, 2.5f);
  EXPECT_EQ(image->image.solver, DiffusionSolver::kDdpm);
  EXPECT_EQ(image->image.eta, 0.5f);
  EXPECT_EQ(image->preview_every, 0);

  // Unset seeds are drawn at random, per request.
  EXPECT_NE(engine_->Prepare(t2i)->image.seed, engine_->Prepare(t2i)->image.seed);
  EXPECT_NE(engine_->Prepare(UserSays("hi"))->text.seed,
            engine_->Prepare(UserSays("hi"))->text.seed);
}

TEST_F(InferenceEngineTest, SetFieldsAreKeptZerosIncluded) {
  GenerateRequest in;
  in.parts = {InputPart::Text("hello")};
  in.max_images = 0;
  in.text.max_tokens = 3;
  in.text.temperature = 0.0f;
  in.text.top_p = 1.0f;
  in.text.top_k = 0;
  in.text.min_p = 0.2f;
  in.text.repetition_penalty = 1.0f;
  in.text.seed = 0;
  in.text.stop = {"."};
  in.text.ignore_eos = true;
  in.image.steps = 2;
  in.image.guidance_scale = 0.0f;
  in.image.eta = 0.0f;
  in.image.sampler = "ddim";
  in.image.seed = 7;
  in.image.preview_every = 1;
  in.options.name = "mine";
  in.options.priority = 3;
  in.options.deadline = absl::FromUnixSeconds(2000000000);
  absl::StatusOr<Request> r = engine_->Prepare(in);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, TaskKind::kText);
  EXPECT_EQ(r->max_images, 0);
  EXPECT_TRUE(r->uncond_prompt.empty());
  EXPECT_EQ(r->text.max_tokens, 3);
  EXPECT_EQ(r->text.temperature, 0.0f);
  EXPECT_EQ(r->text.top_p, 1.0f);
  EXPECT_EQ(r->text.top_k, 0);
  EXPECT_EQ(r->text.min_p, 0.2f);
  EXPECT_EQ(r->text.repetition_penalty, 1.0f);
  EXPECT_EQ(r->text.seed, 0u);
  EXPECT_THAT(r->text.stop, ElementsAre("."));
  EXPECT_TRUE(r->text.stop_token_ids.empty());  // ignore_eos
  EXPECT_EQ(r->image.steps, 2);
  EXPECT_EQ(r->image.guidance_scale, 0.0f);
  EXPECT_EQ(r->image.eta, 0.0f);
  EXPECT_EQ(r->image.solver, DiffusionSolver::kDdim);
  EXPECT_EQ(r->image.seed, 7u);
  EXPECT_EQ(r->preview_every, 1);
  EXPECT_EQ(r->name, "mine");
  EXPECT_EQ(r->priority, 3);
  EXPECT_EQ(r->deadline, absl::FromUnixSeconds(2000000000));
}

// The templates of infusion-eval's in-process backend, which used to build its prompts itself:
// a caption with no text after the image, and one user turn holding the image, then the question.
TEST_F(InferenceEngineTest, CaptionAndChatAboutAnImageBuildTheEvalPrompts) {
  const ModelProcessor& p = engine_->processor();
  const PromptBuilder builder(engine_->config().tokens);
  absl::StatusOr<Image> pixels = DecodeImage(TestPng());
  ASSERT_TRUE(pixels.ok()) << pixels.status();
  const PromptPart image = PromptPart::Image(p.EncodeImage(*pixels));

  CaptionRequest caption;
  caption.image.data = TestPng();
  absl::StatusOr<Request> c = engine_->Prepare(caption);
  ASSERT_TRUE(c.ok()) << c.status();
  const std::vector<PromptPart> expected_caption = builder.Caption(image, {}).prompt;
  ASSERT_EQ(c->prompt.size(), expected_caption.size());
  for (size_t i = 0; i < expected_caption.size(); ++i) {
    EXPECT_EQ(c->prompt[i].tokens, expected_caption[i].tokens) << i;
    EXPECT_EQ(c->prompt[i].image_patches, expected_caption[i].image_patches) << i;
  }
  EXPECT_THAT(c->text.stop_token_ids, ElementsAre(3));

  ChatRequest chat;
  chat.messages.push_back(
      {"user", {InputPart::Image(TestPng()), InputPart::Text("how many objects are there?")}});
  chat.max_images = 0;
  absl::StatusOr<Request> q = engine_->Prepare(chat);
  ASSERT_TRUE(q.ok()) << q.status();
  ChatMessage turn;
  turn.parts = {image, PromptPart::Text(p.Tokenize("how many objects are there?"))};
  const std::vector<PromptPart> expected_chat = builder.Chat({turn}).prompt;
  ASSERT_EQ(q->prompt.size(), expected_chat.size());
  for (size_t i = 0; i < expected_chat.size(); ++i) {
    EXPECT_EQ(q->prompt[i].tokens, expected_chat[i].tokens) << i;
    EXPECT_EQ(q->prompt[i].image_patches, expected_chat[i].image_patches) << i;
  }
  EXPECT_TRUE(q->uncond_prompt.empty());
}

TEST_F(InferenceEngineTest, GenerateErrorsNameTheField) {
  GenerateRequest r;
  EXPECT_EQ(Message(engine_->Prepare(r)), "parts must not be empty");
  r.parts = {InputPart::Text("hello"), InputPart()};
  EXPECT_EQ(Message(engine_->Prepare(r)), "parts[1] has neither text nor image");
  r.parts = {InputPart::Text("hello")};
  r.text.top_p = 0.0f;
  EXPECT_EQ(Message(engine_->Prepare(r)), "text.top_p must be in (0, 1], got 0");
  r.text.top_p.reset();
  r.max_images = 17;
  EXPECT_EQ(Message(engine_->Prepare(r)), "max_images must be in [0, 16], got 17");
}

TEST_F(InferenceEngineTest, TextToImageErrorsNameTheField) {
  TextToImageRequest r;
  EXPECT_EQ(Message(engine_->Prepare(r)), "prompt must not be empty");
  r.prompt = "a red circle";
  r.image.sampler = "euler";
  EXPECT_EQ(Message(engine_->Prepare(r)),
            "image.sampler must be \"ddim\" or \"ddpm\", got \"euler\"");
  r.image.sampler.reset();
  r.image.guidance_scale = 60.0f;
  EXPECT_EQ(Message(engine_->Prepare(r)), "image.guidance_scale must be in [0, 50], got 60");
}

TEST_F(InferenceEngineTest, CaptionErrorsNameTheField) {
  CaptionRequest r;
  EXPECT_EQ(Message(engine_->Prepare(r)), "image.data: image is empty");
  r.image.data = "GIF89a";
  EXPECT_THAT(Message(engine_->Prepare(r)), StartsWith("image.data: image is not a decodable"));
  // <s> <boi> 4 patches <eoi> = 7 positions of the 256.
  r.image.data = TestPng();
  r.text.max_tokens = 250;
  EXPECT_EQ(Message(engine_->Prepare(r)),
            "text.max_tokens must be at most 249 (the context is 256 positions, the prompt takes "
            "7), got 250");
}

TEST_F(InferenceEngineTest, ChatErrorsNameTheField) {
  ChatRequest r;
  EXPECT_EQ(Message(engine_->Prepare(r)), "messages must not be empty");
  r.messages.push_back({"robot", {InputPart::Text("hi")}});
  EXPECT_EQ(Message(engine_->Prepare(r)),
            "messages[0].role must be \"system\", \"user\" or \"assistant\", got \"robot\"");
  r.messages[0].role = "user";
  r.messages.push_back({"assistant", {}});  // an empty reply is part of a valid history
  r.messages.push_back({"user", {InputPart::Text("and?"), InputPart::Image("not an image")}});
  EXPECT_THAT(Message(engine_->Prepare(r)), StartsWith("messages[2].parts[1].image.data: "));
  r.messages[2].parts.pop_back();
  EXPECT_TRUE(engine_->Prepare(r).ok());
  r.messages[1].role = "system";
  EXPECT_EQ(Message(engine_->Prepare(r)), "messages[1].parts: the message is empty");
}

TEST_F(InferenceEngineTest, EditErrorsNameTheField) {
  EditImageRequest r;
  r.image.data = TestPng();
  EXPECT_EQ(Message(engine_->Prepare(r)), "instruction must not be empty");
  r.instruction = "make it blue";
  r.image_params.steps = -3;
  EXPECT_EQ(Message(engine_->Prepare(r)), "image_params.steps must be in [1, 1000], got -3");
  r.image_params.steps = 10;
  r.image_params.preview_every = -1;
  EXPECT_EQ(Message(engine_->Prepare(r)), "image_params.preview_every must be >= 0, got -1");
  r.image_params.preview_every = 0;
  // Over the engine's ImageLimits (64 x 64 pixels here): refused before it is decoded.
  Image large{65, 65, std::vector<uint8_t>(65 * 65 * 3, 128)};
  r.image.data = *EncodePng(large);
  EXPECT_EQ(Message(engine_->Prepare(r)),
            "image.data: image is 65x65 = 4225 pixels, more than the limit of 4096");
}

TEST_F(InferenceEngineTest, SubmitRefusesWhatPrepareRefuses) {
  ChatRequest r;
  r.messages.push_back({"user", {}});
  auto stream = std::make_shared<RequestStream>();
  const absl::StatusOr<RequestId> id = engine_->Submit(r, stream);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(id.status().message(), "messages[0].parts: the message is empty");
}

TEST_F(InferenceEngineTest, TextEventsThenFinish) {
  GenerateRequest r;
  r.parts = {InputPart::Text("hello there")};
  r.max_images = 0;
  r.text.temperature = 0.0f;
  r.text.max_tokens = 12;
  r.text.ignore_eos = true;  // exactly 12 tokens
  auto stream = std::make_shared<RequestStream>();
  ASSERT_TRUE(engine_->Submit(r, stream).ok());
  const std::vector<RequestEvent> events = Drain(*stream);
  ASSERT_FALSE(events.empty());
  const RequestEvent& finish = events.back();
  ASSERT_EQ(finish.type, RequestEvent::Type::kFinish);
  EXPECT_TRUE(finish.status.ok()) << finish.status;
  EXPECT_EQ(finish.reason, FinishReason::kLength);
  EXPECT_EQ(finish.usage.generated_tokens, 12);
  int texts = 0;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i].type, RequestEvent::Type::kText) << i;
    ++texts;
  }
  EXPECT_GE(texts, 1);
  EXPECT_FALSE(stream->Next().has_value());  // nothing after the finish
}

TEST_F(InferenceEngineTest, ImageRequestGetsProgressThenTheImageThenFinish) {
  TextToImageRequest r;
  r.prompt = "a red circle";
  r.image.steps = 3;
  r.image.seed = 1;
  r.image.preview_every = 2;
  auto stream = std::make_shared<RequestStream>();
  ASSERT_TRUE(engine_->Submit(r, stream).ok());
  const std::vector<RequestEvent> events = Drain(*stream);
  ASSERT_EQ(events.size(), 5u);  // 3 progress, the image, finish
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(events[i].type, RequestEvent::Type::kImageProgress) << i;
    EXPECT_EQ(events[i].step, i + 1);
    EXPECT_EQ(events[i].total_steps, 3);
    EXPECT_EQ(events[i].patches.empty(), i != 1) << i;  // a preview after step 2 only
  }
  ASSERT_EQ(events[3].type, RequestEvent::Type::kImage);
  absl::StatusOr<Image> image = engine_->DecodeImage(events[3].patches);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 32);
  EXPECT_EQ(image->height, 32);
  // The engine decoded the image with its step and sent the pixels along: the same pixels.
  ASSERT_NE(events[3].image, nullptr);
  EXPECT_EQ(events[3].image->width, image->width);
  EXPECT_EQ(events[3].image->height, image->height);
  EXPECT_EQ(events[3].image->rgb, image->rgb);
  ASSERT_EQ(events[4].type, RequestEvent::Type::kFinish);
  EXPECT_TRUE(events[4].status.ok()) << events[4].status;
  EXPECT_EQ(events[4].reason, FinishReason::kImage);
  EXPECT_EQ(events[4].usage.image_steps, 3);
}

TEST_F(InferenceEngineTest, CancelEndsARequestWithCancelled) {
  TextToImageRequest r;
  r.prompt = "a red circle";
  r.image.steps = 1000;  // far more than can run before the cancellation lands
  auto stream = std::make_shared<RequestStream>();
  absl::StatusOr<RequestId> id = engine_->Submit(r, stream);
  ASSERT_TRUE(id.ok()) << id.status();
  std::optional<RequestEvent> first = stream->Next();
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->type, RequestEvent::Type::kImageProgress);  // running
  engine_->Cancel(*id);
  std::vector<RequestEvent> rest = Drain(*stream);
  ASSERT_FALSE(rest.empty());
  const RequestEvent& finish = rest.back();
  ASSERT_EQ(finish.type, RequestEvent::Type::kFinish);
  EXPECT_EQ(finish.reason, FinishReason::kCancelled);
  EXPECT_EQ(finish.status.code(), absl::StatusCode::kCancelled);
  EXPECT_LT(finish.usage.image_steps, 1000);
  for (const RequestEvent& e : rest) EXPECT_NE(e.type, RequestEvent::Type::kImage);
}

// DecodeImage from several threads at once: each waits for the engine thread, which decodes
// whatever is queued in one batch; every caller gets its own image.
TEST_F(InferenceEngineTest, DecodeImageFromManyThreadsAtOnce) {
  const size_t values = 4 * 128;
  std::vector<std::vector<float>> patches(6, std::vector<float>(values));
  std::vector<absl::StatusOr<Image>> alone;
  for (size_t i = 0; i < patches.size(); ++i) {
    for (size_t j = 0; j < values; ++j) patches[i][j] = 0.1f * static_cast<float>(i) - 0.002f * j;
    alone.push_back(engine_->DecodeImage(patches[i]));
    ASSERT_TRUE(alone.back().ok()) << alone.back().status();
  }
  std::vector<absl::StatusOr<Image>> together(patches.size(), absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < patches.size(); ++i) {
    threads.emplace_back([&, i] { together[i] = engine_->DecodeImage(patches[i]); });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < patches.size(); ++i) {
    ASSERT_TRUE(together[i].ok()) << i << ": " << together[i].status();
    ASSERT_EQ(together[i]->rgb.size(), alone[i]->rgb.size()) << i;
    // A codec batch may take other kernels than one image alone: a level of rounding apart.
    int worst = 0;
    for (size_t j = 0; j < alone[i]->rgb.size(); ++j) {
      worst = std::max(worst, std::abs(together[i]->rgb[j] - alone[i]->rgb[j]));
    }
    EXPECT_LE(worst, 2) << i;
  }
  EXPECT_NE(alone[0]->rgb, alone[5]->rgb);  // the inputs differ, so must the images
}

TEST_F(InferenceEngineTest, DecodeImageRefusesAWrongNumberOfValues) {
  const absl::StatusOr<Image> image = engine_->DecodeImage(std::vector<float>(10, 0.0f));
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(image.status().message(), HasSubstr("512"));
  EXPECT_TRUE(engine_->DecodeImage(std::vector<float>(4 * 128, 0.0f)).ok());
}

}  // namespace
}  // namespace infusion::serving
