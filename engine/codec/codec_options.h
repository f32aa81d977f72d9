// How an image codec runs (CreateImageCodec); torch-free, so that the serving headers can carry it.
#ifndef INFUSION_ENGINE_CODEC_CODEC_OPTIONS_H_
#define INFUSION_ENGINE_CODEC_CODEC_OPTIONS_H_

namespace infusion::engine {

struct CodecOptions {
  // Decode in bfloat16 where the CPU has AVX512-BF16 (oneDNN's bfloat16 convolutions, channels
  // last): a TAEF2 decode of 8 64x64 images took 55 ms instead of 120 on the development VM, its
  // pixels 0.2 levels of 255 from the float32 decode on average, up to ~15 at sharp edges
  // (tests/codec/codec_test.cc). No effect on other CPUs, on the encoder (a prompt's image stays
  // float32) or on the pixels codec.
  bool bf16_decode = false;
};

}  // namespace infusion::engine

#endif  // INFUSION_ENGINE_CODEC_CODEC_OPTIONS_H_
