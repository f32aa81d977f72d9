#include "engine/kv_cache/position_key.h"

#include <cstring>

#include "gtest/gtest.h"

namespace infusion::engine {
namespace {

TEST(PositionKeyTest, HashBytesIsFnv1a64) {
  // Reference values of the FNV-1a 64-bit test suite.
  EXPECT_EQ(HashBytes("", 0), 0xcbf29ce484222325ULL);
  EXPECT_EQ(HashBytes("a", 1), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(HashBytes("foobar", 6), 0x85944171f73967e8ULL);
}

TEST(PositionKeyTest, HashBytesSeesEveryByteOfLatents) {
  float latents[4] = {0.5f, -1.0f, 2.0f, 0.25f};
  const uint64_t before = HashBytes(latents, sizeof(latents));
  latents[3] = 0.26f;
  EXPECT_NE(HashBytes(latents, sizeof(latents)), before);
}

TEST(PositionKeyTest, TextKeyIsTheTokenId) { EXPECT_EQ(PositionKeyForToken(42), 42u); }

TEST(PositionKeyTest, ImagePatchKeysNeverEqualTokenIds) {
  for (int patch = 0; patch < 64; ++patch) {
    EXPECT_GE(PositionKeyForImagePatch(/*image_hash=*/0, patch), uint64_t{1} << 63);
  }
}

TEST(PositionKeyTest, ImagePatchKeyDependsOnImageAndPatchIndex) {
  const uint64_t key = PositionKeyForImagePatch(/*image_hash=*/7, /*patch_index=*/3);
  EXPECT_EQ(PositionKeyForImagePatch(7, 3), key);
  EXPECT_NE(PositionKeyForImagePatch(7, 4), key);
  EXPECT_NE(PositionKeyForImagePatch(8, 3), key);
}

TEST(PositionKeyTest, HashCombineIsOrderSensitive) {
  EXPECT_NE(HashCombine(HashCombine(0, 1), 2), HashCombine(HashCombine(0, 2), 1));
  EXPECT_NE(HashCombine(1, 2), HashCombine(2, 1));
}

}  // namespace
}  // namespace infusion::engine
