#include "server/api_key_authenticator.h"

#include <cstdio>
#include <fstream>

#include "gtest/gtest.h"

namespace infusion::server {
namespace {

TEST(ApiKeyAuthenticatorTest, AcceptsOnlyBearerWithAKnownKey) {
  auto auth = ApiKeyAuthenticator::FromText("# keys\nalpha\n\n  beta \n#gamma\n");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE((*auth)->Authenticate("Bearer alpha").ok());
  EXPECT_TRUE((*auth)->Authenticate("Bearer beta").ok());  // surrounding whitespace trimmed
  for (const char* bad : {"", "alpha", "Bearer gamma", "Bearer # keys", "Bearer alph",
                          "Bearer alphaa", "bearer alpha", "Basic alpha", "Bearer "}) {
    EXPECT_EQ((*auth)->Authenticate(bad).code(), absl::StatusCode::kUnauthenticated) << bad;
  }
}

TEST(ApiKeyAuthenticatorTest, AFileWithoutKeysIsAnError) {
  EXPECT_EQ(ApiKeyAuthenticator::FromText("# nothing\n\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string path = ::testing::TempDir() + "/empty_keys";
  std::ofstream(path) << "\n";
  EXPECT_EQ(ApiKeyAuthenticator::FromFile(path).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ApiKeyAuthenticator::FromFile(path + ".missing").status().code(),
            absl::StatusCode::kNotFound);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace infusion::server
