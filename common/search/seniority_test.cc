#include "common/search/seniority.h"

#include <string>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/search/query.h"
#include "common/search/search_index.h"
#include "gtest/gtest.h"

namespace trove {
namespace search {
namespace {

using Standing = SearchIndex::Standing;

TEST(SeniorityTest, PeersComeOfAgeInOrder) {
  FakeClock clock;
  Seniority<std::string> seniority(absl::Hours(1));
  const absl::Time start = clock.Now();
  EXPECT_EQ(seniority.Track("old", start - absl::Hours(2), clock.Now()),
            Standing::kEstablished);
  EXPECT_EQ(seniority.Track("b", start - absl::Minutes(10), clock.Now()),
            Standing::kNewcomer);
  EXPECT_EQ(seniority.Track("a", start, clock.Now()), Standing::kNewcomer);
  EXPECT_EQ(seniority.watched(), 2u);
  EXPECT_FALSE(seniority.AnyDue(clock.Now()));
  clock.Advance(absl::Minutes(50));
  EXPECT_TRUE(seniority.AnyDue(clock.Now()));
  EXPECT_EQ(seniority.TakeDue(clock.Now()), std::vector<std::string>{"b"});
  clock.Advance(absl::Minutes(10));
  EXPECT_EQ(seniority.TakeDue(clock.Now()), std::vector<std::string>{"a"});
  EXPECT_EQ(seniority.watched(), 0u);
}

TEST(SeniorityTest, ForgottenPeersAreNotDue) {
  FakeClock clock;
  Seniority<int> seniority(absl::Seconds(5));
  seniority.Track(1, clock.Now(), clock.Now());
  seniority.Track(2, clock.Now(), clock.Now());
  seniority.Forget(1);
  // Tracking again moves the watch.
  seniority.Track(2, clock.Now() + absl::Seconds(5), clock.Now());
  clock.Advance(absl::Seconds(6));
  EXPECT_TRUE(seniority.TakeDue(clock.Now()).empty());
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(seniority.TakeDue(clock.Now()), std::vector<int>{2});
}

TEST(SeniorityTest, ZeroEstablishesEveryoneAtOnce) {
  Seniority<int> seniority(absl::ZeroDuration());
  const absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_EQ(seniority.Track(1, now, now), Standing::kEstablished);
  EXPECT_EQ(seniority.watched(), 0u);
}

// The shown name as sources age in, with an injected clock: the source
// that came first comes of age first and its name shows; sources that stay
// as long count as much.
TEST(SeniorityTest, AgeingInMovesTheShownName) {
  FakeClock clock;
  Seniority<int> seniority(absl::Hours(1));
  SearchIndex index;
  const std::string cid(32, '\3');
  // Peer 1 shares the file as moonlight.iso; 40 minutes later peers 2 and
  // 3 announce it under another name.
  const Standing s1 = seniority.Track(1, clock.Now(), clock.Now());
  const SearchIndex::DocId real = index.Add(cid, 10, "moonlight.iso", s1);
  clock.Advance(absl::Minutes(40));
  const absl::Time later = clock.Now();
  SearchIndex::DocId fake = 0;
  for (int peer : {2, 3}) {
    fake = index.Add(cid, 10, "zz_trojan_setup_moonlight.exe",
                     seniority.Track(peer, later, clock.Now()));
  }
  // Only newcomers: the most common name shows.
  EXPECT_EQ(index.Lookup(cid)->name, "zz_trojan_setup_moonlight.exe");
  clock.Advance(absl::Minutes(20));
  for (int peer : seniority.TakeDue(clock.Now())) {
    EXPECT_EQ(peer, 1);
    index.Restand(real, Standing::kNewcomer);
  }
  EXPECT_EQ(index.Lookup(cid)->name, "moonlight.iso");
  // An hour after they came, the two are established too and outvote it:
  // nothing old is unmovable.
  clock.Advance(absl::Minutes(40));
  int due = 0;
  for (int peer : seniority.TakeDue(clock.Now())) {
    EXPECT_NE(peer, 1);
    index.Restand(fake, Standing::kNewcomer);
    ++due;
  }
  EXPECT_EQ(due, 2);
  EXPECT_EQ(index.Lookup(cid)->name, "zz_trojan_setup_moonlight.exe");
}

}  // namespace
}  // namespace search
}  // namespace trove
