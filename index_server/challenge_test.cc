#include "index_server/challenge.h"

#include "gtest/gtest.h"

namespace trove {
namespace index_server {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1800000000);

TEST(ChallengeTest, IssuedNonceIsRedeemedOnce) {
  ChallengeIssuer issuer(absl::Seconds(30));
  std::string nonce = issuer.Issue(kStart);
  EXPECT_TRUE(issuer.Redeem(nonce, kStart + absl::Seconds(5)).ok());
  EXPECT_EQ(issuer.Redeem(nonce, kStart + absl::Seconds(6)).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(ChallengeTest, NoncesOfOneWindowDiffer) {
  ChallengeIssuer issuer(absl::Seconds(30));
  std::string a = issuer.Issue(kStart);
  std::string b = issuer.Issue(kStart);
  EXPECT_NE(a, b);
  EXPECT_TRUE(issuer.Redeem(a, kStart).ok());
  EXPECT_TRUE(issuer.Redeem(b, kStart).ok());
}

TEST(ChallengeTest, NonceExpiresAfterTwoWindows) {
  ChallengeIssuer issuer(absl::Seconds(30));
  std::string nonce = issuer.Issue(kStart);
  EXPECT_EQ(issuer.Redeem(nonce, kStart + absl::Seconds(61)).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(ChallengeTest, ForgedAndForeignNoncesAreRefused) {
  ChallengeIssuer issuer(absl::Seconds(30));
  ChallengeIssuer other(absl::Seconds(30));
  EXPECT_EQ(issuer.Redeem(other.Issue(kStart), kStart).code(),
            absl::StatusCode::kUnauthenticated);
  std::string nonce = issuer.Issue(kStart);
  nonce.back() ^= 1;
  EXPECT_EQ(issuer.Redeem(nonce, kStart).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(issuer.Redeem("short", kStart).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(ChallengeTest, ManyChallengesDoNotEvictAnHonestOne) {
  ChallengeIssuer issuer(absl::Seconds(30));
  std::string honest = issuer.Issue(kStart);
  for (int i = 0; i < 10000; ++i) issuer.Issue(kStart);
  EXPECT_TRUE(issuer.Redeem(honest, kStart + absl::Seconds(1)).ok());
}

}  // namespace
}  // namespace index_server
}  // namespace trove
