// churn_leaves: many leaves in one process, each a real peer as far as the
// network can tell (its own Ed25519 identity, its own TLS certificate and
// connections, its own listening port), joining, leaving and dying at
// random with a seeded generator.
//
//   churn_leaves --index=HOST:PORT --tls_ca=CA.pem [--leaves=200]
//       [--seed=0] [--churn_seconds=30] [--events_per_second=5]
//       [--state_out=PATH] [--ready_file=PATH]
//
// Each leaf runs the peer's own SupernodeSession (peer_client): it asks the
// index for supernodes (Bootstrap), joins one with a signed Join, publishes
// its list as signed changes, heartbeats with signed presences, holds the
// Watch stream and moves to its backup when its supernode goes, exactly as
// a `peer_client daemon` does. A leaf's port is a bound, listening socket
// that serves nothing (no one downloads from these leaves).
//
// After all leaves joined (the ready file gets a line) and
// --churn_delay_seconds more, the churn runs for --churn_seconds: at each event a leaf dies (its session is dropped
// without a Leave, its connections and port closed), leaves cleanly
// (Leave), comes back (with its old identity or a new one), or changes its
// list (a file added or removed). Then the leaves stay as they are.
//
// On SIGUSR1 (and when the churn ends) it writes --state_out (a JSON object,
// written under a temporary name then renamed): for every live leaf its
// peer id, the supernode it is joined to ("" when none), whether its
// latest list is published, and its files (cid, name, size); with the
// counts of events so far. On SIGINT/SIGTERM every live leaf leaves and the
// program ends.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/identity.h"
#include "common/tls_credentials.h"
#include "nlohmann/json.hpp"
#include "peer_client/supernode_session.h"
#include "protos/types.pb.h"

ABSL_FLAG(std::string, index, "",
          "HOST:PORT of the index, asked for supernodes (Bootstrap)");
ABSL_FLAG(std::string, supernodes, "",
          "comma-separated HOST:PORT of supernodes to try first (optional)");
ABSL_FLAG(std::string, tls_ca, "",
          "the community CA certificate (PEM file); required unless --insecure");
ABSL_FLAG(bool, insecure, false, "plaintext, for a community run with --insecure");
ABSL_FLAG(int, leaves, 200, "how many leaves");
ABSL_FLAG(int, files_per_leaf, 5, "files each leaf shares at first");
ABSL_FLAG(uint64_t, seed, 0,
          "seed of every random choice (0: one from the clock, printed)");
ABSL_FLAG(int, churn_delay_seconds, 0,
          "how long the leaves stay as they are after all joined, before the "
          "churn (a baseline to compare with)");
ABSL_FLAG(int, churn_seconds, 30, "how long the churn runs after all joined");
ABSL_FLAG(double, events_per_second, 5, "churn events per second, all leaves");
ABSL_FLAG(double, min_live_fraction, 0.6,
          "below this fraction of leaves live, every event is a join");
ABSL_FLAG(std::string, state_out, "",
          "where SIGUSR1 and the churn's end write the leaves' state (JSON)");
ABSL_FLAG(std::string, ready_file, "",
          "written (one line) once every leaf has published its first list");
ABSL_FLAG(int, join_parallelism, 25,
          "leaves joining at once while the first lists go out");

namespace trove {
namespace {

std::atomic<bool> stopping{false};
std::atomic<bool> dump_requested{false};

void OnStop(int) { stopping = true; }
void OnDump(int) { dump_requested = true; }

// A bound, listening TCP socket on loopback: the leaf's own port.
struct Port {
  int fd = -1;
  int port = 0;
  ~Port() {
    if (fd >= 0) ::close(fd);
  }
};

std::unique_ptr<Port> OpenPort() {
  auto p = std::make_unique<Port>();
  p->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (p->fd < 0) return nullptr;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (::bind(p->fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::listen(p->fd, 4) != 0 ||
      ::getsockname(p->fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return nullptr;
  }
  p->port = ntohs(a.sin_port);
  return p;
}

struct Leaf {
  int slot = 0;
  std::unique_ptr<Identity> identity;
  std::shared_ptr<const TlsContext> tls;
  std::unique_ptr<Port> port;
  std::unique_ptr<SupernodeSession> session;
  std::vector<FileEntry> files;
  int next_file = 0;
  int incarnation = 0;
  bool live() const { return session != nullptr; }
};

class Driver {
 public:
  explicit Driver(uint64_t seed) : rng_(seed) {}

  absl::Status Init() {
    if (!absl::GetFlag(FLAGS_insecure)) {
      std::ifstream in(absl::GetFlag(FLAGS_tls_ca));
      ca_pem_.assign(std::istreambuf_iterator<char>(in), {});
      if (ca_pem_.empty()) {
        return absl::InvalidArgumentError(
            "give --tls_ca=FILE (the community CA), or --insecure");
      }
    }
    leaves_.resize(absl::GetFlag(FLAGS_leaves));
    for (size_t i = 0; i < leaves_.size(); ++i) {
      leaves_[i].slot = static_cast<int>(i);
      absl::Status s = NewIdentity(&leaves_[i]);
      if (!s.ok()) return s;
      for (int f = 0; f < absl::GetFlag(FLAGS_files_per_leaf); ++f) {
        leaves_[i].files.push_back(NewFile(&leaves_[i]));
      }
    }
    return absl::OkStatus();
  }

  // Starts every leaf, a group at a time, each group waiting for its
  // lists to be published. Returns how many published in time.
  int JoinAll() {
    const size_t group = std::max(1, absl::GetFlag(FLAGS_join_parallelism));
    int published = 0;
    for (size_t first = 0; first < leaves_.size() && !stopping; first += group) {
      const size_t end = std::min(leaves_.size(), first + group);
      for (size_t i = first; i < end; ++i) {
        absl::Status s = Start(&leaves_[i]);
        if (!s.ok()) std::cerr << "churn_leaves: leaf " << i << ": " << s << "\n";
      }
      for (size_t i = first; i < end; ++i) {
        if (leaves_[i].live() &&
            leaves_[i].session->WaitPublished(absl::Seconds(60))) {
          ++published;
        }
      }
      std::cout << "churn_leaves: " << published << "/" << leaves_.size()
                << " leaves joined and published" << std::endl;
    }
    return published;
  }

  // One random event.
  void Event() {
    const int live = LiveCount();
    const int n = static_cast<int>(leaves_.size());
    const bool must_join =
        live < absl::GetFlag(FLAGS_min_live_fraction) * n || live == 0;
    const int r = std::uniform_int_distribution<int>(0, 99)(rng_);
    if (must_join || (r < 30 && live < n)) {
      Leaf* leaf = Pick(false);
      if (leaf == nullptr) return;
      // Half come back as the same peer, half as a new one.
      if (std::bernoulli_distribution(0.5)(rng_)) {
        if (!NewIdentity(leaf).ok()) return;
        ++counts_.new_identities;
      }
      if (Start(leaf).ok()) ++counts_.joins;
    } else if (r < 55) {
      Leaf* leaf = Pick(true);
      leaf->session->Abandon();
      leaf->session.reset();  // Its connections close.
      leaf->port.reset();
      ++counts_.deaths;
    } else if (r < 80) {
      Leaf* leaf = Pick(true);
      leaf->session->Stop();  // Leaves.
      leaf->session.reset();
      leaf->port.reset();
      ++counts_.leaves;
    } else {
      Leaf* leaf = Pick(true);
      if (!leaf->files.empty() && std::bernoulli_distribution(0.5)(rng_)) {
        const size_t k = std::uniform_int_distribution<size_t>(
            0, leaf->files.size() - 1)(rng_);
        leaf->files.erase(leaf->files.begin() + k);
      } else {
        leaf->files.push_back(NewFile(leaf));
      }
      leaf->session->SetFiles(leaf->files);
      ++counts_.changes;
    }
  }

  void WriteState(const std::string& path) const {
    nlohmann::json leaves = nlohmann::json::array();
    for (const Leaf& leaf : leaves_) {
      if (!leaf.live()) continue;
      nlohmann::json files = nlohmann::json::array();
      for (const FileEntry& f : leaf.files) {
        files.push_back({{"cid", f.cid()}, {"name", f.name()}, {"size", f.size()}});
      }
      leaves.push_back({{"slot", leaf.slot},
                        {"peer_id", leaf.identity->peer_id()},
                        {"supernode", leaf.session->supernode()},
                        {"published",
                         leaf.session->WaitPublished(absl::ZeroDuration())},
                        {"files", files}});
    }
    nlohmann::json out = {{"leaves", leaves},
                          {"joins", counts_.joins},
                          {"new_identities", counts_.new_identities},
                          {"deaths", counts_.deaths},
                          {"leaves_clean", counts_.leaves},
                          {"changes", counts_.changes},
                          {"churn_done", churn_done_}};
    const std::string tmp = path + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << out.dump() << "\n";
    }
    std::rename(tmp.c_str(), path.c_str());
  }

  void StopAll() {
    for (Leaf& leaf : leaves_) {
      if (leaf.live()) leaf.session->Stop();
    }
    leaves_.clear();
  }

  int LiveCount() const {
    int n = 0;
    for (const Leaf& leaf : leaves_) n += leaf.live();
    return n;
  }

  void set_churn_done() { churn_done_ = true; }

  std::string Summary() const {
    return absl::StrCat(counts_.joins, " joins (", counts_.new_identities,
                        " as new peers), ", counts_.deaths, " deaths, ",
                        counts_.leaves, " clean leaves, ", counts_.changes,
                        " list changes; ", LiveCount(), " live");
  }

 private:
  struct EventCounts {
    int joins = 0;
    int new_identities = 0;
    int deaths = 0;
    int leaves = 0;
    int changes = 0;
  };

  absl::Status NewIdentity(Leaf* leaf) {
    absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
    if (!id.ok()) return id.status();
    std::shared_ptr<const TlsContext> tls;
    if (absl::GetFlag(FLAGS_insecure)) {
      tls = TlsContext::Insecure();
    } else {
      absl::StatusOr<std::shared_ptr<const TlsContext>> t =
          TlsContext::ForIdentity(**id, ca_pem_);
      if (!t.ok()) return t.status();
      tls = *t;
    }
    leaf->identity = std::move(*id);
    leaf->tls = std::move(tls);
    return absl::OkStatus();
  }

  FileEntry NewFile(Leaf* leaf) {
    FileEntry f;
    std::string cid;
    for (int i = 0; i < 4; ++i) {
      absl::StrAppend(&cid, absl::Hex(rng_(), absl::kZeroPad16));
    }
    f.set_cid(cid);
    f.set_size(std::uniform_int_distribution<int64_t>(1, 1 << 30)(rng_));
    f.set_name(absl::StrFormat("churn leaf%d item%d.bin", leaf->slot,
                               leaf->next_file++));
    return f;
  }

  absl::Status Start(Leaf* leaf) {
    leaf->port = OpenPort();
    if (leaf->port == nullptr) return absl::InternalError("no free port");
    SupernodeSession::Options o;
    o.index_address = absl::GetFlag(FLAGS_index);
    o.supernodes = absl::StrSplit(absl::GetFlag(FLAGS_supernodes), ',',
                                  absl::SkipWhitespace());
    o.listen_address = absl::StrCat("127.0.0.1:", leaf->port->port);
    o.tls = leaf->tls;
    o.rpc_timeout = absl::Seconds(10);
    o.min_backoff = absl::Milliseconds(200);
    o.max_backoff = absl::Seconds(2);
    leaf->session =
        std::make_unique<SupernodeSession>(leaf->identity.get(), std::move(o));
    leaf->session->SetFiles(leaf->files);
    leaf->session->Start();
    ++leaf->incarnation;
    return absl::OkStatus();
  }

  // A random leaf that is live (or not).
  Leaf* Pick(bool live) {
    std::vector<Leaf*> matching;
    for (Leaf& leaf : leaves_) {
      if (leaf.live() == live) matching.push_back(&leaf);
    }
    if (matching.empty()) return nullptr;
    return matching[std::uniform_int_distribution<size_t>(
        0, matching.size() - 1)(rng_)];
  }

  std::mt19937_64 rng_;
  std::string ca_pem_;
  std::vector<Leaf> leaves_;
  EventCounts counts_;
  bool churn_done_ = false;
};

int Main() {
  if (absl::GetFlag(FLAGS_index).empty() &&
      absl::GetFlag(FLAGS_supernodes).empty()) {
    std::cerr << "churn_leaves: give --index (and/or --supernodes); see --help\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_leaves) <= 0 ||
      absl::GetFlag(FLAGS_events_per_second) <= 0) {
    std::cerr << "churn_leaves: --leaves and --events_per_second must be "
                 "positive\n";
    return 2;
  }
  uint64_t seed = absl::GetFlag(FLAGS_seed);
  if (seed == 0) seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  std::cout << "churn_leaves: seed " << seed << " (--seed=" << seed
            << " repeats the choices)" << std::endl;
  Driver driver(seed);
  if (absl::Status s = driver.Init(); !s.ok()) {
    std::cerr << "churn_leaves: " << s << "\n";
    return 2;
  }
  const std::string state_out = absl::GetFlag(FLAGS_state_out);
  driver.JoinAll();
  if (const std::string ready = absl::GetFlag(FLAGS_ready_file); !ready.empty()) {
    std::ofstream(ready + ".tmp") << "joined\n";
    std::rename((ready + ".tmp").c_str(), ready.c_str());
  }

  const absl::Duration gap =
      absl::Seconds(1.0 / absl::GetFlag(FLAGS_events_per_second));
  const absl::Time churn_start =
      absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_churn_delay_seconds));
  const absl::Time churn_end =
      churn_start + absl::Seconds(absl::GetFlag(FLAGS_churn_seconds));
  absl::Time next_event = churn_start;
  bool announced = false;
  absl::Time next_progress = absl::Now() + absl::Seconds(5);
  bool churning = true;
  while (!stopping) {
    const absl::Time now = absl::Now();
    if (churning && now >= churn_end) {
      churning = false;
      driver.set_churn_done();
      std::cout << "churn_leaves: churn over: " << driver.Summary() << std::endl;
      if (!state_out.empty()) driver.WriteState(state_out);
    }
    if (!announced && now >= churn_start) {
      announced = true;
      std::cout << "churn_leaves: churn starts" << std::endl;
    }
    if (churning && now >= next_event) {
      driver.Event();
      next_event += gap;
    }
    if (churning && now >= next_progress) {
      std::cout << "churn_leaves: " << driver.Summary() << std::endl;
      next_progress = now + absl::Seconds(5);
    }
    if (dump_requested.exchange(false) && !state_out.empty()) {
      driver.WriteState(state_out);
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  std::cout << "churn_leaves: stopping, every live leaf leaves" << std::endl;
  driver.StopAll();
  return 0;
}

}  // namespace
}  // namespace trove

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Many leaves (own identity, TLS, connections and port each) joining, "
      "leaving and dying at random.\n"
      "Usage: churn_leaves --index=HOST:PORT --tls_ca=CA.pem [--leaves=200] "
      "[--seed=0] [--churn_seconds=30] [--events_per_second=5] "
      "[--state_out=PATH] [--ready_file=PATH]");
  absl::ParseCommandLine(argc, argv);
  signal(SIGINT, trove::OnStop);
  signal(SIGTERM, trove::OnStop);
  signal(SIGUSR1, trove::OnDump);
  return trove::Main();
}
