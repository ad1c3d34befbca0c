#include "index_server/community_main.h"

#include <algorithm>
#include <iostream>

#include "absl/strings/escaping.h"
#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/community_files.h"
#include "common/file_util.h"
#include "common/merkle.h"
#include "common/tls.h"
#include "index_server/community.h"

ABSL_FLAG(std::string, advertise, "",
          "init: HOST:PORT peers and supernodes reach the index at, for the "
          "community link (default: --listen)");
ABSL_FLAG(std::string, public_key, "",
          "enrol-supernode: the supernode's Ed25519 public key, 64 hex digits");
ABSL_FLAG(std::string, key_file, "",
          "enrol-supernode: a PEM file with the supernode's public (or "
          "private) key");
ABSL_FLAG(std::string, out, "",
          "enrol-supernode: the supernode's state folder: the certificate "
          "and the CA are written there (and, without a key given, the "
          "supernode's key is made there)");
ABSL_FLAG(std::vector<std::string>, cert_hosts, {},
          "enrol-supernode: host names or addresses the supernode is reached "
          "at, put in its certificate (informational)");
ABSL_FLAG(std::string, role, "admin",
          "add-admin-token: the new token's role (admin, moderator, viewer)");
ABSL_FLAG(std::string, label, "",
          "add-admin-token: a note saying whose the token is");
ABSL_FLAG(std::string, token_out, "",
          "add-admin-token: write the token to this file (mode 0600) instead "
          "of printing it");
ABSL_FLAG(int, cert_days, 825,
          "init, enrol-supernode, renew-index: days the index's or "
          "supernode's certificate is valid");

namespace trove {
namespace index_server {
namespace {

int Usage(const std::string& command, const std::string& message) {
  std::cerr << "index_server " << command << ": " << message << "\n"
            << "Run 'index_server --help' for help.\n";
  return 2;
}

}  // namespace

bool IsCommunityCommandFlag(absl::string_view filename) {
  return absl::StrContains(filename, "index_server/community_main.cc");
}

int RunInit(const std::vector<std::string>& args, const std::string& listen,
            const std::string& postgres, const FlagFilter& config_flags) {
  if (args.size() != 1) return Usage("init", "give exactly one folder: init DIR");
  InitOptions o;
  o.dir = args[0];
  o.listen = listen;
  o.advertise = absl::GetFlag(FLAGS_advertise);
  o.postgres = postgres;
  o.cert_validity = absl::Hours(24) * std::max(1, absl::GetFlag(FLAGS_cert_days));
  o.owns_flag = config_flags;
  absl::StatusOr<InitResult> r = InitCommunity(o);
  if (!r.ok()) {
    std::cerr << "index_server init: " << r.status().message() << "\n";
    return absl::IsInvalidArgument(r.status()) ? 2 : 1;
  }
  std::cout << "Made a community in " << o.dir << ":\n"
            << "  " << kCaCertFile << ", " << kCaKeyFile
            << "         the community CA (keep " << kCaKeyFile
            << " secret; it signs the index's and supernodes' certificates)\n"
            << "  " << kIndexCertFile << ", " << kIndexKeyFile
            << "   the index's certificate and key (index " << r->index_id.substr(0, 16)
            << "...)\n"
            << "  " << kIndexConfigFile << "                  settings: edit "
            << "`postgres` and `listen`, then run\n"
            << "                         index_server --config=" << r->config_path
            << "\n  " << kAdminTokenFile
            << "            the first admin token (role admin; keep it "
               "secret), for trove-admin --token_file="
            << r->admin_token_path
            << "\n\nPeers and supernodes join with this link (also in "
            << kLinkFile << "):\n\n  " << r->link << "\n";
  return 0;
}

int RunEnrolSupernode(
    const std::vector<std::string>& args,
    const std::function<absl::Status(const std::string& public_key)>& record) {
  if (args.size() != 1) {
    return Usage("enrol-supernode", "give exactly one community folder");
  }
  EnrolOptions o;
  o.community_dir = args[0];
  o.out_dir = absl::GetFlag(FLAGS_out);
  o.hosts = absl::GetFlag(FLAGS_cert_hosts);
  o.validity = absl::Hours(24) * std::max(1, absl::GetFlag(FLAGS_cert_days));
  const std::string hex = absl::GetFlag(FLAGS_public_key);
  const std::string key_file = absl::GetFlag(FLAGS_key_file);
  if (!hex.empty() && !key_file.empty()) {
    return Usage("enrol-supernode", "give --public_key or --key_file, not both");
  }
  if (!hex.empty()) {
    absl::StatusOr<Hash> key = HashFromHex(hex);
    if (!key.ok()) {
      return Usage("enrol-supernode",
                   "--public_key must be 64 hex digits (an Ed25519 public key)");
    }
    o.public_key = HashToBytes(*key);
  } else if (!key_file.empty()) {
    absl::StatusOr<std::string> pem = ReadFile(key_file);
    if (!pem.ok()) {
      return Usage("enrol-supernode",
                   absl::StrCat("--key_file: ", pem.status().message()));
    }
    absl::StatusOr<std::string> key = Ed25519PublicKeyFromPem(*pem);
    if (!key.ok()) {
      return Usage("enrol-supernode",
                   absl::StrCat("--key_file: ", key.status().message()));
    }
    o.public_key = *key;
  }
  absl::StatusOr<EnrolResult> r = EnrolSupernode(o);
  if (!r.ok()) {
    std::cerr << "index_server enrol-supernode: " << r.status().message() << "\n";
    return absl::IsInvalidArgument(r.status()) ? 2 : 1;
  }
  if (record) {
    absl::Status s = record(absl::HexStringToBytes(r->public_key_hex));
    if (!s.ok()) {
      std::cerr << "index_server enrol-supernode: the certificate is made but "
                   "the key could not be enrolled in the database: "
                << s.message() << "\n";
      return 1;
    }
  }
  if (r->cert_path.empty()) {
    // The certificate itself, for the supernode's --tls_cert.
    std::cout << r->cert_pem;
    std::cerr << "supernode " << r->supernode_id << " (public key "
              << r->public_key_hex << ")\n";
    return 0;
  }
  std::cout << "Enrolled supernode " << r->supernode_id << "\n"
            << "  public key   " << r->public_key_hex << "\n"
            << "  certificate  " << r->cert_path << "\n"
            << "Start it with: supernode --state_dir=" << o.out_dir
            << " --join=LINK\n";
  return 0;
}

int RunRenewIndex(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    return Usage("renew-index", "give exactly one community folder");
  }
  absl::StatusOr<RenewResult> r = RenewIndexCertificate(
      args[0], absl::Hours(24) * std::max(1, absl::GetFlag(FLAGS_cert_days)));
  if (!r.ok()) {
    std::cerr << "index_server renew-index: " << r.status().message() << "\n";
    return absl::IsInvalidArgument(r.status()) ? 2 : 1;
  }
  std::cout << "Renewed the certificate of index " << r->index_id << "\n"
            << "  " << r->cert_path << "\n"
            << "  was valid until " << absl::FormatTime(r->old_not_after)
            << "\n"
            << "  now valid until  " << absl::FormatTime(r->new_not_after)
            << "\n"
            << "Restart the index server to use it. The link and the CA are "
               "unchanged.\n";
  return 0;
}

}  // namespace index_server
}  // namespace trove
