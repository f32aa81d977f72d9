#include "server/proto_converter.h"

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infusion::server {

using engine::DecodeImage;
using engine::DiffusionSolver;
using engine::GenerationConfig;
using engine::Image;
using engine::ModelProcessor;
using scheduler::FinishReason;
using scheduler::Request;
using scheduler::RequestEvent;
using scheduler::TaskKind;
using serving::ChatRequest;
using serving::InferenceEngine;
using serving::InferenceEngineOptions;
using serving::InputPart;

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Requests go proto -> typed request (the converter) -> scheduler Request (the engine's Prepare,
// which Submit runs): what a gRPC call would queue, without an engine thread.
class ProtoConverterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    InferenceEngineOptions options;
    options.executor.model_dir = INFUSION_TEST_MODEL_DIR;
    options.executor.kv_cache_bytes = size_t{4} << 20;
    options.start_engine_thread = false;
    auto engine = InferenceEngine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = engine->release();
    processor_ = &engine_->processor();
  }
  static void TearDownTestSuite() { delete engine_; }

  template <typename Proto>
  static absl::StatusOr<Request> ToRequest(const Proto& proto) {
    return engine_->Prepare(ProtoConverter::FromProto(proto));
  }

  static v1::Image TestImage() {
    std::ifstream file(INFUSION_SOURCE_DIR "/tests/data/images/shapes/red_circle.png",
                       std::ios::binary);
    std::stringstream bytes;
    bytes << file.rdbuf();
    v1::Image image;
    image.set_data(bytes.str());
    return image;
  }

  void SetUp() override {
    ASSERT_NE(engine_, nullptr);
    converter_ = std::make_unique<ProtoConverter>(engine_);
  }

  static InferenceEngine* engine_;
  static const ModelProcessor* processor_;
  std::unique_ptr<ProtoConverter> converter_;
};

InferenceEngine* ProtoConverterTest::engine_ = nullptr;
const ModelProcessor* ProtoConverterTest::processor_ = nullptr;

TEST_F(ProtoConverterTest, TextToImageFollowsTheTemplateAndTheModelDefaults) {
  v1::TextToImageRequest proto;
  proto.set_prompt("a red circle");
  absl::StatusOr<Request> r = ToRequest(proto);
  ASSERT_TRUE(r.ok()) << r.status();
  const GenerationConfig& defaults = processor_->generation();
  EXPECT_EQ(r->kind, TaskKind::kTextToImage);
  EXPECT_TRUE(r->starts_with_image);
  EXPECT_TRUE(r->finish_after_image);
  ASSERT_EQ(r->prompt.size(), 1u);
  const std::vector<int32_t>& tokens = r->prompt[0].tokens;
  EXPECT_EQ(tokens.front(), 2);  // <s>
  EXPECT_EQ(tokens.back(), 4);   // <boi>
  EXPECT_EQ(tokens.size(), processor_->Tokenize("a red circle").size() + 2);
  ASSERT_EQ(r->uncond_prompt.size(), 1u);
  EXPECT_THAT(r->uncond_prompt[0].tokens, ElementsAre(2, 4));
  EXPECT_EQ(r->image.steps, defaults.image_steps);
  EXPECT_EQ(r->image.guidance_scale, defaults.guidance_scale);
  EXPECT_EQ(r->image.solver, DiffusionSolver::kDdim);
  EXPECT_EQ(r->preview_every, 0);
  // Unset seeds are drawn at random.
  EXPECT_NE(r->image.seed, ToRequest(proto)->image.seed);
}

TEST_F(ProtoConverterTest, AFieldSetToZeroIsNotUnset) {
  v1::TextToImageRequest proto;
  proto.set_prompt("a red circle");
  proto.mutable_image()->set_guidance_scale(0.0f);  // unconditional; the default is 3
  proto.mutable_image()->set_seed(0);
  proto.mutable_image()->set_sampler("ddpm");
  absl::StatusOr<Request> r = ToRequest(proto);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->image.guidance_scale, 0.0f);
  EXPECT_EQ(r->image.seed, 0u);
  EXPECT_EQ(r->image.solver, DiffusionSolver::kDdpm);
}

TEST_F(ProtoConverterTest, UnsetProtoFieldsStayUnsetForTheEngine) {
  v1::ChatRequest proto;
  v1::Message* m = proto.add_messages();
  m->set_role("user");
  m->add_parts()->set_text("hi");
  m->add_parts();  // neither text nor image
  proto.mutable_text()->set_temperature(0.0f);
  proto.mutable_text()->add_stop("\n");
  proto.mutable_image()->set_sampler("");
  const ChatRequest r = ProtoConverter::FromProto(proto);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].role, "user");
  ASSERT_EQ(r.messages[0].parts.size(), 2u);
  EXPECT_EQ(r.messages[0].parts[0].kind, InputPart::Kind::kText);
  EXPECT_EQ(r.messages[0].parts[0].text, "hi");
  EXPECT_EQ(r.messages[0].parts[1].kind, InputPart::Kind::kNone);
  EXPECT_EQ(r.text.temperature, 0.0f);
  EXPECT_FALSE(r.text.max_tokens.has_value());
  EXPECT_FALSE(r.text.seed.has_value());
  EXPECT_THAT(r.text.stop, ElementsAre("\n"));
  EXPECT_FALSE(r.max_images.has_value());
  EXPECT_FALSE(r.image.sampler.has_value());  // "" is the API's "the model's default"
  EXPECT_FALSE(r.image.steps.has_value());
}

TEST_F(ProtoConverterTest, CaptionPutsTheImageFirstAndStopsAtEos) {
  v1::CaptionRequest proto;
  *proto.mutable_image() = TestImage();
  proto.mutable_text()->set_temperature(0.5f);
  absl::StatusOr<Request> r = ToRequest(proto);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, TaskKind::kCaption);
  // <s> <boi> | 4 patches of 128 | <eoi>
  ASSERT_EQ(r->prompt.size(), 3u);
  EXPECT_THAT(r->prompt[0].tokens, ElementsAre(2, 4));
  EXPECT_EQ(r->prompt[1].image_patches.size(), 4u * 128);
  EXPECT_THAT(r->prompt[2].tokens, ElementsAre(5));
  EXPECT_THAT(r->text.stop_token_ids, ElementsAre(3));
  EXPECT_EQ(r->text.temperature, 0.5f);
  EXPECT_EQ(r->text.max_tokens, processor_->generation().max_tokens);
  EXPECT_EQ(r->max_images, 0);
}

TEST_F(ProtoConverterTest, ChatAppliesTheTemplateAndStopsAtTheEndOfTurn) {
  v1::ChatRequest proto;
  v1::Message* m = proto.add_messages();
  m->set_role("user");
  m->add_parts()->set_text("hi");
  absl::StatusOr<Request> r = ToRequest(proto);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<int32_t> expected = {2, 7};  // <s> <|user|>
  for (int32_t t : processor_->Tokenize("hi")) expected.push_back(t);
  expected.insert(expected.end(), {9, 8});  // <|end|> <|assistant|>
  ASSERT_EQ(r->prompt.size(), 1u);
  EXPECT_EQ(r->prompt[0].tokens, expected);
  EXPECT_THAT(r->text.stop_token_ids, ElementsAre(9, 3));
  EXPECT_EQ(r->max_images, 1);  // the default: the reply may hold one image
  EXPECT_THAT(r->uncond_prompt[0].tokens, ElementsAre(2, 4));
}

TEST_F(ProtoConverterTest, MaxTokensMustFitTheContextAfterThePrompt) {
  // Caption without a prompt: <s> <boi> 4 patches <eoi> = 7 positions of the 256.
  v1::CaptionRequest proto;
  *proto.mutable_image() = TestImage();
  proto.mutable_text()->set_max_tokens(249);
  EXPECT_TRUE(ToRequest(proto).ok());
  proto.mutable_text()->set_max_tokens(250);
  const absl::Status s = ToRequest(proto).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      s.message(),
      "text.max_tokens must be at most 249 (the context is 256 positions, the prompt takes 7), "
      "got 250");
}

TEST_F(ProtoConverterTest, ErrorsNameTheField) {
  v1::EditImageRequest edit;
  *edit.mutable_image() = TestImage();
  edit.set_instruction("make it blue");
  edit.mutable_image_params()->set_steps(-3);
  EXPECT_EQ(ToRequest(edit).status().message(), "image_params.steps must be in [1, 1000], got -3");
  edit.mutable_image_params()->set_steps(10);
  edit.mutable_image_params()->set_preview_every(-1);
  EXPECT_EQ(ToRequest(edit).status().message(), "image_params.preview_every must be >= 0, got -1");

  v1::GenerateRequest generate;
  generate.add_parts()->set_text("hello");
  generate.add_parts();  // neither text nor image
  EXPECT_EQ(ToRequest(generate).status().message(), "parts[1] has neither text nor image");
  generate.mutable_parts(1)->set_text("there");
  generate.set_max_images(-1);
  EXPECT_THAT(ToRequest(generate).status().message(), HasSubstr("max_images"));

  v1::ChatRequest chat;
  chat.add_messages()->set_role("user");
  EXPECT_EQ(ToRequest(chat).status().message(), "messages[0].parts: the message is empty");
  // An empty assistant turn (the model ended its reply at once) is part of a valid history.
  chat.mutable_messages(0)->add_parts()->set_text("hello");
  chat.add_messages()->set_role("assistant");
  v1::Message* next = chat.add_messages();
  next->set_role("user");
  next->add_parts()->set_text("are you there?");
  EXPECT_TRUE(ToRequest(chat).ok()) << ToRequest(chat).status();
  chat.mutable_messages(1)->set_role("system");
  EXPECT_EQ(ToRequest(chat).status().message(), "messages[1].parts: the message is empty");

  v1::CaptionRequest caption;
  caption.mutable_image()->set_data("GIF89a");
  EXPECT_THAT(ToRequest(caption).status().message(), HasSubstr("image.data: "));
}

TEST_F(ProtoConverterTest, EventsBecomeResponses) {
  RequestEvent finish;
  finish.type = RequestEvent::Type::kFinish;
  finish.reason = FinishReason::kLength;
  finish.usage = {/*prompt_tokens=*/12, /*generated_tokens=*/5, /*image_steps=*/0, 0.25};
  absl::StatusOr<v1::GenerateResponse> f = converter_->ToResponse(finish);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->finish().reason(), "length");
  EXPECT_EQ(f->finish().usage().prompt_tokens(), 12);
  EXPECT_EQ(f->finish().usage().generated_tokens(), 5);
  EXPECT_EQ(f->finish().usage().queue_seconds(), 0.25);

  RequestEvent image;
  image.type = RequestEvent::Type::kImage;
  image.patches.assign(4 * 128, 0.0f);
  image.seed = 9007199254740993u;  // above 2^53: carried as a 64-bit integer, not a double
  absl::StatusOr<v1::GenerateResponse> i = converter_->ToResponse(image);
  ASSERT_TRUE(i.ok()) << i.status();
  absl::StatusOr<Image> png = DecodeImage(i->image().png());
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->width, 32);
  EXPECT_EQ(i->image().width(), 32);
  EXPECT_EQ(i->image().seed(), 9007199254740993u);

  RequestEvent text;
  text.type = RequestEvent::Type::kText;
  text.text = "ok \xff\xc3";  // bytes that are not UTF-8 would make clients drop the message
  absl::StatusOr<v1::GenerateResponse> t = converter_->ToResponse(text);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->text().text(), "ok \xEF\xBF\xBD\xEF\xBF\xBD");  // U+FFFD for each

  RequestEvent progress;
  progress.type = RequestEvent::Type::kImageProgress;
  progress.step = 3;
  progress.total_steps = 10;
  absl::StatusOr<v1::GenerateResponse> p = converter_->ToResponse(progress);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->progress().step(), 3);
  EXPECT_EQ(p->progress().total_steps(), 10);
  EXPECT_TRUE(p->progress().preview_png().empty());
}

}  // namespace
}  // namespace infusion::server
