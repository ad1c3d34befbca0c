// Community links: how a peer or a supernode joins a community.
//
//   trove://HOST:PORT?ca=FINGERPRINT
//
// HOST:PORT is the index server (a name, an IPv4 address or [an IPv6
// one]); FINGERPRINT is the hex SHA-256 of the community CA certificate's
// DER (64 hex digits). The scheme is case-insensitive and so are the hex
// digits; a trailing "/" before "?" is allowed; other query parameters
// are ignored (for later use). `index_server init` prints the link.
//
// community_ca.h learns the CA itself from the index.
//
// Thread-safe.
#ifndef TROVE_COMMON_COMMUNITY_LINK_H_
#define TROVE_COMMON_COMMUNITY_LINK_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trove {

struct CommunityLink {
  // As written in the link, without brackets for IPv6.
  std::string host;
  int port = 0;
  // 64 lowercase hex digits.
  std::string ca_fingerprint;

  // "HOST:PORT" ("[HOST]:PORT" for IPv6), as gRPC dials it.
  std::string address() const;
};

// Parses a community link. INVALID_ARGUMENT naming what is wrong: another
// scheme (a file's trove:CID link included), no host or port, a port out of
// range, no ca= or a malformed fingerprint, a parameter given twice.
absl::StatusOr<CommunityLink> ParseCommunityLink(absl::string_view text);

// The link's text: trove://HOST:PORT?ca=FINGERPRINT.
std::string FormatCommunityLink(const CommunityLink& link);

}  // namespace trove

#endif  // TROVE_COMMON_COMMUNITY_LINK_H_
