#include "index_server/community.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/community_files.h"
#include "common/community_link.h"
#include "common/file_util.h"
#include "common/identity.h"
#include "common/merkle.h"
#include "common/status_macros.h"
#include "index_server/admin_token.h"
#include "common/tls.h"
#include "common/validation.h"

namespace trove {
namespace index_server {
namespace {

std::string Absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof(cwd)) == nullptr) return path;
  return absl::StrCat(cwd, "/", path);
}

std::string In(const std::string& dir, const char* file) {
  return absl::StrCat(dir, "/", file);
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Splits HOST:PORT ([HOST]:PORT for IPv6).
absl::Status SplitHostPort(const std::string& address, std::string* host,
                           int* port) {
  RETURN_IF_ERROR(ValidateListenAddress(address));
  size_t colon = address.rfind(':');
  *host = address.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  if (!absl::SimpleAtoi(address.substr(colon + 1), port)) {
    return absl::InvalidArgumentError(absl::StrCat("no port in ", address));
  }
  return absl::OkStatus();
}

bool Wildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::";
}

}  // namespace

absl::StatusOr<InitResult> InitCommunity(const InitOptions& options) {
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("give the community folder: init DIR");
  }
  const std::string dir = Absolute(options.dir);
  // The link's address: checked before anything is written.
  std::string listen_host, link_host;
  int listen_port = 0, link_port = 0;
  absl::Status s = SplitHostPort(options.listen, &listen_host, &listen_port);
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("--listen: ", s.message()));
  const std::string reach = options.advertise.empty() ? options.listen : options.advertise;
  s = SplitHostPort(reach, &link_host, &link_port);
  if (!s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--advertise: ", s.message()));
  }
  if (Wildcard(link_host) || link_port == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the link needs an address peers can reach, not ", reach,
        ": give --advertise=HOST:PORT"));
  }
  for (const char* file : {kCaKeyFile, kCaCertFile, kIndexKeyFile,
                           kIndexCertFile, kIndexConfigFile, kLinkFile}) {
    if (Exists(In(dir, file))) {
      return absl::AlreadyExistsError(absl::StrCat(
          dir, " already holds a community (", file,
          " exists); it is never overwritten. Use another folder, or remove "
          "this one to start over (its peers will need the new link)"));
    }
  }
  RETURN_IF_ERROR(MakeDirs(dir, 0700));
  ::chmod(dir.c_str(), 0700);

  // The community CA.
  ASSIGN_OR_RETURN(KeyAndCert ca,
                   MakeCommunityCa(options.ca_name, options.ca_validity));
  ASSIGN_OR_RETURN(std::string fingerprint, CertificateFingerprint(ca.cert_pem));
  RETURN_IF_ERROR(WriteFileAtomic(In(dir, kCaKeyFile), ca.key_pem, 0600));
  RETURN_IF_ERROR(WriteFileAtomic(In(dir, kCaCertFile), ca.cert_pem, 0644));

  // The index's key and certificate; the CA follows it in the chain, so
  // that joining peers learn the CA from the handshake.
  ASSIGN_OR_RETURN(std::unique_ptr<Identity> index_key, Identity::Generate());
  std::vector<std::string> hosts = {link_host};
  if (!Wildcard(listen_host) && listen_host != link_host) {
    hosts.push_back(listen_host);
  }
  ASSIGN_OR_RETURN(std::string index_cert,
                   IssueCertificate(ca, index_key->public_key(),
                                    CertRole::kIndex, options.cert_validity,
                                    hosts));
  ASSIGN_OR_RETURN(std::string index_key_pem, index_key->PrivateKeyPem());
  RETURN_IF_ERROR(WriteFileAtomic(In(dir, kIndexKeyFile), index_key_pem, 0600));
  RETURN_IF_ERROR(WriteFileAtomic(In(dir, kIndexCertFile),
                                  absl::StrCat(index_cert, ca.cert_pem), 0644));

  // The first admin token of the AdminService, for the operator only; the
  // config file names its hash, which the index accepts at start.
  ASSIGN_OR_RETURN(NewAdminToken admin_token, MakeAdminToken());
  const std::string admin_token_path = In(dir, kAdminTokenFile);
  RETURN_IF_ERROR(
      WriteFileAtomic(admin_token_path, admin_token.token + "\n", 0600));

  CommunityLink link;
  link.host = link_host;
  link.port = link_port;
  link.ca_fingerprint = fingerprint;
  InitResult out;
  out.link = FormatCommunityLink(link);
  out.ca_fingerprint = fingerprint;
  out.index_id = index_key->peer_id();
  out.config_path = In(dir, kIndexConfigFile);
  out.admin_token_path = admin_token_path;

  std::string header = absl::StrCat(
      "index_server settings for the community made by `index_server init`. "
      "Run: index_server --config=", out.config_path,
      "\n\nPeers and supernodes join with this link:\n", out.link,
      "\n\nEdit `postgres` (a PostgreSQL connection string) and `listen`; "
      "the tls_* settings name this folder's files. A flag given on the "
      "command line wins over this file.");
  std::string config = ConfigTemplate(
      header, options.owns_flag,
      {{"listen", options.listen},
       {"postgres", options.postgres},
       {"tls_cert", In(dir, kIndexCertFile)},
       {"tls_key", In(dir, kIndexKeyFile)},
       {"tls_ca", In(dir, kCaCertFile)},
       {"initial_admin_token_hash", admin_token.hash}});
  RETURN_IF_ERROR(WriteFileAtomic(out.config_path, config, 0600));
  RETURN_IF_ERROR(WriteFileAtomic(In(dir, kLinkFile), out.link + "\n", 0644));
  return out;
}

absl::StatusOr<EnrolResult> EnrolSupernode(const EnrolOptions& options) {
  if (options.community_dir.empty()) {
    return absl::InvalidArgumentError(
        "give the community folder: enrol-supernode DIR");
  }
  const std::string dir = Absolute(options.community_dir);
  KeyAndCert ca;
  for (auto [file, out] : {std::make_pair(kCaKeyFile, &ca.key_pem),
                           std::make_pair(kCaCertFile, &ca.cert_pem)}) {
    absl::StatusOr<std::string> data = ReadFile(In(dir, file));
    if (!data.ok()) {
      return absl::Status(data.status().code(),
                          absl::StrCat(dir, " is not a community folder: ",
                                       data.status().message()));
    }
    *out = std::move(*data);
  }
  std::string public_key = options.public_key;
  if (!options.out_dir.empty()) {
    const std::string out_dir = Absolute(options.out_dir);
    RETURN_IF_ERROR(MakeDirs(out_dir, 0700));
    const std::string key_path = In(out_dir, kSupernodeKeyFile);
    if (public_key.empty() || Exists(key_path)) {
      ASSIGN_OR_RETURN(std::unique_ptr<Identity> key,
                       Identity::LoadOrCreate(key_path));
      if (!public_key.empty() && public_key != key->public_key()) {
        return absl::InvalidArgumentError(absl::StrCat(
            key_path, " holds another key (", key->peer_id().substr(0, 16),
            "...) than the one given"));
      }
      public_key = key->public_key();
    }
  }
  if (public_key.empty()) {
    return absl::InvalidArgumentError(
        "give the supernode's key (--public_key=HEX or --key_file=PEM) or its "
        "state folder (--out=DIR)");
  }
  absl::StatusOr<std::string> cert = IssueCertificate(
      ca, public_key, CertRole::kSupernode, options.validity, options.hosts);
  if (!cert.ok()) {
    return absl::Status(cert.status().code(),
                        absl::StrCat("cannot issue the certificate: ",
                                     cert.status().message()));
  }
  EnrolResult out;
  out.supernode_id = PeerIdFromPublicKey(public_key);
  out.public_key_hex = HexEncode(public_key);
  out.cert_pem = *cert;
  if (!options.out_dir.empty()) {
    const std::string out_dir = Absolute(options.out_dir);
    out.cert_path = In(out_dir, kSupernodeCertFile);
    RETURN_IF_ERROR(WriteFileAtomic(out.cert_path, out.cert_pem, 0644));
    RETURN_IF_ERROR(
        WriteFileAtomic(In(out_dir, kCommunityCaFile), ca.cert_pem, 0644));
  }
  return out;
}

absl::StatusOr<RenewResult> RenewIndexCertificate(
    const std::string& community_dir, absl::Duration validity) {
  if (community_dir.empty()) {
    return absl::InvalidArgumentError(
        "give the community folder: renew-index DIR");
  }
  const std::string dir = Absolute(community_dir);
  std::map<const char*, std::string> files;
  for (const char* file :
       {kCaKeyFile, kCaCertFile, kIndexKeyFile, kIndexCertFile, kLinkFile}) {
    absl::StatusOr<std::string> data = ReadFile(In(dir, file));
    if (!data.ok()) {
      return absl::Status(data.status().code(),
                          absl::StrCat(dir, " is not a community folder: ",
                                       data.status().message()));
    }
    files[file] = std::move(*data);
  }
  KeyAndCert ca{files[kCaKeyFile], files[kCaCertFile]};
  absl::StatusOr<std::unique_ptr<Identity>> key =
      Identity::FromPem(files[kIndexKeyFile]);
  if (!key.ok()) {
    return absl::DataLossError(absl::StrCat(In(dir, kIndexKeyFile),
                                            " does not read: ",
                                            key.status().message()));
  }
  absl::StatusOr<CertInfo> old = InspectCertificate(files[kIndexCertFile]);
  if (!old.ok()) {
    return absl::DataLossError(absl::StrCat(In(dir, kIndexCertFile),
                                            " does not read: ",
                                            old.status().message()));
  }
  if (old->id != (*key)->peer_id()) {
    return absl::DataLossError(absl::StrCat(
        In(dir, kIndexCertFile), " is not the certificate of ",
        In(dir, kIndexKeyFile)));
  }
  std::string link_text(absl::StripAsciiWhitespace(files[kLinkFile]));
  absl::StatusOr<CommunityLink> link = ParseCommunityLink(link_text);
  if (!link.ok()) {
    return absl::DataLossError(absl::StrCat(In(dir, kLinkFile), ": ",
                                            link.status().message()));
  }
  absl::StatusOr<std::string> cert =
      IssueCertificate(ca, (*key)->public_key(), CertRole::kIndex, validity,
                       {link->host});
  if (!cert.ok()) {
    return absl::Status(cert.status().code(),
                        absl::StrCat("cannot issue the certificate: ",
                                     cert.status().message()));
  }
  ASSIGN_OR_RETURN(CertInfo fresh, InspectCertificate(*cert));
  RenewResult out;
  out.index_id = (*key)->peer_id();
  out.old_not_after = old->not_after;
  out.new_not_after = fresh.not_after;
  out.cert_path = In(dir, kIndexCertFile);
  RETURN_IF_ERROR(WriteFileAtomic(out.cert_path,
                                  absl::StrCat(*cert, ca.cert_pem), 0644));
  return out;
}

}  // namespace index_server
}  // namespace trove
