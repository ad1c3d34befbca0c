// Learning a community's CA from its link (community_link.h): the index
// sends its certificate chain (its own certificate, then the CA's) in the
// TLS handshake, and the joining side accepts the CA only when its
// fingerprint is the link's and it issued the index's certificate. It is
// then kept in a file beside the joining side's state, so later starts do
// not depend on that step.
//
// Thread-safe.
#ifndef TROVE_COMMON_COMMUNITY_CA_H_
#define TROVE_COMMON_COMMUNITY_CA_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/community_link.h"
#include "common/tls_credentials.h"

namespace trove {

// Connects to the link's index (presenting `client`'s certificate, which the
// index asks for) and returns the community CA certificate (PEM) from the
// chain the index sends, once checked against the link. UNAVAILABLE when
// the index cannot be reached within `timeout`; UNAUTHENTICATED (with the
// reason) when it answered with a chain that does not match the link.
// REQUIRES: `client` is not insecure.
absl::StatusOr<std::string> FetchCommunityCa(const CommunityLink& link,
                                             const TlsContext& client,
                                             absl::Duration timeout);

// The link's CA: read from `cache_path` when that file holds the CA with
// the link's fingerprint, else fetched (FetchCommunityCa) and written
// there (atomically). Errors of FetchCommunityCa, and of writing the file.
absl::StatusOr<std::string> LoadOrFetchCommunityCa(const CommunityLink& link,
                                                   const std::string& cache_path,
                                                   const TlsContext& client,
                                                   absl::Duration timeout);

// The community CA for a binary that joins a community, in this order:
// the file `tls_ca_path` (--tls_ca) when set; else, with a `link` (--join),
// LoadOrFetchCommunityCa(link, cache_path, ...); else the CA kept in
// `cache_path` by an earlier join (or by `index_server enrol-supernode`).
// INVALID_ARGUMENT when none of them gives one; the errors of each step.
absl::StatusOr<std::string> ResolveCommunityCa(const std::string& tls_ca_path,
                                               const CommunityLink* link,
                                               const std::string& cache_path,
                                               const TlsContext& client,
                                               absl::Duration timeout);

}  // namespace trove

#endif  // TROVE_COMMON_COMMUNITY_CA_H_
