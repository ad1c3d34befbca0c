// Fuzz target: every request the IndexService takes from the network, run
// through the checks the service makes before it touches its store, trust
// store or rate limits (service.h), plus the order in which the index
// applies a leaf's signed changes (leaf_chain.h).
//
// The first byte picks the request; the rest is the request's bytes.
// Besides not crashing:
// - a refusal says why in clean text, naming the field where the request
//   has few;
// - an accepted request passes again after a serialise / parse round trip,
//   and its ids, names and addresses are clean;
// - a request the target signs itself with a fixed key (registration,
//   leaf change, presence, capacity report) passes exactly when its fields
//   do, binds what was signed, and fails once one signed byte changes;
// - a leaf's chain never applies a replay, a delta out of order or a delta
//   to withdrawn sources.
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/fuzz_util.h"
#include "common/identity.h"
#include "common/search/query.h"
#include "common/signed_change.h"
#include "common/text.h"
#include "common/validation.h"
#include "index_server/leaf_chain.h"
#include "index_server/service.h"
#include "protos/index.pb.h"

namespace trove {
namespace index_server {
namespace {

using fuzz::CheckRefusal;
using fuzz::FixedIdentity;
using fuzz::ParseInput;
using fuzz::RoundTrip;

bool Clean(absl::string_view s) {
  return FindUnsafeText(s) == absl::string_view::npos;
}

// A copy of `bytes` with one byte changed (chosen by `where`).
std::string Tampered(std::string bytes, size_t where) {
  if (bytes.empty()) return "x";
  bytes[where % bytes.size()] ^= 0x01;
  return bytes;
}

IndexServiceOptions Options(bool verify) {
  IndexServiceOptions options;
  options.max_deltas_per_batch = 8;
  options.max_files_per_delta = 16;
  options.max_signature_bytes = 128;
  options.search_default_limit = 20;
  options.search_max_limit = 50;
  options.verify_leaf_changes = verify;
  options.verify_threads = 1;
  return options;
}

void CheckAcceptedDelta(const index::PeerDelta& d) {
  TROVE_FUZZ_CHECK(ValidateHexId(d.peer_id(), "peer_id").ok());
  if (d.gone()) return;
  TROVE_FUZZ_CHECK(ValidateAddress(d.address()).ok() && Clean(d.address()));
  for (const FileEntry& e : d.added()) {
    TROVE_FUZZ_CHECK(ValidateFileName(e.name()).ok() && Clean(e.name()));
    TROVE_FUZZ_CHECK(ValidateHexId(e.cid(), "cid").ok());
  }
  for (const FileEntry& e : d.partial()) {
    TROVE_FUZZ_CHECK(ValidateFileName(e.name()).ok() && Clean(e.name()));
  }
  for (const std::string& cid : d.removed()) {
    TROVE_FUZZ_CHECK(ValidateHexId(cid, "cid").ok());
  }
}

void RegisterRaw(absl::string_view in) {
  index::RegisterSupernodeRequest r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidateRegisterSupernode(r);
  if (!s.ok()) {
    CheckRefusal(s, {"supernode_id", "address", "capacity"});
  } else {
    TROVE_FUZZ_CHECK(Clean(r.address()));
    TROVE_FUZZ_CHECK(ValidateRegisterSupernode(RoundTrip(r)).ok());
  }
  s = CheckRegistrationProof(r);
  if (!s.ok()) {
    CheckRefusal(s, {"supernode_id", "public_key", "signature"});
  } else {
    TROVE_FUZZ_CHECK(PeerIdFromPublicKey(r.public_key()) == r.supernode_id());
  }
}

// The target signs the registration with a fixed key: it proves the key
// as long as nothing signed changes.
void RegisterSigned(absl::string_view in, int key) {
  index::RegisterSupernodeRequest r;
  if (!ParseInput(in, &r)) return;
  const Identity& id = FixedIdentity(key);
  r.set_public_key(id.public_key());
  r.set_supernode_id(id.peer_id());
  r.set_signature(fuzz::SignOrDie(
      id, RegistrationPayload(r.nonce(), r.supernode_id(), r.address())));
  TROVE_FUZZ_CHECK(CheckRegistrationProof(r).ok());
  TROVE_FUZZ_CHECK(CheckRegistrationProof(RoundTrip(r)).ok());
  index::RegisterSupernodeRequest other = r;
  other.set_address(Tampered(r.address(), in.size()));
  CheckRefusal(CheckRegistrationProof(other), {"signature"});
  other = r;
  other.set_nonce(Tampered(r.nonce(), in.size()));
  CheckRefusal(CheckRegistrationProof(other), {"signature"});
  // Another key's id with this key's proof.
  other = r;
  other.set_supernode_id(FixedIdentity(1 - key).peer_id());
  CheckRefusal(CheckRegistrationProof(other), {"supernode_id"});
}

void Renew(absl::string_view in, int key) {
  index::RenewLeaseRequest r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidateRenewLease(r);
  if (!s.ok()) {
    CheckRefusal(s, {"supernode_id", "leaf_count"});
  } else {
    TROVE_FUZZ_CHECK(ValidateRenewLease(RoundTrip(r)).ok());
  }
  const absl::Time latest = absl::FromUnixSeconds(2000000000);
  int refused = 0;
  auto verified = VerifiedPresences(r, latest, &refused);
  TROVE_FUZZ_CHECK(static_cast<int>(verified.size()) + refused ==
                   r.presences_size());
  for (const auto& [peer, until] : verified) TROVE_FUZZ_CHECK(until <= latest);
  // The first presence's bytes, signed by a fixed key for this supernode:
  // it verifies; signed for another, or changed, it does not.
  if (r.presences_size() == 0) return;
  Presence p;
  if (!ParseInput(r.presences(0).presence(), &p)) return;
  p.set_supernode_id(r.supernode_id());
  absl::StatusOr<Signed> sp = SignPresence(FixedIdentity(key), p);
  TROVE_FUZZ_CHECK(sp.ok());
  index::RenewLeaseRequest one;
  one.set_supernode_id(r.supernode_id());
  one.add_presences()->set_presence(sp->bytes);
  one.mutable_presences(0)->set_signature(sp->signature);
  verified = VerifiedPresences(one, latest, nullptr);
  TROVE_FUZZ_CHECK(verified.size() == 1);
  TROVE_FUZZ_CHECK(verified[0].first == FixedIdentity(key).peer_id());
  TROVE_FUZZ_CHECK(verified[0].second <= latest);
  one.set_supernode_id(FixedIdentity(1 - key).peer_id());
  if (one.supernode_id() != r.supernode_id()) {
    TROVE_FUZZ_CHECK(VerifiedPresences(one, latest, nullptr).empty());
  }
  one.set_supernode_id(r.supernode_id());
  one.mutable_presences(0)->set_presence(Tampered(sp->bytes, in.size()));
  TROVE_FUZZ_CHECK(VerifiedPresences(one, latest, nullptr).empty());
}

void EndLease(absl::string_view in) {
  index::EndLeaseRequest r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidateEndLease(r);
  if (!s.ok()) {
    CheckRefusal(s, {"supernode_id", "generation"});
  } else {
    TROVE_FUZZ_CHECK(r.generation() >= 0);
    TROVE_FUZZ_CHECK(ValidateEndLease(RoundTrip(r)).ok());
  }
}

void PublishRaw(absl::string_view in, bool verify) {
  index::PublishDeltasRequest r;
  if (!ParseInput(in, &r)) return;
  const IndexServiceOptions options = Options(verify);
  index::PublishDeltasRequest verified;
  absl::StatusOr<const index::PublishDeltasRequest*> checked =
      CheckPublishDeltas(r, options, &verified);
  if (!checked.ok()) {
    CheckRefusal(checked.status());
    return;
  }
  const index::PublishDeltasRequest& batch = **checked;
  TROVE_FUZZ_CHECK(batch.deltas_size() <= options.max_deltas_per_batch);
  TROVE_FUZZ_CHECK(batch.supernode_id() == r.supernode_id());
  for (const index::PeerDelta& d : batch.deltas()) {
    CheckAcceptedDelta(d);
    // Verified changes carry a positive seq for the chain.
    if (verify) TROVE_FUZZ_CHECK(d.seq() > 0);
  }
  TROVE_FUZZ_CHECK(ValidatePublishDeltas(RoundTrip(batch), options).ok());
}

// A leaf change signed by a fixed key and sent in a batch by the
// supernode it names.
void PublishSigned(absl::string_view in, int key) {
  LeafChange change;
  if (!ParseInput(in, &change)) return;
  absl::StatusOr<Signed> sc = SignLeafChange(FixedIdentity(key), change);
  TROVE_FUZZ_CHECK(sc.ok());
  LeafChange signed_form;
  TROVE_FUZZ_CHECK(signed_form.ParseFromString(sc->bytes));
  index::PublishDeltasRequest r;
  r.set_supernode_id(change.supernode_id());
  index::PeerDelta* d = r.add_deltas();
  d->set_signed_change(sc->bytes);
  d->set_signature(sc->signature);
  const IndexServiceOptions options = Options(/*verify=*/true);
  index::PublishDeltasRequest verified;
  absl::StatusOr<const index::PublishDeltasRequest*> checked =
      CheckPublishDeltas(r, options, &verified);
  if (checked.ok()) {
    const index::PeerDelta& v = (*checked)->deltas(0);
    CheckAcceptedDelta(v);
    // The batch carries what the leaf signed, nothing else.
    TROVE_FUZZ_CHECK(v.peer_id() == FixedIdentity(key).peer_id());
    TROVE_FUZZ_CHECK(v.seq() == signed_form.seq() && v.seq() > 0);
    TROVE_FUZZ_CHECK(v.prev_seq() == signed_form.prev_seq());
    TROVE_FUZZ_CHECK(v.gone() == signed_form.gone());
    TROVE_FUZZ_CHECK(v.full() == signed_form.full());
    if (!v.gone()) {
      TROVE_FUZZ_CHECK(v.address() == signed_form.address());
      TROVE_FUZZ_CHECK(v.added_size() == signed_form.added_size());
      TROVE_FUZZ_CHECK(v.removed_size() == signed_form.removed_size());
    }
  } else {
    CheckRefusal(checked.status(), {"deltas[0]", "supernode_id"});
  }
  // Another supernode cannot forward it as its own.
  index::PublishDeltasRequest stolen = r;
  stolen.set_supernode_id(FixedIdentity(1 - key).peer_id());
  if (stolen.supernode_id() != change.supernode_id()) {
    checked = CheckPublishDeltas(stolen, options, &verified);
    TROVE_FUZZ_CHECK(!checked.ok());
    CheckRefusal(checked.status());
  }
  // Nor change a byte of it.
  index::PublishDeltasRequest altered = r;
  altered.mutable_deltas(0)->set_signed_change(
      Tampered(sc->bytes, in.size()));
  checked = CheckPublishDeltas(altered, options, &verified);
  TROVE_FUZZ_CHECK(!checked.ok());
  CheckRefusal(checked.status(), {"deltas[0]", "supernode_id"});
  // Nor drop the signature.
  altered = r;
  altered.mutable_deltas(0)->clear_signature();
  checked = CheckPublishDeltas(altered, options, &verified);
  TROVE_FUZZ_CHECK(!checked.ok());
}

void Search(absl::string_view in) {
  index::SearchRequest r;
  if (!ParseInput(in, &r)) return;
  const IndexServiceOptions options = Options(true);
  absl::StatusOr<search::ParsedQuery> parsed = ParseSearchRequest(r, options);
  // The cursor alone, as a client can send any.
  absl::StatusOr<search::HitKey> key = search::DecodeCursor(
      r.query().cursor(), r.query().sort(), r.query().reverse());
  if (key.ok()) {
    TROVE_FUZZ_CHECK(ValidateHexId(key->cid, "cid").ok());
    const std::string again =
        search::EncodeCursor(*key, r.query().sort(), r.query().reverse());
    absl::StatusOr<search::HitKey> back =
        search::DecodeCursor(again, r.query().sort(), r.query().reverse());
    TROVE_FUZZ_CHECK(back.ok());
    TROVE_FUZZ_CHECK(back->cid == key->cid && back->name == key->name &&
                     back->value == key->value && back->match == key->match);
  } else {
    CheckRefusal(key.status());
  }
  if (!parsed.ok()) {
    CheckRefusal(parsed.status());
    return;
  }
  TROVE_FUZZ_CHECK(parsed->limit >= 1 &&
                   parsed->limit <= options.search_max_limit);
  TROVE_FUZZ_CHECK(parsed->terms.size() <= search::kMaxQueryWords);
  for (const search::QueryTerm& t : parsed->terms) {
    TROVE_FUZZ_CHECK(!t.word.empty() && Clean(t.word));
  }
  if (parsed->after.has_value()) {
    TROVE_FUZZ_CHECK(key.ok());
    TROVE_FUZZ_CHECK(ValidateHexId(parsed->after->cid, "cid").ok());
  }
  absl::StatusOr<search::ParsedQuery> again =
      ParseSearchRequest(RoundTrip(r), options);
  TROVE_FUZZ_CHECK(again.ok() && again->limit == parsed->limit &&
                   again->terms.size() == parsed->terms.size());
}

void Locate(absl::string_view in) {
  index::LocateRequest r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidateLocate(r);
  if (!s.ok()) {
    CheckRefusal(s, {"cid", "limit"});
  } else {
    TROVE_FUZZ_CHECK(r.limit() >= 0);
    TROVE_FUZZ_CHECK(ValidateLocate(RoundTrip(r)).ok());
  }
  // The same bytes as a LocateMany (its cids share the field number).
  index::LocateManyRequest many;
  if (!ParseInput(in, &many)) return;
  constexpr int kMaxCids = 4;
  s = ValidateLocateMany(many, kMaxCids);
  if (!s.ok()) {
    CheckRefusal(s, {"cids", "limit", "LocateMany"});
  } else {
    TROVE_FUZZ_CHECK(many.limit() >= 0 && many.cids_size() <= kMaxCids);
    for (const std::string& cid : many.cids()) {
      TROVE_FUZZ_CHECK(ValidateHexId(cid, "cid").ok());
    }
    TROVE_FUZZ_CHECK(ValidateLocateMany(RoundTrip(many), kMaxCids).ok());
  }
}

void CheckAcceptedReport(const CapacityReport& report) {
  TROVE_FUZZ_CHECK(ValidateAddress(report.address()).ok());
  TROVE_FUZZ_CHECK(Clean(report.address()) &&
                   Clean(report.supernode_address()));
  TROVE_FUZZ_CHECK(report.peer_id() == PeerIdFromPublicKey(report.public_key()));
  TROVE_FUZZ_CHECK(report.capacity().upload_bytes_per_second() >= 0 &&
                   report.capacity().uptime_seconds() >= 0 &&
                   report.capacity().free_memory_bytes() >= 0);
}

void ReportRaw(absl::string_view in) {
  index::ReportPeerRequest r;
  if (!ParseInput(in, &r)) return;
  absl::StatusOr<CapacityReport> report = CheckPeerReport(r);
  if (report.ok()) {
    CheckAcceptedReport(*report);
  } else {
    CheckRefusal(report.status());
  }
}

void ReportSigned(absl::string_view in, int key) {
  CapacityReport report;
  if (!ParseInput(in, &report)) return;
  absl::StatusOr<Signed> sr = SignCapacityReport(FixedIdentity(key), report);
  TROVE_FUZZ_CHECK(sr.ok());
  index::ReportPeerRequest r;
  r.set_report(sr->bytes);
  r.set_signature(sr->signature);
  absl::StatusOr<CapacityReport> checked = CheckPeerReport(r);
  // Signed correctly, it stands or falls by its fields alone.
  const bool fields_ok =
      sr->bytes.size() <= 4096 && ValidateAddress(report.address()).ok() &&
      (report.supernode_id().empty() ||
       ValidateHexId(report.supernode_id(), "supernode_id").ok()) &&
      (report.supernode_address().empty() ||
       ValidateAddress(report.supernode_address()).ok()) &&
      report.capacity().upload_bytes_per_second() >= 0 &&
      report.capacity().uptime_seconds() >= 0 &&
      report.capacity().free_memory_bytes() >= 0;
  TROVE_FUZZ_CHECK(checked.ok() == fields_ok);
  if (checked.ok()) {
    CheckAcceptedReport(*checked);
    TROVE_FUZZ_CHECK(checked->peer_id() == FixedIdentity(key).peer_id());
  } else {
    CheckRefusal(checked.status());
  }
  r.set_report(Tampered(sr->bytes, in.size()));
  checked = CheckPeerReport(r);
  TROVE_FUZZ_CHECK(!checked.ok());
  CheckRefusal(checked.status());
}

// A run of one peer's signed changes as the index sees them: each group
// of three bytes is (kind, seq, prev_seq); kind 3 is the index
// withdrawing the peer's sources (its supernode's lease ended).
void Chain(absl::string_view in) {
  ChainState state;
  bool has_state = false;
  for (size_t i = 0; i + 3 <= in.size() && i < 3 * 64; i += 3) {
    const int kind = static_cast<uint8_t>(in[i]) % 4;
    if (kind == 3) {
      if (has_state) state.withdrawn = true;
      continue;
    }
    ChainLink link;
    link.seq = static_cast<int8_t>(in[i + 1]);
    link.prev_seq = static_cast<int8_t>(in[i + 2]);
    link.full = kind == 1;
    link.gone = kind == 2;
    const ChainState* before = has_state ? &state : nullptr;
    absl::Status s = CheckLink(before, link);
    if (!s.ok()) {
      CheckRefusal(s, {"seq", "full list", "withdrawn"});
      continue;
    }
    TROVE_FUZZ_CHECK(link.seq > 0);
    if (!link.full && !link.gone) {
      // A delta: only right after the change it names, on sources in place.
      TROVE_FUZZ_CHECK(before != nullptr && !before->withdrawn);
      TROVE_FUZZ_CHECK(link.prev_seq == before->last_seq &&
                       link.seq > before->last_seq);
    } else if (before != nullptr && link.seq <= before->last_seq) {
      // Not newer: only a full list restoring withdrawn sources, no older
      // than the last full list.
      TROVE_FUZZ_CHECK(link.full && before->withdrawn &&
                       link.seq >= before->full_floor);
    }
    state = Advance(before, link);
    has_state = true;
    TROVE_FUZZ_CHECK(state.last_seq == link.seq);
    // The same change again is a replay.
    TROVE_FUZZ_CHECK(!CheckLink(&state, link).ok());
  }
}

}  // namespace
}  // namespace index_server
}  // namespace trove

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trove::index_server;  // NOLINT
  uint8_t selector;
  absl::string_view in;
  if (!trove::fuzz::SplitInput(data, size, &selector, &in)) return 0;
  const int key = (selector / 12) & 1;
  switch (selector % 12) {
    case 0: RegisterRaw(in); break;
    case 1: RegisterSigned(in, key); break;
    case 2: Renew(in, key); break;
    case 3: EndLease(in); break;
    case 4: PublishRaw(in, /*verify=*/false); break;
    case 5: PublishRaw(in, /*verify=*/true); break;
    case 6: PublishSigned(in, key); break;
    case 7: Search(in); break;
    case 8: Locate(in); break;
    case 9: ReportRaw(in); break;
    case 10: ReportSigned(in, key); break;
    default: Chain(in); break;
  }
  return 0;
}
