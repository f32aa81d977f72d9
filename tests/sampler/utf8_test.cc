#include "engine/sampler/utf8.h"

#include "gtest/gtest.h"

namespace infusion::engine {
namespace {

TEST(Utf8CompletePrefixLengthTest, HoldsBackAnIncompleteLastCharacter) {
  EXPECT_EQ(Utf8CompletePrefixLength(""), 0u);
  EXPECT_EQ(Utf8CompletePrefixLength("abc"), 3u);
  EXPECT_EQ(Utf8CompletePrefixLength("a\xC3"), 1u);           // First byte of "é".
  EXPECT_EQ(Utf8CompletePrefixLength("a\xC3\xA9"), 3u);       // "aé".
  EXPECT_EQ(Utf8CompletePrefixLength("\xE2\x82"), 0u);        // Two bytes of "€".
  EXPECT_EQ(Utf8CompletePrefixLength("x\xE2\x82\xAC"), 4u);   // "x€".
  EXPECT_EQ(Utf8CompletePrefixLength("ok\xF0\x9F\x98"), 2u);  // Three bytes of U+1F600.
  EXPECT_EQ(Utf8CompletePrefixLength("ok\xF0\x9F\x98\x80"), 6u);
}

TEST(Utf8CompletePrefixLengthTest, NeverHoldsBackBytesThatCannotBecomeValid) {
  EXPECT_EQ(Utf8CompletePrefixLength("a\xFF"), 2u);     // Never a UTF-8 byte.
  EXPECT_EQ(Utf8CompletePrefixLength("a\x80"), 2u);     // Stray continuation byte.
  EXPECT_EQ(Utf8CompletePrefixLength("\xE0\x80"), 2u);  // Overlong: E0 needs A0..BF next.
  EXPECT_EQ(Utf8CompletePrefixLength("\xED\xA0"), 2u);  // Would be a surrogate.
  EXPECT_EQ(Utf8CompletePrefixLength("\x80\x80\x80\x80"), 4u);
}

TEST(Utf8CompletePrefixLengthTest, FeedingByteByByteEmitsWholeCharacters) {
  const std::string text = "h\xC3\xA9llo \xE2\x82\xAC\xF0\x9F\x98\x80";  // "héllo €😀".
  std::string produced, emitted;
  for (const char byte : text) {
    produced.push_back(byte);
    const size_t complete = Utf8CompletePrefixLength(produced);
    ASSERT_GE(complete, emitted.size());
    emitted = produced.substr(0, complete);
    EXPECT_TRUE(IsValidUtf8(emitted)) << emitted.size();
  }
  EXPECT_EQ(emitted, text);
}

TEST(IsValidUtf8Test, AcceptsWellFormedText) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ASCII"));
  EXPECT_TRUE(IsValidUtf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_TRUE(IsValidUtf8("\xEF\xBF\xBF"));      // U+FFFF.
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the last code point.
}

TEST(IsValidUtf8Test, RejectsMalformedText) {
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // Truncated.
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // Overlong "/".
  EXPECT_FALSE(IsValidUtf8("\xE0\x9F\xBF"));      // Overlong U+07FF.
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // Surrogate U+D800.
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // U+110000.
  EXPECT_FALSE(IsValidUtf8("a\x80z"));            // Stray continuation byte.
  EXPECT_FALSE(IsValidUtf8("\xC3\x28"));          // Lead byte without continuation.
}

}  // namespace
}  // namespace infusion::engine
