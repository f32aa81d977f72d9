#include "engine/sampler/stop_matcher.h"

#include <string>

#include "gtest/gtest.h"

namespace infusion::engine {
namespace {

// Feeds `delta` and checks what comes out.
void ExpectFeed(StopMatcher& matcher, const std::string& delta, const std::string& text,
                bool stopped) {
  const StopMatcher::Result result = matcher.Feed(delta);
  EXPECT_EQ(result.text, text) << "after " << delta;
  EXPECT_EQ(result.stopped, stopped) << "after " << delta;
}

TEST(StopMatcherTest, StopStringCompletedInALaterDelta) {
  StopMatcher matcher({"STOP"});
  ExpectFeed(matcher, "Hel", "Hel", false);
  ExpectFeed(matcher, "lo STOP", "lo ", true);
  EXPECT_TRUE(matcher.stopped());
}

TEST(StopMatcherTest, StopStringSplitAcrossDeltasIsNeverEmitted) {
  StopMatcher matcher({"STOP"});
  ExpectFeed(matcher, "Hello S", "Hello ", false);
  ExpectFeed(matcher, "TO", "", false);
  ExpectFeed(matcher, "P and more", "", true);
}

TEST(StopMatcherTest, HeldBackTextIsReleasedWhenItCannotBeAStopString) {
  StopMatcher matcher({"STOP"});
  ExpectFeed(matcher, "Hello ST", "Hello ", false);
  ExpectFeed(matcher, "ay", "STay", false);
}

TEST(StopMatcherTest, HoldsBackTheLongestPossibleStart) {
  // "ab" may begin "abc", so of "aab" only the first "a" is safe.
  StopMatcher matcher({"abc"});
  ExpectFeed(matcher, "aab", "a", false);
  ExpectFeed(matcher, "c", "", true);
}

TEST(StopMatcherTest, EarliestOfSeveralStopStringsWins) {
  StopMatcher matcher({"world", "lo"});
  ExpectFeed(matcher, "Hello world", "Hel", true);
}

TEST(StopMatcherTest, NothingAfterTheStop) {
  StopMatcher matcher({"."});
  ExpectFeed(matcher, "One. Two", "One", true);
  ExpectFeed(matcher, "Three", "", true);
  EXPECT_EQ(matcher.Flush(), "");
}

TEST(StopMatcherTest, FlushReleasesTheHeldBackTail) {
  StopMatcher matcher({"</end>"});
  ExpectFeed(matcher, "x </e", "x ", false);
  EXPECT_EQ(matcher.Flush(), "</e");
  EXPECT_EQ(matcher.Flush(), "");
}

TEST(StopMatcherTest, WithoutStopStringsEverythingPassesThrough) {
  StopMatcher matcher({});
  ExpectFeed(matcher, "any text", "any text", false);
}

TEST(StopMatcherTest, MultiByteStopStringsHoldWholeCharacters) {
  StopMatcher matcher({"\xC3\xA9!"});  // "é!"
  ExpectFeed(matcher, "caf\xC3\xA9", "caf", false);
  ExpectFeed(matcher, ".", "\xC3\xA9.", false);
  ExpectFeed(matcher, "\xC3\xA9!", "", true);
}

}  // namespace
}  // namespace infusion::engine
