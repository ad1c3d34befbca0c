// Making a community and enrolling its supernodes, offline, in the
// community folder (see common/community_files.h for its files):
//
// - InitCommunity: the community CA, the index's key and CA-issued
//   certificate, a commented config file for index_server, and the link
//   peers join with (`index_server init DIR`).
// - EnrolSupernode: a CA-issued certificate for a supernode's Ed25519 key
//   (`index_server enrol-supernode DIR ...`). The index issues the same
//   certificates online for supernodes it promotes, with IssueCertificate.
// - RenewIndexCertificate: a new certificate for the index's same key
//   (`index_server renew-index DIR`), before the old one expires.
//
// InitCommunity also makes the first admin token (DIR/admin_token, mode
// 0600) and names its hash in the config file (initial_admin_token_hash).
//
// Thread-compatible (they write files; run one at a time per folder).
#ifndef TROVE_INDEX_SERVER_COMMUNITY_H_
#define TROVE_INDEX_SERVER_COMMUNITY_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config.h"

namespace trove {
namespace index_server {

struct InitOptions {
  // The community folder: made (0700) when missing.
  std::string dir;
  // Written into the config file as `listen`.
  std::string listen = "0.0.0.0:7400";
  // HOST:PORT peers and supernodes reach the index at, for the link; empty:
  // `listen` (which must then name a host and a port, not 0.0.0.0 or 0).
  std::string advertise;
  // Written into the config file as `postgres` (may be empty: to edit).
  std::string postgres;
  // The CA certificate's common name.
  std::string ca_name = "Trove community CA";
  absl::Duration ca_validity = absl::Hours(24 * 365 * 20);
  absl::Duration cert_validity = absl::Hours(24 * 825);
  // Which flags the config file lists (those of index_server).
  FlagFilter owns_flag;
};

struct InitResult {
  // trove://HOST:PORT?ca=FINGERPRINT
  std::string link;
  std::string ca_fingerprint;
  // The index's id (hex SHA-256 of its key).
  std::string index_id;
  // DIR/config, to run `index_server --config=...`.
  std::string config_path;
  // DIR/admin_token (mode 0600): the first admin token, role admin.
  std::string admin_token_path;
};

// Makes a community in options.dir. INVALID_ARGUMENT for a bad address
// (or one peers cannot reach, such as 0.0.0.0, without `advertise`);
// ALREADY_EXISTS when the folder already holds a community's files (it is
// never overwritten); file system errors.
absl::StatusOr<InitResult> InitCommunity(const InitOptions& options);

struct EnrolOptions {
  // The community folder made by InitCommunity (its CA signs).
  std::string community_dir;
  // The supernode's raw 32-byte Ed25519 public key. Empty: the key in
  // `out_dir` (made there when missing).
  std::string public_key;
  // A supernode's state folder to write the certificate (and the CA) into;
  // empty: nothing is written (the caller prints the certificate).
  std::string out_dir;
  // Host names and addresses the supernode is reached at (informational,
  // in subjectAltName).
  std::vector<std::string> hosts;
  absl::Duration validity = absl::Hours(24 * 825);
};

struct EnrolResult {
  std::string supernode_id;
  // Hex of the raw public key.
  std::string public_key_hex;
  // The certificate (PEM).
  std::string cert_pem;
  // Where it was written ("" when out_dir was empty).
  std::string cert_path;
};

// Issues a supernode's certificate. INVALID_ARGUMENT when neither a key nor
// an out_dir is given, or the key in out_dir differs from `public_key`;
// NOT_FOUND / DATA_LOSS when the community folder lacks its CA or it does
// not read.
absl::StatusOr<EnrolResult> EnrolSupernode(const EnrolOptions& options);

struct RenewResult {
  // The index's id (unchanged: the key stays).
  std::string index_id;
  // When the old and the new certificate expire.
  absl::Time old_not_after;
  absl::Time new_not_after;
  // DIR/index.pem, rewritten (the new certificate, then the CA).
  std::string cert_path;
};

// Issues the index a new certificate for its key in `community_dir`, valid
// for `validity` from an hour ago, with the host of the community's link,
// and replaces index.pem atomically (the index reads it at start: restart
// it). NOT_FOUND / DATA_LOSS when the folder lacks a file or one does not
// read; the old certificate need not be valid any more.
absl::StatusOr<RenewResult> RenewIndexCertificate(
    const std::string& community_dir, absl::Duration validity);

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_COMMUNITY_H_
