#include "supernode/fan_out.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "gtest/gtest.h"

namespace trove {
namespace supernode {
namespace {

// A small network of supernodes in memory: each has its own FanOutSearch,
// its own leaves' hits and the list of supernodes it knows. The link
// answers a PeerSearch as the service does: once per query id, its own
// hits plus (hops permitting) its own fan-out.
class FakeNetwork : public SupernodeLink {
 public:
  struct Node {
    std::string name;
    std::vector<std::string> knows;
    std::unique_ptr<FanOutSearch> fan_out;
    int answered = 0;
    int asked = 0;
    bool down = false;
  };

  FakeNetwork(int hops, int max_targets) : hops_(hops), max_targets_(max_targets) {}

  Node* Add(const std::string& name, std::vector<std::string> knows) {
    auto node = std::make_unique<Node>();
    node->name = name;
    node->knows = std::move(knows);
    FanOutSearch::Options o;
    o.hops = hops_;
    o.max_targets = max_targets_;
    Node* raw = node.get();
    node->fan_out = std::make_unique<FanOutSearch>(
        o, this, &clock_, [raw] {
          std::vector<SupernodeRef> refs;
          for (const std::string& k : raw->knows) {
            SupernodeRef r;
            r.set_address(k);
            r.set_supernode_id(k);
            refs.push_back(r);
          }
          return refs;
        });
    nodes_[name] = std::move(node);
    return raw;
  }

  absl::StatusOr<SearchResponse> PeerSearch(const SupernodeRef& target,
                                            const PeerSearchRequest& request,
                                            absl::Time deadline) override {
    Node* node = nodes_.at(target.address()).get();
    {
      absl::MutexLock lock(&mu_);
      ++node->asked;
      if (node->down) return absl::UnavailableError("down");
    }
    SearchResponse out;
    absl::Status valid = ValidateFanOut(request.fan_out(), hops_);
    if (!valid.ok()) return valid;
    if (!node->fan_out->FirstSight(request.fan_out().query_id())) return out;
    {
      absl::MutexLock lock(&mu_);
      ++node->answered;
    }
    SearchHit own;
    own.set_cid(node->name);
    *out.add_hits() = own;
    for (const SearchHit& h :
         node->fan_out->Search(request.query(), request.fan_out(), deadline)) {
      *out.add_hits() = h;
    }
    return out;
  }

  absl::StatusOr<LocateResponse> PeerLocate(const SupernodeRef& target,
                                            const PeerLocateRequest& request,
                                            absl::Time deadline) override {
    Node* node = nodes_.at(target.address()).get();
    if (!node->fan_out->FirstSight(request.fan_out().query_id())) {
      return absl::NotFoundError("seen");
    }
    LocateResponse out;
    out.set_size(7);
    out.set_name("f");
    Source own;
    own.set_peer_id(node->name);
    *out.add_sources() = own;
    FanOutSearch::Located more =
        node->fan_out->Locate(request.cid(), request.fan_out(), deadline);
    for (const Source& s : more.sources) *out.add_sources() = s;
    return out;
  }

  // Starts a query at `name`, as the service does for its own leaves' query.
  std::vector<std::string> SearchFrom(const std::string& name) {
    Node* node = nodes_.at(name).get();
    FanOut q = node->fan_out->NewQuery();
    node->fan_out->FirstSight(q.query_id());
    std::vector<std::string> names;
    for (const SearchHit& h : node->fan_out->Search(
             SearchQuery(), q, absl::Now() + absl::Seconds(5))) {
      names.push_back(h.cid());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  Node* node(const std::string& name) { return nodes_.at(name).get(); }
  FakeClock& clock() { return clock_; }

 private:
  const int hops_;
  const int max_targets_;
  FakeClock clock_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Node>> nodes_;
};

using Names = std::vector<std::string>;

TEST(FanOutTest, HopLimitBoundsHowFarAQueryTravels) {
  // A line: a knows b, b knows c, c knows d.
  for (int hops = 0; hops <= 3; ++hops) {
    FakeNetwork net(hops, 8);
    net.Add("a", {"b"});
    net.Add("b", {"c"});
    net.Add("c", {"d"});
    net.Add("d", {});
    const Names all = {"b", "c", "d"};
    Names want(all.begin(), all.begin() + hops);
    EXPECT_EQ(net.SearchFrom("a"), want) << "hops " << hops;
  }
}

TEST(FanOutTest, EverySupernodeAnswersAQueryOnce) {
  // Everyone knows everyone: with three hops the query reaches each node
  // along many paths, and each answers only the first.
  FakeNetwork net(3, 8);
  net.Add("a", {"b", "c", "d"});
  net.Add("b", {"a", "c", "d"});
  net.Add("c", {"a", "b", "d"});
  net.Add("d", {"a", "b", "c"});
  EXPECT_EQ(net.SearchFrom("a"), (Names{"b", "c", "d"}));
  for (const char* n : {"b", "c", "d"}) {
    EXPECT_EQ(net.node(n)->answered, 1) << n;
    EXPECT_GT(net.node(n)->asked, 1) << n;  // reached along several paths
  }
  EXPECT_EQ(net.node("a")->answered, 0);  // its own query comes back unanswered
  // A second query is a new id: answered again.
  EXPECT_EQ(net.SearchFrom("b"), (Names{"a", "c", "d"}));
  EXPECT_EQ(net.node("c")->answered, 2);
}

TEST(FanOutTest, AQueryIdIsForgottenAfterItsTime) {
  FakeNetwork net(1, 8);
  FakeNetwork::Node* a = net.Add("a", {});
  EXPECT_TRUE(a->fan_out->FirstSight("0123456789abcdef"));
  EXPECT_FALSE(a->fan_out->FirstSight("0123456789abcdef"));
  net.clock().Advance(absl::Seconds(61));
  EXPECT_TRUE(a->fan_out->FirstSight("0123456789abcdef"));
}

TEST(FanOutTest, ADownSupernodeIsMissingFromTheAnswerOnly) {
  FakeNetwork net(1, 8);
  net.Add("a", {"b", "c"});
  net.Add("b", {});
  net.Add("c", {});
  net.node("b")->down = true;
  EXPECT_EQ(net.SearchFrom("a"), (Names{"c"}));
}

TEST(FanOutTest, AtMostMaxTargetsAreAsked) {
  FakeNetwork net(1, 2);
  net.Add("a", {"b", "c", "d"});
  net.Add("b", {});
  net.Add("c", {});
  net.Add("d", {});
  EXPECT_EQ(net.SearchFrom("a").size(), 2u);
  EXPECT_EQ(net.node("a")->fan_out->calls(), 2);
}

TEST(FanOutTest, LocateCollectsSourcesOncePerPeer) {
  FakeNetwork net(2, 8);
  net.Add("a", {"b", "c"});
  net.Add("b", {"c"});
  net.Add("c", {"b"});
  FakeNetwork::Node* a = net.node("a");
  FanOut q = a->fan_out->NewQuery();
  FanOutSearch::Located found =
      a->fan_out->Locate("cid", q, absl::Now() + absl::Seconds(5));
  std::vector<std::string> peers;
  for (const Source& s : found.sources) peers.push_back(s.peer_id());
  std::sort(peers.begin(), peers.end());
  EXPECT_EQ(peers, (Names{"b", "c"}));
  EXPECT_EQ(found.size, 7);
}

TEST(FanOutTest, ValidateFanOutRefusesBadIdsAndHops) {
  FanOut f;
  f.set_query_id("short");
  EXPECT_EQ(ValidateFanOut(f, 2).code(), absl::StatusCode::kInvalidArgument);
  f.set_query_id(std::string(16, 'x'));
  f.set_hops_left(3);
  EXPECT_EQ(ValidateFanOut(f, 2).code(), absl::StatusCode::kInvalidArgument);
  f.set_hops_left(-1);
  EXPECT_EQ(ValidateFanOut(f, 2).code(), absl::StatusCode::kInvalidArgument);
  f.set_hops_left(2);
  EXPECT_TRUE(ValidateFanOut(f, 2).ok());
}

}  // namespace
}  // namespace supernode
}  // namespace trove
