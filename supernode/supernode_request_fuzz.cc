// Fuzz target: every request a supernode takes from leaves and from other
// supernodes, run through the checks the service makes before it asks its
// registry, its index or its rate limits anything (service.h), and the
// join proof the registry checks once the nonce is live (leaf_registry.h).
//
// The first byte picks the request; the rest is the request's bytes.
// Besides not crashing:
// - a refusal says why in clean text, naming the field where the request
//   has few;
// - an accepted request passes again after a serialise / parse round trip,
//   and its names and addresses are clean;
// - a join, leaf change or presence the target signs itself with a fixed
//   key (and, for a join, with the proof of work solved) passes exactly
//   when its fields do, carries what was signed and nothing else, and
//   fails once one signed byte changes.
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/fuzz_util.h"
#include "common/identity.h"
#include "common/join_auth.h"
#include "common/join_work.h"
#include "common/search/query.h"
#include "common/signed_change.h"
#include "common/text.h"
#include "common/validation.h"
#include "protos/supernode.pb.h"
#include "supernode/leaf_registry.h"
#include "supernode/service.h"

namespace trove {
namespace supernode {
namespace {

using fuzz::CheckRefusal;
using fuzz::FixedIdentity;
using fuzz::ParseInput;
using fuzz::RoundTrip;

constexpr int kMaxEntries = 16;
constexpr int kMaxHops = 2;

bool Clean(absl::string_view s) {
  return FindUnsafeText(s) == absl::string_view::npos;
}

std::string Tampered(std::string bytes, size_t where) {
  if (bytes.empty()) return "x";
  bytes[where % bytes.size()] ^= 0x01;
  return bytes;
}

void CheckJoinRefusal(const absl::Status& s) {
  CheckRefusal(s, {"public_key", "signature", "work", "nonce",
                   "listen_address", "capacity"});
}

void JoinRaw(absl::string_view in, int bits) {
  JoinRequest r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidateJoinRequest(r);
  if (!s.ok()) {
    CheckJoinRefusal(s);
  } else {
    TROVE_FUZZ_CHECK(Clean(r.listen_address()));
    TROVE_FUZZ_CHECK(r.public_key().size() == 32 && !r.nonce().empty());
    TROVE_FUZZ_CHECK(ValidateJoinRequest(RoundTrip(r)).ok());
  }
  s = CheckJoinProof(r, bits);
  if (s.ok()) {
    TROVE_FUZZ_CHECK(
        JoinWorkMeets(r.nonce(), r.public_key(), r.work(), bits));
    TROVE_FUZZ_CHECK(VerifySignature(
                         r.public_key(),
                         JoinSignedMessage(r.nonce(), r.listen_address()),
                         r.signature())
                         .ok());
  } else {
    CheckRefusal(s, {"proof of work", "signature", "key"});
  }
}

// A join made as a leaf makes it: the target's key, the work solved for
// the nonce, the signature over nonce and address.
void JoinSigned(absl::string_view in, int key, int bits) {
  JoinRequest r;
  if (!ParseInput(in, &r)) return;
  const Identity& id = FixedIdentity(key);
  r.set_public_key(id.public_key());
  r.set_work(SolveJoinWork(r.nonce(), id.public_key(), bits));
  r.set_signature(fuzz::SignOrDie(
      id, JoinSignedMessage(r.nonce(), r.listen_address())));
  const bool shape_ok =
      !r.nonce().empty() && r.nonce().size() <= 64 && r.work().size() <= 64 &&
      ValidateAddress(r.listen_address()).ok() &&
      r.capacity().upload_bytes_per_second() >= 0 &&
      r.capacity().uptime_seconds() >= 0 &&
      r.capacity().free_memory_bytes() >= 0;
  absl::Status s = ValidateJoinRequest(r);
  TROVE_FUZZ_CHECK(s.ok() == shape_ok);
  if (!s.ok()) CheckJoinRefusal(s);
  TROVE_FUZZ_CHECK(CheckJoinProof(r, bits).ok());
  TROVE_FUZZ_CHECK(CheckJoinProof(RoundTrip(r), bits).ok());
  // The signature binds the address and the nonce; the work binds the key.
  JoinRequest other = r;
  other.set_listen_address(Tampered(r.listen_address(), in.size()));
  CheckRefusal(CheckJoinProof(other, 0), {"signature"});
  other = r;
  other.set_signature(Tampered(r.signature(), in.size()));
  CheckRefusal(CheckJoinProof(other, 0), {"signature"});
  other = r;
  other.set_public_key(FixedIdentity(1 - key).public_key());
  other.set_work(SolveJoinWork(r.nonce(), other.public_key(), bits));
  CheckRefusal(CheckJoinProof(other, bits), {"signature"});
}

void CheckAcceptedPublish(const CheckedPublish& p) {
  const PublishRequest& r = p.request();
  TROVE_FUZZ_CHECK(r.added_size() + r.removed_size() + r.partial_size() <=
                   kMaxEntries);
  for (const FileEntry& e : r.added()) {
    TROVE_FUZZ_CHECK(ValidateFileName(e.name()).ok() && Clean(e.name()));
    TROVE_FUZZ_CHECK(ValidateHexId(e.cid(), "cid").ok());
  }
  for (const FileEntry& e : r.partial()) {
    TROVE_FUZZ_CHECK(ValidateFileName(e.name()).ok() && Clean(e.name()));
  }
  for (const std::string& cid : r.removed()) {
    TROVE_FUZZ_CHECK(ValidateHexId(cid, "cid").ok());
  }
  if (p.change.has_value()) {
    TROVE_FUZZ_CHECK(p.change->peer_id() ==
                     PeerIdFromPublicKey(p.change->public_key()));
    TROVE_FUZZ_CHECK(p.change->address().empty() ||
                     (ValidateAddress(p.change->address()).ok() &&
                      Clean(p.change->address())));
    TROVE_FUZZ_CHECK(r.full() == p.change->full());
  }
  TROVE_FUZZ_CHECK(ValidatePublish(RoundTrip(r), kMaxEntries).ok());
}

void PublishRaw(absl::string_view in) {
  PublishRequest r;
  if (!ParseInput(in, &r)) return;
  absl::StatusOr<CheckedPublish> p = CheckPublish(r, kMaxEntries);
  if (!p.ok()) {
    CheckRefusal(p.status());
    return;
  }
  CheckAcceptedPublish(*p);
  TROVE_FUZZ_CHECK(p->change.has_value() == !r.signed_change().empty());
  TROVE_FUZZ_CHECK(p->request().session() == r.session());
}

// A change signed by a fixed key, sent with plain fields that must be
// ignored.
void PublishSigned(absl::string_view in, int key) {
  LeafChange change;
  if (!ParseInput(in, &change)) return;
  absl::StatusOr<Signed> sc = SignLeafChange(FixedIdentity(key), change);
  TROVE_FUZZ_CHECK(sc.ok());
  PublishRequest r;
  r.set_session("fuzz-session");
  r.set_signed_change(sc->bytes);
  r.set_signature(sc->signature);
  r.add_removed("plain field, ignored");
  absl::StatusOr<CheckedPublish> p = CheckPublish(r, kMaxEntries);
  const int entries =
      change.added_size() + change.removed_size() + change.partial_size();
  if (p.ok()) {
    CheckAcceptedPublish(*p);
    TROVE_FUZZ_CHECK(p->change->peer_id() == FixedIdentity(key).peer_id());
    TROVE_FUZZ_CHECK(p->change->seq() == change.seq());
    TROVE_FUZZ_CHECK(p->change->supernode_id() == change.supernode_id());
    TROVE_FUZZ_CHECK(p->request().added_size() == change.added_size());
    TROVE_FUZZ_CHECK(p->request().removed_size() == change.removed_size());
    TROVE_FUZZ_CHECK(p->request().partial_size() == change.partial_size());
  } else {
    CheckRefusal(p.status());
    // Signed rightly, only its contents can be at fault.
    TROVE_FUZZ_CHECK(
        entries > kMaxEntries ||
        (!change.address().empty() &&
         !ValidateAddress(change.address()).ok()) ||
        !ValidatePublish(
             [&] {
               PublishRequest lists;
               *lists.mutable_added() = change.added();
               *lists.mutable_removed() = change.removed();
               *lists.mutable_partial() = change.partial();
               return lists;
             }(),
             kMaxEntries)
             .ok());
  }
  PublishRequest altered = r;
  altered.set_signed_change(Tampered(sc->bytes, in.size()));
  p = CheckPublish(altered, kMaxEntries);
  TROVE_FUZZ_CHECK(!p.ok());
  CheckRefusal(p.status());
  // No session, no publish.
  altered = r;
  altered.clear_session();
  p = CheckPublish(altered, kMaxEntries);
  TROVE_FUZZ_CHECK(!p.ok());
  CheckRefusal(p.status(), {"session"});
}

void HeartbeatRaw(absl::string_view in, int key) {
  HeartbeatRequest r;
  if (!ParseInput(in, &r)) return;
  const std::string bound = key == 0 ? "" : FixedIdentity(0).peer_id();
  absl::StatusOr<std::optional<Presence>> p = CheckHeartbeatPresence(r, bound);
  if (!p.ok()) {
    CheckRefusal(p.status(), {"presence"});
    return;
  }
  TROVE_FUZZ_CHECK(p->has_value() == !r.presence().empty());
  if (p->has_value()) {
    TROVE_FUZZ_CHECK(bound.empty() || (*p)->supernode_id() == bound);
    TROVE_FUZZ_CHECK((*p)->peer_id() == PeerIdFromPublicKey((*p)->public_key()));
  }
}

void HeartbeatSigned(absl::string_view in, int key) {
  Presence presence;
  if (!ParseInput(in, &presence)) return;
  absl::StatusOr<Signed> sp = SignPresence(FixedIdentity(key), presence);
  TROVE_FUZZ_CHECK(sp.ok());
  HeartbeatRequest r;
  r.set_session("fuzz-session");
  r.set_presence(sp->bytes);
  r.set_presence_signature(sp->signature);
  absl::StatusOr<std::optional<Presence>> p =
      CheckHeartbeatPresence(r, presence.supernode_id());
  TROVE_FUZZ_CHECK(p.ok() && p->has_value());
  TROVE_FUZZ_CHECK((*p)->peer_id() == FixedIdentity(key).peer_id());
  const std::string other = FixedIdentity(1 - key).peer_id();
  if (presence.supernode_id() != other) {
    p = CheckHeartbeatPresence(r, other);
    TROVE_FUZZ_CHECK(!p.ok());
    CheckRefusal(p.status(), {"presence"});
  }
  r.set_presence(Tampered(sp->bytes, in.size()));
  p = CheckHeartbeatPresence(r, "");
  TROVE_FUZZ_CHECK(!p.ok());
  CheckRefusal(p.status(), {"presence"});
}

void CheckQuery(const SearchQuery& query) {
  absl::StatusOr<search::ParsedQuery> parsed =
      search::ParseRequestQuery(query, 20, 50);
  if (!parsed.ok()) {
    CheckRefusal(parsed.status());
    return;
  }
  TROVE_FUZZ_CHECK(parsed->limit >= 1 && parsed->limit <= 50);
  TROVE_FUZZ_CHECK(parsed->terms.size() <= search::kMaxQueryWords);
  for (const search::QueryTerm& t : parsed->terms) {
    TROVE_FUZZ_CHECK(!t.word.empty() && Clean(t.word));
  }
  TROVE_FUZZ_CHECK(search::ParseRequestQuery(RoundTrip(query), 20, 50).ok());
}

void Search(absl::string_view in) {
  SearchRequest r;
  if (!ParseInput(in, &r)) return;
  CheckQuery(r.query());
}

void PeerSearch(absl::string_view in) {
  PeerSearchRequest r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidatePeerSearch(r, kMaxHops);
  if (!s.ok()) {
    CheckRefusal(s, {"fan_out"});
    return;
  }
  TROVE_FUZZ_CHECK(r.fan_out().hops_left() >= 0 &&
                   r.fan_out().hops_left() <= kMaxHops);
  TROVE_FUZZ_CHECK(ValidatePeerSearch(RoundTrip(r), kMaxHops).ok());
  CheckQuery(r.query());
}

void Locate(absl::string_view in) {
  LocateRequest r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidateLocate(r);
  if (!s.ok()) {
    CheckRefusal(s, {"cid"});
  } else {
    TROVE_FUZZ_CHECK(ValidateLocate(RoundTrip(r)).ok());
  }
}

void PeerLocate(absl::string_view in) {
  PeerLocateRequest r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidatePeerLocate(r, kMaxHops);
  if (!s.ok()) {
    CheckRefusal(s, {"cid", "fan_out"});
  } else {
    TROVE_FUZZ_CHECK(ValidateHexId(r.cid(), "cid").ok());
    TROVE_FUZZ_CHECK(ValidatePeerLocate(RoundTrip(r), kMaxHops).ok());
  }
}

void ReportBadSource(absl::string_view in) {
  ReportBadSourceRequest r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidateReportBadSource(r);
  if (!s.ok()) {
    CheckRefusal(s, {"session", "cid", "peer_id"});
  } else {
    TROVE_FUZZ_CHECK(ValidateHexId(r.peer_id(), "peer_id").ok());
    TROVE_FUZZ_CHECK(ValidateReportBadSource(RoundTrip(r)).ok());
  }
}

}  // namespace
}  // namespace supernode
}  // namespace trove

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trove::supernode;  // NOLINT
  uint8_t selector;
  absl::string_view in;
  if (!trove::fuzz::SplitInput(data, size, &selector, &in)) return 0;
  const int key = (selector / 11) & 1;
  // Work of 0 to 3 bits: enough to tell met from unmet, cheap to solve.
  const int bits = (selector / 22) % 4;
  switch (selector % 11) {
    case 0: JoinRaw(in, bits); break;
    case 1: JoinSigned(in, key, bits); break;
    case 2: PublishRaw(in); break;
    case 3: PublishSigned(in, key); break;
    case 4: HeartbeatRaw(in, key); break;
    case 5: HeartbeatSigned(in, key); break;
    case 6: Search(in); break;
    case 7: PeerSearch(in); break;
    case 8: Locate(in); break;
    case 9: PeerLocate(in); break;
    default: ReportBadSource(in); break;
  }
  return 0;
}
