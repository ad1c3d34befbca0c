#include "tests/harness/cluster.h"

#include <sys/stat.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace trove {
namespace testutil {

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::Create() {
  std::unique_ptr<Cluster> c(new Cluster());
  if (c->work_.path().empty()) return absl::InternalError("mkdtemp failed");
  absl::StatusOr<std::unique_ptr<TestDatabase>> db = TestDatabase::Create();
  if (!db.ok()) return db.status();
  c->db_ = std::move(*db);
  return c;
}

Cluster::~Cluster() {
  // Peers first, so they can leave their supernode cleanly.
  for (auto& [name, peer] : peers_) {
    if (peer->process) peer->process->Stop(absl::Seconds(10));
  }
  if (supernode_) supernode_->Stop(absl::Seconds(10));
  if (index_) index_->Stop(absl::Seconds(10));
}

absl::StatusOr<std::string> Cluster::StartServer(
    const std::string& name, std::vector<std::string> argv,
    std::unique_ptr<ChildProcess>* out) {
  std::string ready =
      absl::StrCat(work_.path(), "/", name, ".", ++starts_, ".ready");
  argv.push_back(absl::StrCat("--ready_file=", ready));
  absl::StatusOr<std::unique_ptr<ChildProcess>> p =
      ChildProcess::Start(argv, absl::StrCat(work_.path(), "/", name, ".log"));
  if (!p.ok()) return p.status();
  *out = std::move(*p);
  absl::StatusOr<std::string> address =
      WaitForReadyFile(ready, absl::Seconds(60));
  if (!address.ok()) {
    return absl::UnavailableError(absl::StrCat(
        name, " did not become ready: ", address.status().message(), "\n",
        LogTails()));
  }
  return address;
}

absl::Status Cluster::StartIndex(const std::vector<std::string>& extra_flags,
                                 const std::string& listen) {
  std::vector<std::string> argv = {
      RunfilePath("index_server/index_server"),
      absl::StrCat("--postgres=", db_->dsn()),
      absl::StrCat("--listen=", listen),
  };
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  absl::StatusOr<std::string> address = StartServer("index", argv, &index_);
  if (!address.ok()) return address.status();
  index_address_ = *address;
  return absl::OkStatus();
}

absl::Status Cluster::StartSupernode(
    const std::vector<std::string>& extra_flags) {
  std::vector<std::string> argv = {
      RunfilePath("supernode/supernode"),
      absl::StrCat("--index=", index_address_),
      "--listen=127.0.0.1:0",
      absl::StrCat("--state_dir=", work_.path(), "/supernode-state"),
      "--batch_max_delay_ms=100",
      "--session_timeout_ms=2000",
      "--heartbeat_interval_ms=300",
  };
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  absl::StatusOr<std::string> address =
      StartServer("supernode", argv, &supernode_);
  if (!address.ok()) return address.status();
  supernode_address_ = *address;
  return absl::OkStatus();
}

absl::StatusOr<PeerHandle*> Cluster::StartPeer(
    const std::string& name, const std::vector<std::string>& extra_flags) {
  auto& slot = peers_[name];
  if (!slot) {
    slot = std::make_unique<PeerHandle>();
    slot->name = name;
    slot->state_dir = absl::StrCat(work_.path(), "/", name, "-state");
    slot->share_dir = absl::StrCat(work_.path(), "/", name, "-share");
    ::mkdir(slot->share_dir.c_str(), 0755);
  }
  std::vector<std::string> argv = {
      RunfilePath("peer_client/peer_client"),
      "daemon",
      absl::StrCat("--supernode=", supernode_address_),
      absl::StrCat("--share=", slot->share_dir),
      absl::StrCat("--state=", slot->state_dir),
      "--listen=127.0.0.1:0",
      "--rescan_interval_ms=300",
  };
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  absl::StatusOr<std::string> address =
      StartServer(absl::StrCat("peer-", name), argv, &slot->process);
  if (!address.ok()) return address.status();
  slot->address = *address;
  return slot.get();
}

CommandResult Cluster::Cli(const PeerHandle& peer,
                           std::vector<std::string> args,
                           absl::Duration timeout) {
  args.insert(args.begin(), RunfilePath("peer_client/peer_client"));
  args.push_back(absl::StrCat("--state=", peer.state_dir));
  return RunCommand(args, timeout);
}

absl::StatusOr<nlohmann::json> Cluster::Search(const PeerHandle& peer,
                                               const std::string& query) {
  CommandResult r = Cli(peer, {"search", query, "--json"}, absl::Seconds(30));
  if (r.exit_code != 0) {
    return absl::UnavailableError(
        absl::StrCat("search exited ", r.exit_code, ": ", r.err));
  }
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) {
    return absl::InternalError(absl::StrCat("search printed no JSON: ", r.out));
  }
  return j;
}

std::string Cluster::FindCid(const PeerHandle& peer, const std::string& query,
                             const std::string& name) {
  absl::StatusOr<nlohmann::json> j = Search(peer, query);
  if (!j.ok() || !j->contains("hits")) return "";
  for (const auto& hit : (*j)["hits"]) {
    if (hit.value("name", "") == name) return hit.value("cid", "");
  }
  return "";
}

std::string Cluster::LogTails() const {
  std::string out;
  std::vector<std::string> logs = {"index.log", "supernode.log"};
  for (const auto& [name, peer] : peers_) {
    logs.push_back(absl::StrCat("peer-", name, ".log"));
  }
  for (const std::string& log : logs) {
    std::string s = Slurp(absl::StrCat(work_.path(), "/", log));
    if (s.size() > 3000) s = s.substr(s.size() - 3000);
    absl::StrAppend(&out, "---- ", log, " ----\n", s, "\n");
  }
  return out;
}

bool WaitUntil(const std::function<bool()>& condition,
               absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(100));
  }
}

bool SameFile(const std::string& a, const std::string& b) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa || !fb) return false;
  std::vector<char> ba(1 << 20), bb(1 << 20);
  while (true) {
    fa.read(ba.data(), ba.size());
    fb.read(bb.data(), bb.size());
    if (fa.gcount() != fb.gcount()) return false;
    if (fa.gcount() == 0) return true;
    if (!std::equal(ba.begin(), ba.begin() + fa.gcount(), bb.begin())) {
      return false;
    }
  }
}

}  // namespace testutil
}  // namespace trove
