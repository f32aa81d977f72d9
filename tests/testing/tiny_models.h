// Small model configurations for tests: big enough to exercise every code path (GQA, several
// layers, both patch-layer variants), small enough to run in milliseconds.
#ifndef INFUSION_TESTS_TESTING_TINY_MODELS_H_
#define INFUSION_TESTS_TESTING_TINY_MODELS_H_

#include "engine/model/model_config.h"

namespace infusion::testing {

inline engine::ModelConfig TinyConfig(engine::PatchEncoderKind patch_encoder) {
  engine::ModelConfig c;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 256;
  c.initializer_range = 0.2f;  // large enough that outputs depend visibly on every input
  c.image.codec = engine::CodecKind::kTaef2;
  c.image.image_size = 32;
  c.image.latent_channels = 32;
  c.image.latent_size = 4;
  c.image.patch_size = 2;
  c.image.patch_encoder = patch_encoder;
  c.image.latent_mean.assign(32, 0.0f);
  c.image.latent_std.assign(32, 1.0f);
  c.image.time_frequency_dim = 16;
  c.image.time_embed_dim = 32;
  c.image.unet.channels = {16, 32};
  c.image.unet.num_res_blocks = 1;
  c.image.unet.norm_groups = 8;
  return c;
}

}  // namespace infusion::testing

#endif  // INFUSION_TESTS_TESTING_TINY_MODELS_H_
