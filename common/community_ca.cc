#include "common/community_ca.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/file_util.h"
#include "common/tls.h"

namespace trove {
namespace {

// What the fetch learned, shared with the handshake's check.
struct FetchState {
  absl::Mutex mu;
  std::string ca_pem ABSL_GUARDED_BY(mu);
  std::string refused ABSL_GUARDED_BY(mu);
};

// Accepts the index's chain when it holds the link's CA and that CA issued
// the index's certificate; remembers the CA.
absl::Status CheckChain(const std::string& fingerprint, absl::string_view leaf,
                        absl::string_view chain, FetchState* state) {
  absl::StatusOr<std::vector<std::string>> certs = SplitPemCertificates(chain);
  if (!certs.ok()) return certs.status();
  std::string ca;
  for (const std::string& c : *certs) {
    absl::StatusOr<std::string> fp = CertificateFingerprint(c);
    if (fp.ok() && *fp == fingerprint) ca = c;
  }
  if (ca.empty()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the server sent no CA certificate with the link's fingerprint ",
        fingerprint.substr(0, 16), "... (another community, or not an index)"));
  }
  absl::StatusOr<CertInfo> ca_info = InspectCertificate(ca);
  if (!ca_info.ok() || ca_info->role != CertRole::kCa || !ca_info->self_signed ||
      !VerifySelfSigned(ca).ok()) {
    return absl::UnauthenticatedError(
        "the certificate with the link's fingerprint is not a community CA");
  }
  absl::StatusOr<CertInfo> leaf_info = InspectCertificate(leaf);
  if (!leaf_info.ok() || leaf_info->role != CertRole::kIndex) {
    return absl::UnauthenticatedError(
        "the server at the link's address is not the community's index");
  }
  absl::Status issued = VerifyIssuedBy(leaf, ca, absl::Now());
  if (!issued.ok()) return issued;
  absl::MutexLock lock(&state->mu);
  state->ca_pem = ca;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> FetchCommunityCa(const CommunityLink& link,
                                             const TlsContext& client,
                                             absl::Duration timeout) {
  if (client.insecure()) {
    return absl::FailedPreconditionError(
        "a community link needs TLS; it cannot be used with --insecure");
  }
  auto state = std::make_shared<FetchState>();
  const std::string fingerprint = link.ca_fingerprint;
  std::shared_ptr<grpc::ChannelCredentials> creds =
      client.ChannelCredentialsWithCheck(
          [state, fingerprint](absl::string_view leaf, absl::string_view chain) {
            absl::Status s = CheckChain(fingerprint, leaf, chain, state.get());
            if (!s.ok()) {
              absl::MutexLock lock(&state->mu);
              state->refused = std::string(s.message());
            }
            return s;
          });
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(kTlsServerName);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(link.address(), creds, args);
  // Until connected, refused (no point retrying: the same chain comes
  // back), or out of time.
  const absl::Time deadline = absl::Now() + timeout;
  bool connected = false;
  while (true) {
    grpc_connectivity_state st = channel->GetState(/*try_to_connect=*/true);
    if (st == GRPC_CHANNEL_READY) {
      connected = true;
      break;
    }
    {
      absl::MutexLock lock(&state->mu);
      if (!state->refused.empty()) break;
    }
    if (absl::Now() >= deadline) break;
    channel->WaitForStateChange(
        st, absl::ToChronoTime(
                std::min(deadline, absl::Now() + absl::Milliseconds(100))));
  }
  absl::MutexLock lock(&state->mu);
  if (connected && !state->ca_pem.empty()) return state->ca_pem;
  if (!state->refused.empty()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the index at ", link.address(), " does not match the link: ",
        state->refused));
  }
  return absl::UnavailableError(
      absl::StrCat("cannot reach the index at ", link.address(), " within ",
                   absl::FormatDuration(timeout), " to learn its CA"));
}

absl::StatusOr<std::string> LoadOrFetchCommunityCa(const CommunityLink& link,
                                                   const std::string& cache_path,
                                                   const TlsContext& client,
                                                   absl::Duration timeout) {
  absl::StatusOr<std::string> cached = ReadFile(cache_path);
  if (cached.ok()) {
    absl::StatusOr<std::string> fp = CertificateFingerprint(*cached);
    if (fp.ok() && *fp == link.ca_fingerprint) return cached;
  }
  absl::StatusOr<std::string> ca = FetchCommunityCa(link, client, timeout);
  if (!ca.ok()) return ca.status();
  absl::Status written = WriteFileAtomic(cache_path, *ca, 0644);
  if (!written.ok()) {
    return absl::Status(written.code(),
                        absl::StrCat("cannot keep the community CA in ",
                                     cache_path, ": ", written.message()));
  }
  return ca;
}

absl::StatusOr<std::string> ResolveCommunityCa(const std::string& tls_ca_path,
                                               const CommunityLink* link,
                                               const std::string& cache_path,
                                               const TlsContext& client,
                                               absl::Duration timeout) {
  if (!tls_ca_path.empty()) {
    absl::StatusOr<std::string> ca = ReadFile(tls_ca_path);
    if (!ca.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls_ca: cannot read ", tls_ca_path, ": ", ca.status().message()));
    }
    return ca;
  }
  if (link != nullptr) {
    return LoadOrFetchCommunityCa(*link, cache_path, client, timeout);
  }
  absl::StatusOr<std::string> kept = ReadFile(cache_path);
  if (kept.ok()) return kept;
  return absl::InvalidArgumentError(absl::StrCat(
      "no community CA known: give --join=LINK (the community's link) or "
      "--tls_ca=FILE, or --insecure for plaintext in tests (looked for ",
      cache_path, ")"));
}

}  // namespace trove
