#include "tests/harness/cluster.h"

#include <sys/stat.h>

#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/community_files.h"
#include "common/community_link.h"
#include "common/tls.h"

namespace trove {
namespace testutil {

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::Create(
    const ClusterOptions& options) {
  std::unique_ptr<Cluster> c(new Cluster(options));
  if (c->work_.path().empty()) return absl::InternalError("mkdtemp failed");
  absl::StatusOr<std::unique_ptr<TestDatabase>> db = TestDatabase::Create();
  if (!db.ok()) return db.status();
  c->db_ = std::move(*db);
  if (options.tls) {
    absl::Status made = c->MakeCommunity();
    if (!made.ok()) return made;
  } else {
    c->client_tls_ = TlsContext::Insecure();
  }
  return c;
}

absl::Status Cluster::MakeCommunity() {
  community_dir_ = absl::StrCat(work_.path(), "/community");
  // The link's port is the one the index binds later (see link()).
  CommandResult r = RunCommand({RunfilePath("index_server/index_server"),
                                "init", community_dir_,
                                "--listen=127.0.0.1:0",
                                "--advertise=127.0.0.1:1"},
                               absl::Seconds(60));
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("index_server init failed: ", r.err));
  }
  ca_pem_ = Slurp(absl::StrCat(community_dir_, "/", kCaCertFile));
  absl::StatusOr<std::shared_ptr<const TlsContext>> client =
      TlsContext::Ephemeral(ca_pem_);
  if (!client.ok()) return client.status();
  client_tls_ = *client;
  return absl::OkStatus();
}

std::string Cluster::link() const {
  if (!options_.tls || index_address_.empty()) return "";
  CommunityLink link;
  size_t colon = index_address_.rfind(':');
  link.host = index_address_.substr(0, colon);
  if (!absl::SimpleAtoi(index_address_.substr(colon + 1), &link.port)) return "";
  absl::StatusOr<std::string> fp = CertificateFingerprint(ca_pem_);
  link.ca_fingerprint = fp.ok() ? *fp : "";
  return FormatCommunityLink(link);
}

Cluster::~Cluster() {
  // Peers first, so they can leave their supernode cleanly.
  for (auto& [name, peer] : peers_) {
    if (peer->process) peer->process->Stop(absl::Seconds(10));
  }
  if (supernode_) supernode_->Stop(absl::Seconds(10));
  for (auto& [name, process] : other_supernodes_) {
    if (process) process->Stop(absl::Seconds(10));
  }
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
  if (options_.tls) {
    for (auto [flag, file] : {std::make_pair("tls_cert", kIndexCertFile),
                              std::make_pair("tls_key", kIndexKeyFile),
                              std::make_pair("tls_ca", kCaCertFile)}) {
      argv.push_back(absl::StrCat("--", flag, "=", community_dir_, "/", file));
    }
  } else {
    // Without a community there is no enrolment step: plaintext clusters
    // accept any supernode (leaves' changes are still verified).
    argv.push_back("--insecure");
    argv.push_back("--testonly_unenrolled_supernodes");
  }
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  absl::StatusOr<std::string> address = StartServer("index", argv, &index_);
  if (!address.ok()) return address.status();
  index_address_ = *address;
  return absl::OkStatus();
}

absl::Status Cluster::StartSupernode(
    const std::vector<std::string>& extra_flags) {
  absl::StatusOr<std::string> address =
      StartSupernodeProcess("supernode", extra_flags, &supernode_);
  if (!address.ok()) return address.status();
  supernode_address_ = *address;
  return absl::OkStatus();
}

absl::StatusOr<std::string> Cluster::StartOtherSupernode(
    const std::string& name, const std::vector<std::string>& extra_flags) {
  return StartSupernodeProcess(name, extra_flags, &other_supernodes_[name]);
}

absl::StatusOr<std::string> Cluster::StartSupernodeProcess(
    const std::string& name, const std::vector<std::string>& extra_flags,
    std::unique_ptr<ChildProcess>* out) {
  const std::string state = absl::StrCat(work_.path(), "/", name, "-state");
  std::vector<std::string> argv = {
      RunfilePath("supernode/supernode"),
      "--listen=127.0.0.1:0",
      absl::StrCat("--state_dir=", state),
      "--batch_max_delay_ms=100",
      "--session_timeout_ms=2000",
      "--heartbeat_interval_ms=300",
      // Leaves' presences reach the index with each renewal: renewing
      // often lets a dead leaf's presence run out within seconds.
      "--renew_interval_ms=1000",
  };
  if (options_.tls) {
    // The operator's step: a certificate for the supernode's key (made in
    // its state folder the first time), and the key enrolled in the index's
    // database so that it may register.
    CommandResult r = RunCommand(
        {RunfilePath("index_server/index_server"), "enrol-supernode",
         community_dir_, absl::StrCat("--out=", state),
         absl::StrCat("--postgres=", db_->dsn())},
        absl::Seconds(60));
    if (r.exit_code != 0) {
      return absl::InternalError(
          absl::StrCat("index_server enrol-supernode failed: ", r.err));
    }
    argv.push_back(absl::StrCat("--join=", link()));
  } else {
    argv.push_back(absl::StrCat("--index=", index_address_));
    argv.push_back("--insecure");
  }
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  return StartServer(name, argv, out);
}

absl::StatusOr<PeerHandle*> Cluster::StartPeer(
    const std::string& name, const std::vector<std::string>& extra_flags) {
  std::vector<std::string> join = {
      absl::StrCat("--supernode=", supernode_address_)};
  join.push_back(options_.tls ? absl::StrCat("--tls_ca=", community_dir_, "/",
                                             kCaCertFile)
                              : "--insecure");
  return StartPeerWith(name, join, extra_flags);
}

absl::StatusOr<PeerHandle*> Cluster::StartPeerWithLink(
    const std::string& name, const std::vector<std::string>& extra_flags) {
  if (!options_.tls) return absl::FailedPreconditionError("links need TLS");
  return StartPeerWith(name, {absl::StrCat("--join=", link())}, extra_flags);
}

absl::StatusOr<PeerHandle*> Cluster::StartPeerWith(
    const std::string& name, std::vector<std::string> join_flags,
    const std::vector<std::string>& extra_flags) {
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
      absl::StrCat("--share=", slot->share_dir),
      absl::StrCat("--state=", slot->state_dir),
      "--listen=127.0.0.1:0",
      "--rescan_interval_ms=300",
  };
  argv.insert(argv.end(), join_flags.begin(), join_flags.end());
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
  for (const auto& [name, process] : other_supernodes_) {
    logs.push_back(absl::StrCat(name, ".log"));
  }
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
