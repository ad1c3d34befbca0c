// trove-admin: the operator's command line for a Trove index's AdminService
// (protos/admin.proto). See `trove-admin --help` and docs/operator.md.
//
// Exit codes: 0 done; 1 the index refused or could not be reached; 2 a
// usage error (bad verb, flag or argument).
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/community_ca.h"
#include "common/community_link.h"
#include "common/file_util.h"
#include "common/tls_credentials.h"
#include "protos/admin.grpc.pb.h"

ABSL_FLAG(std::string, index, "",
          "HOST:PORT of the index (or give --join=LINK)");
ABSL_FLAG(std::string, join, "",
          "the community link trove://HOST:PORT?ca=FINGERPRINT: the index's "
          "address and, unless --ca is given, its CA (learned from the "
          "index and checked against the fingerprint)");
ABSL_FLAG(std::string, ca, "",
          "the community CA certificate (PEM), e.g. DIR/ca.pem of "
          "`index_server init DIR`");
ABSL_FLAG(std::string, token_file, "",
          "a file holding the admin token, e.g. DIR/admin_token (default: "
          "the TROVE_ADMIN_TOKEN environment variable)");
ABSL_FLAG(bool, insecure, false,
          "plaintext (only to see an --insecure test index refuse: the "
          "admin service runs only over TLS)");
ABSL_FLAG(bool, json, false, "print the index's answer as JSON");
ABSL_FLAG(int, timeout_seconds, 30, "deadline of the call");
ABSL_FLAG(std::string, reason, "",
          "ban, takedown (required), unban, restore, revoke: why, for the "
          "audit log");
ABSL_FLAG(std::string, role, "viewer",
          "token-create: the new token's role: admin, moderator or viewer");
ABSL_FLAG(std::string, label, "",
          "token-create: a note saying whose the token is");
ABSL_FLAG(int, limit, 0, "peers, audit: at most this many rows (0: default)");
ABSL_FLAG(int64_t, before, 0,
          "audit: rows older than this id (the 'next page' hint of the "
          "previous page)");

namespace trove {
namespace admin_cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] = R"(trove-admin: control a Trove community through its index's AdminService.

Usage: trove-admin VERB [ARGS] (--index=HOST:PORT --ca=CA.pem | --join=LINK)
                   --token_file=FILE [--json]

Reading (any role):
  supernodes             supernodes: address, leaves, lease, enrolled/promoted
  peers [ID_PREFIX]      peers the index knows, with their files
  stats                  counts: supernodes, peers, files, sources, bans...
  bans                   bans in force
  takedowns              takedowns in force
  audit                  the audit log, newest first (--limit, --before)
Moderating (role moderator or admin):
  ban PEER_ID --reason=TEXT       the peer cannot join; its files leave now
  unban PEER_ID                   lift a ban
  takedown CID --reason=TEXT      the file leaves search and Locate now
  restore CID                     lift a takedown
Administering (role admin):
  enrol PUBLIC_KEY_HEX            let a supernode with this key register
  revoke SUPERNODE_ID             end a supernode: renewals refused, files leave
  token-create --role=R [--label=TEXT]   a new admin token, shown once
  token-revoke TOKEN_ID           refuse a token from now on
  tokens                          the admin tokens (ids and roles only)

The token comes from --token_file (`index_server init DIR` writes
DIR/admin_token) or the TROVE_ADMIN_TOKEN environment variable.
Exit codes: 0 done, 1 refused or unreachable, 2 usage error.
Run 'trove-admin VERB --help' for a verb.
)";

struct Verb {
  const char* name;
  // Words after the verb: exactly `args`, or up to it when `optional`.
  int args;
  bool optional;
  const char* help;
};

const Verb kVerbs[] = {
    {"supernodes", 0, false,
     "trove-admin supernodes: every supernode the index knows: live ones "
     "(least loaded first) with address, leaves, peers and lease expiry, "
     "then enrolled keys without a lease; whether each key was enrolled or "
     "promoted, and revoked.\n"},
    {"peers", 1, true,
     "trove-admin peers [ID_PREFIX] [--limit=N]: peers that published "
     "through a supernode, with their address, supernode and files "
     "(complete and partial). ID_PREFIX: lowercase hex.\n"},
    {"stats", 0, false,
     "trove-admin stats: live supernodes, peers, files, sources, bans and "
     "takedowns.\n"},
    {"bans", 0, false, "trove-admin bans: the bans in force, newest first.\n"},
    {"takedowns", 0, false,
     "trove-admin takedowns: the takedowns in force, newest first.\n"},
    {"audit", 0, false,
     "trove-admin audit [--limit=N] [--before=ID]: the audit log, newest "
     "first: time, token id and role, action, target, reason, result. A "
     "page ends with the --before value of the next.\n"},
    {"ban", 1, false,
     "trove-admin ban PEER_ID --reason=TEXT: bans a peer id (role "
     "moderator). Its files leave the catalog at once; the index refuses "
     "its changes; supernodes refuse its Join (\"peer banned: TEXT\") and "
     "drop it at their next lease renewal.\n"},
    {"unban", 1, false,
     "trove-admin unban PEER_ID [--reason=TEXT]: lifts a ban (role "
     "moderator). The peer's files come back when it joins again and sends "
     "its list.\n"},
    {"takedown", 1, false,
     "trove-admin takedown CID --reason=TEXT: takes a file down (role "
     "moderator): gone from search and Locate at the index at once and at "
     "supernodes at their next lease renewal; publishes of it are not "
     "stored.\n"},
    {"restore", 1, false,
     "trove-admin restore CID [--reason=TEXT]: lifts a takedown (role "
     "moderator); the file comes back as its sources announce it again.\n"},
    {"enrol", 1, false,
     "trove-admin enrol PUBLIC_KEY_HEX: enrols a supernode's Ed25519 key "
     "(64 hex digits, as `supernode --print_key` prints it) so that it may "
     "register (role admin). Its certificate comes from `index_server "
     "enrol-supernode`.\n"},
    {"revoke", 1, false,
     "trove-admin revoke SUPERNODE_ID [--reason=TEXT]: revokes a "
     "supernode's key (role admin): its renewals and batches are refused "
     "and its sources leave the catalog at once.\n"},
    {"token-create", 0, false,
     "trove-admin token-create --role=admin|moderator|viewer "
     "[--label=TEXT]: makes an admin token (role admin) and prints it; the "
     "index keeps only its hash, so it is shown only now.\n"},
    {"token-revoke", 1, false,
     "trove-admin token-revoke TOKEN_ID: the token is refused from now on "
     "(role admin).\n"},
    {"tokens", 0, false,
     "trove-admin tokens: every admin token's id, role, label, and when it "
     "was made or revoked (role admin).\n"},
};

const Verb* FindVerb(const std::string& name) {
  for (const Verb& v : kVerbs) {
    if (name == v.name) return &v;
  }
  return nullptr;
}

int Usage(const std::string& message) {
  std::cerr << "trove-admin: " << message
            << "\nRun 'trove-admin --help' for help.\n";
  return kExitUsage;
}

std::string Time(int64_t ms) {
  if (ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(ms),
                          absl::LocalTimeZone());
}

std::string Short(const std::string& id) {
  return id.size() > 16 ? id.substr(0, 16) + "..." : id;
}

// The admin token from --token_file or TROVE_ADMIN_TOKEN.
absl::StatusOr<std::string> Token() {
  const std::string path = absl::GetFlag(FLAGS_token_file);
  if (!path.empty()) {
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token_file: ", text.status().message()));
    }
    std::string token(absl::StripAsciiWhitespace(*text));
    if (token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token_file: ", path, " is empty"));
    }
    return token;
  }
  if (const char* env = std::getenv("TROVE_ADMIN_TOKEN"); env && *env) {
    return std::string(absl::StripAsciiWhitespace(env));
  }
  return absl::InvalidArgumentError(
      "no admin token: give --token_file=FILE (e.g. DIR/admin_token made by "
      "`index_server init DIR`) or set TROVE_ADMIN_TOKEN");
}

// A channel to the index: TLS with the community CA (checked to be the
// index's certificate), or plaintext with --insecure.
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect() {
  std::string address = absl::GetFlag(FLAGS_index);
  std::unique_ptr<CommunityLink> link;
  if (const std::string text = absl::GetFlag(FLAGS_join); !text.empty()) {
    absl::StatusOr<CommunityLink> parsed = ParseCommunityLink(text);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--join: ", parsed.status().message()));
    }
    link = std::make_unique<CommunityLink>(*parsed);
    if (address.empty()) address = link->address();
  }
  if (address.empty()) {
    return absl::InvalidArgumentError(
        "give the index: --index=HOST:PORT (with --ca) or --join=LINK");
  }
  if (absl::GetFlag(FLAGS_insecure)) {
    return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  }
  std::string ca;
  if (const std::string path = absl::GetFlag(FLAGS_ca); !path.empty()) {
    absl::StatusOr<std::string> pem = ReadFile(path);
    if (!pem.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--ca: ", pem.status().message()));
    }
    ca = *std::move(pem);
  } else if (link != nullptr) {
    absl::StatusOr<std::shared_ptr<const TlsContext>> probe =
        TlsContext::Ephemeral("");
    if (!probe.ok()) return probe.status();
    absl::StatusOr<std::string> fetched = FetchCommunityCa(
        *link, **probe, absl::Seconds(absl::GetFlag(FLAGS_timeout_seconds)));
    if (!fetched.ok()) return fetched.status();
    ca = *std::move(fetched);
  } else {
    return absl::InvalidArgumentError(
        "TLS needs the community CA: give --ca=FILE (DIR/ca.pem of "
        "`index_server init DIR`) or --join=LINK");
  }
  absl::StatusOr<std::shared_ptr<const TlsContext>> tls =
      TlsContext::Ephemeral(ca);
  if (!tls.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--ca: ", tls.status().message()));
  }
  return (*tls)->MakeChannel(address, Expected::Index());
}

// Prints `message` as JSON (--json) or with `text`.
template <typename Message>
void Print(const Message& message,
           const std::function<void(const Message&)>& text) {
  if (!absl::GetFlag(FLAGS_json)) {
    text(message);
    return;
  }
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  std::cout << out;
}

class Runner {
 public:
  Runner(std::unique_ptr<admin::AdminService::Stub> stub, std::string token)
      : stub_(std::move(stub)), token_(std::move(token)) {}

  // Calls `rpc` with the token and the deadline; prints the error and
  // returns false when it fails.
  template <typename Request, typename Response, typename Rpc>
  bool Call(Rpc rpc, const Request& request, Response* response) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token_));
    context.set_deadline(absl::ToChronoTime(
        absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_timeout_seconds))));
    grpc::Status s = ((*stub_).*rpc)(&context, request, response);
    if (s.ok()) return true;
    std::cerr << "trove-admin: " << CodeName(s.error_code()) << ": "
              << s.error_message() << "\n";
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
      std::cerr << "(is the index running at that address, with TLS and "
                   "this community's CA?)\n";
    }
    return false;
  }

 private:
  static std::string CodeName(grpc::StatusCode code) {
    return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  }

  std::unique_ptr<admin::AdminService::Stub> stub_;
  std::string token_;
};

int RunVerb(const Verb& verb, const std::vector<std::string>& args) {
  absl::StatusOr<std::string> token = Token();
  if (!token.ok()) return Usage(std::string(token.status().message()));
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect();
  if (!channel.ok()) {
    if (absl::IsInvalidArgument(channel.status())) {
      return Usage(std::string(channel.status().message()));
    }
    std::cerr << "trove-admin: " << channel.status().message() << "\n";
    return kExitFailure;
  }
  Runner run(admin::AdminService::NewStub(*channel), *token);
  using S = admin::AdminService::Stub;
  const std::string name = verb.name;
  const std::string arg = args.empty() ? "" : args[0];
  const std::string reason = absl::GetFlag(FLAGS_reason);

  if (name == "supernodes") {
    admin::ListSupernodesResponse r;
    if (!run.Call(&S::ListSupernodes, admin::ListSupernodesRequest(), &r)) {
      return kExitFailure;
    }
    Print<admin::ListSupernodesResponse>(r, [](const auto& r) {
      std::cout << absl::StrFormat("%-19s %-21s %6s %6s %-19s %s\n", "SUPERNODE",
                                   "ADDRESS", "LEAVES", "PEERS",
                                   "LEASE UNTIL", "KEY");
      for (const admin::SupernodeStatus& s : r.supernodes()) {
        std::cout << absl::StrFormat(
            "%-19s %-21s %6d %6d %-19s %s%s\n", Short(s.supernode_id()),
            s.address().empty() ? "-" : s.address(), s.leaves(), s.peers(),
            Time(s.lease_expires_ms()), s.kind().empty() ? "-" : s.kind(),
            s.revoked() ? " (revoked)" : "");
      }
      if (r.supernodes().empty()) std::cout << "(no supernodes)\n";
    });
    return kExitOk;
  }
  if (name == "peers") {
    admin::ListPeersRequest req;
    req.set_id_prefix(arg);
    req.set_limit(absl::GetFlag(FLAGS_limit));
    admin::ListPeersResponse r;
    if (!run.Call(&S::ListPeers, req, &r)) return kExitFailure;
    Print<admin::ListPeersResponse>(r, [](const auto& r) {
      std::cout << absl::StrFormat("%-19s %-21s %-19s %6s %7s %s\n", "PEER",
                                   "ADDRESS", "SUPERNODE", "FILES", "PARTIAL",
                                   "LAST SEEN");
      for (const admin::PeerStatus& p : r.peers()) {
        std::cout << absl::StrFormat(
            "%-19s %-21s %-19s %6d %7d %s%s\n", Short(p.peer_id()), p.address(),
            Short(p.supernode_id()), p.files(), p.partial_files(),
            Time(p.last_seen_ms()), p.banned() ? " (banned)" : "");
      }
      if (r.peers().empty()) std::cout << "(no peers)\n";
    });
    return kExitOk;
  }
  if (name == "stats") {
    admin::StatsResponse r;
    if (!run.Call(&S::Stats, admin::StatsRequest(), &r)) return kExitFailure;
    Print<admin::StatsResponse>(r, [](const auto& r) {
      std::cout << "supernodes " << r.supernodes() << "\npeers      "
                << r.peers() << "\nfiles      " << r.files()
                << "\nsources    " << r.sources() << "\nbans       "
                << r.bans() << "\ntakedowns  " << r.takedowns() << "\n";
    });
    return kExitOk;
  }
  if (name == "bans") {
    admin::ListBansResponse r;
    if (!run.Call(&S::ListBans, admin::ListBansRequest(), &r)) {
      return kExitFailure;
    }
    Print<admin::ListBansResponse>(r, [](const auto& r) {
      for (const admin::Ban& b : r.bans()) {
        std::cout << b.peer_id() << "  " << Time(b.created_ms()) << "  by "
                  << b.created_by() << "  " << b.reason() << "\n";
      }
      if (r.bans().empty()) std::cout << "(no bans)\n";
    });
    return kExitOk;
  }
  if (name == "takedowns") {
    admin::ListTakedownsResponse r;
    if (!run.Call(&S::ListTakedowns, admin::ListTakedownsRequest(), &r)) {
      return kExitFailure;
    }
    Print<admin::ListTakedownsResponse>(r, [](const auto& r) {
      for (const admin::Takedown& t : r.takedowns()) {
        std::cout << t.cid() << "  " << Time(t.created_ms()) << "  by "
                  << t.created_by() << "  " << t.reason() << "\n";
      }
      if (r.takedowns().empty()) std::cout << "(no takedowns)\n";
    });
    return kExitOk;
  }
  if (name == "audit") {
    admin::ReadAuditRequest req;
    req.set_limit(absl::GetFlag(FLAGS_limit));
    req.set_before_id(absl::GetFlag(FLAGS_before));
    admin::ReadAuditResponse r;
    if (!run.Call(&S::ReadAudit, req, &r)) return kExitFailure;
    Print<admin::ReadAuditResponse>(r, [](const auto& r) {
      for (const admin::AuditEntry& e : r.entries()) {
        std::cout << absl::StrFormat(
            "%6d %s %-16s %-9s %-12s %-19s %s%s\n", e.id(), Time(e.time_ms()),
            e.token_id().empty() ? "-" : e.token_id(),
            e.role().empty() ? "-" : e.role(), e.action(),
            e.target().empty() ? "-" : Short(e.target()), e.result(),
            e.reason().empty() ? "" : absl::StrCat("  (", e.reason(), ")"));
      }
      if (r.entries().empty()) std::cout << "(no entries)\n";
      if (r.next_before_id() != 0) {
        std::cout << "more: trove-admin audit --before=" << r.next_before_id()
                  << "\n";
      }
    });
    return kExitOk;
  }
  if (name == "ban") {
    if (reason.empty()) return Usage("ban needs --reason=TEXT");
    admin::BanPeerRequest req;
    req.set_peer_id(arg);
    req.set_reason(reason);
    admin::BanPeerResponse r;
    if (!run.Call(&S::BanPeer, req, &r)) return kExitFailure;
    Print<admin::BanPeerResponse>(r, [&](const auto& r) {
      std::cout << "Banned peer " << arg << "; " << r.sources_removed()
                << " sources left the catalog\n";
    });
    return kExitOk;
  }
  if (name == "unban") {
    admin::UnbanPeerRequest req;
    req.set_peer_id(arg);
    req.set_reason(reason);
    admin::UnbanPeerResponse r;
    if (!run.Call(&S::UnbanPeer, req, &r)) return kExitFailure;
    Print<admin::UnbanPeerResponse>(r, [&](const auto&) {
      std::cout << "Unbanned peer " << arg
                << "; its files return when it joins again\n";
    });
    return kExitOk;
  }
  if (name == "takedown") {
    if (reason.empty()) return Usage("takedown needs --reason=TEXT");
    admin::TakeDownRequest req;
    req.set_cid(arg);
    req.set_reason(reason);
    admin::TakeDownResponse r;
    if (!run.Call(&S::TakeDown, req, &r)) return kExitFailure;
    Print<admin::TakeDownResponse>(r, [&](const auto& r) {
      std::cout << "Took down " << arg << "; " << r.sources_removed()
                << " sources left the catalog\n";
    });
    return kExitOk;
  }
  if (name == "restore") {
    admin::RestoreRequest req;
    req.set_cid(arg);
    req.set_reason(reason);
    admin::RestoreResponse r;
    if (!run.Call(&S::Restore, req, &r)) return kExitFailure;
    Print<admin::RestoreResponse>(r, [&](const auto&) {
      std::cout << "Restored " << arg
                << "; it returns as its sources announce it again\n";
    });
    return kExitOk;
  }
  if (name == "enrol") {
    admin::EnrolSupernodeRequest req;
    req.set_public_key(absl::AsciiStrToLower(arg));
    admin::EnrolSupernodeResponse r;
    if (!run.Call(&S::EnrolSupernode, req, &r)) return kExitFailure;
    Print<admin::EnrolSupernodeResponse>(r, [](const auto& r) {
      std::cout << "Enrolled supernode " << r.supernode_id() << "\n";
    });
    return kExitOk;
  }
  if (name == "revoke") {
    admin::RevokeSupernodeRequest req;
    req.set_supernode_id(arg);
    req.set_reason(reason);
    admin::RevokeSupernodeResponse r;
    if (!run.Call(&S::RevokeSupernode, req, &r)) return kExitFailure;
    Print<admin::RevokeSupernodeResponse>(r, [&](const auto&) {
      std::cout << "Revoked supernode " << arg
                << "; its lease and sources are gone\n";
    });
    return kExitOk;
  }
  if (name == "token-create") {
    admin::CreateTokenRequest req;
    req.set_role(absl::GetFlag(FLAGS_role));
    req.set_label(absl::GetFlag(FLAGS_label));
    admin::CreateTokenResponse r;
    if (!run.Call(&S::CreateToken, req, &r)) return kExitFailure;
    Print<admin::CreateTokenResponse>(r, [](const auto& r) {
      std::cout << r.token() << "\n";
      std::cerr << "admin token " << r.token_id() << " (role " << r.role()
                << "); it is shown only now: keep it secret\n";
    });
    return kExitOk;
  }
  if (name == "token-revoke") {
    admin::RevokeTokenRequest req;
    req.set_token_id(arg);
    admin::RevokeTokenResponse r;
    if (!run.Call(&S::RevokeToken, req, &r)) return kExitFailure;
    Print<admin::RevokeTokenResponse>(r, [&](const auto&) {
      std::cout << "Revoked admin token " << arg << "\n";
    });
    return kExitOk;
  }
  if (name == "tokens") {
    admin::ListTokensResponse r;
    if (!run.Call(&S::ListTokens, admin::ListTokensRequest(), &r)) {
      return kExitFailure;
    }
    Print<admin::ListTokensResponse>(r, [](const auto& r) {
      for (const admin::TokenInfo& t : r.tokens()) {
        std::cout << absl::StrFormat("%-16s %-9s made %s%s  %s\n", t.token_id(),
                                     t.role(), Time(t.created_ms()),
                                     t.revoked_ms() != 0
                                         ? absl::StrCat(", revoked ",
                                                        Time(t.revoked_ms()))
                                         : "",
                                     t.label());
      }
    });
    return kExitOk;
  }
  // FindVerb has refused any other verb.
  return kExitFailure;
}

}  // namespace

int Main(int argc, char** argv) {
  // --help after a verb: that verb's help.
  std::string first_word;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.empty() || a[0] == '-') continue;
    first_word = a;
    break;
  }
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-help" || a == "-h" || a == "--helpshort") {
      const Verb* verb = FindVerb(first_word);
      std::cout << (verb != nullptr ? verb->help : kUsage);
      if (verb != nullptr) {
        std::cout << "Common flags: --index=HOST:PORT --ca=FILE | "
                     "--join=LINK, --token_file=FILE, --json, "
                     "--timeout_seconds=N\n";
      }
      return kExitOk;
    }
  }
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "admin/main.cc");
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  const std::string name = positional[1];
  if (name == "help") {
    const Verb* verb =
        positional.size() > 2 ? FindVerb(positional[2]) : nullptr;
    std::cout << (verb != nullptr ? verb->help : kUsage);
    return kExitOk;
  }
  const Verb* verb = FindVerb(name);
  if (verb == nullptr) return Usage(absl::StrCat("unknown verb '", name, "'"));
  std::vector<std::string> args(positional.begin() + 2, positional.end());
  const int n = static_cast<int>(args.size());
  if (verb->optional ? n > verb->args : n != verb->args) {
    return Usage(absl::StrCat(name, " takes ",
                              verb->optional ? "at most " : "",
                              verb->args == 0 ? "no" : absl::StrCat(verb->args),
                              verb->args == 1 ? " argument" : " arguments",
                              ", got ", n, " (see trove-admin ", name,
                              " --help)"));
  }
  const int timeout = absl::GetFlag(FLAGS_timeout_seconds);
  if (timeout <= 0) return Usage("--timeout_seconds must be positive");
  return RunVerb(*verb, args);
}

}  // namespace admin_cli
}  // namespace trove

int main(int argc, char** argv) { return trove::admin_cli::Main(argc, argv); }
