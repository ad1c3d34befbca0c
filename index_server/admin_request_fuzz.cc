// Fuzz target: every AdminService request, run through what the service
// does with it before it asks its stores anything: the `authorization`
// value's parse (BearerToken), each request's field checks
// (admin_service.h), and the text the audit log keeps of a request
// (AuditText).
//
// The first byte picks the request; the rest is the request's bytes (or
// the authorization value, or the text to audit). Besides not crashing:
// - a refusal says why in clean text, naming the field;
// - an accepted request passes again after a serialise / parse round trip,
//   and its ids are hex and its reasons and labels clean and in bounds;
// - an accepted token has the form tokens are made in;
// - audited text is clean, well-formed UTF-8, whatever was cut off.
#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/fuzz_util.h"
#include "common/text.h"
#include "common/validation.h"
#include "index_server/admin_service.h"
#include "index_server/admin_token.h"
#include "protos/admin.pb.h"

namespace trove {
namespace index_server {
namespace {

using fuzz::CheckRefusal;
using fuzz::ParseInput;
using fuzz::RoundTrip;

AdminCore::Options Options() {
  AdminCore::Options o;
  o.max_reason_chars = 40;
  o.max_label_chars = 20;
  return o;
}

bool Clean(absl::string_view s) {
  return FindUnsafeText(s) == absl::string_view::npos;
}

int CodePoints(absl::string_view s) {
  int n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void CheckReason(const std::string& reason, bool required) {
  TROVE_FUZZ_CHECK(!required || !reason.empty());
  TROVE_FUZZ_CHECK(Clean(reason));
  TROVE_FUZZ_CHECK(CodePoints(reason) <= Options().max_reason_chars);
}

// Parses the request, checks it with `validate`, and on success checks
// `accepted` and the round trip.
template <typename Request, typename Validate, typename Accepted>
void Run(absl::string_view in, std::initializer_list<absl::string_view> fields,
         Validate validate, Accepted accepted) {
  Request r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = validate(r);
  if (!s.ok()) {
    CheckRefusal(s, fields);
    return;
  }
  accepted(r);
  TROVE_FUZZ_CHECK(validate(RoundTrip(r)).ok());
}

bool IsHexId(absl::string_view s) { return ValidateHexId(s, "id").ok(); }

void Bearer(absl::string_view in) {
  absl::StatusOr<std::string> token = BearerToken(in);
  if (!token.ok()) {
    TROVE_FUZZ_CHECK(token.status().code() ==
                     absl::StatusCode::kUnauthenticated);
    CheckRefusal(token.status(), {"token", "authorization"});
    return;
  }
  TROVE_FUZZ_CHECK(CheckAdminTokenForm(*token).ok());
  TROVE_FUZZ_CHECK(Clean(*token));
  TROVE_FUZZ_CHECK(token->find(' ') == std::string::npos);
  TROVE_FUZZ_CHECK(IsHexId(AdminTokenHash(*token)));
}

void Audited(absl::string_view in) {
  if (in.empty()) return;
  const size_t max = static_cast<uint8_t>(in[0]);
  const std::string text = AuditText(in.substr(1), max);
  TROVE_FUZZ_CHECK(Clean(text) && IsValidUtf8(text));
  TROVE_FUZZ_CHECK(text.find('\n') == std::string::npos);
  // Clean text under the cut is kept as it is.
  const absl::string_view kept = in.substr(1, max);
  if (Clean(kept) && kept.find('\\') == absl::string_view::npos) {
    TROVE_FUZZ_CHECK(text == kept);
  }
}

}  // namespace
}  // namespace index_server
}  // namespace trove

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trove::index_server;  // NOLINT
  using trove::admin::BanPeerRequest;
  // Requests that are not UTF-8 fail to parse (proto3 strings), which
  // protobuf would log on every run.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  uint8_t selector;
  absl::string_view in;
  if (!trove::fuzz::SplitInput(data, size, &selector, &in)) return 0;
  const AdminCore::Options o = Options();
  switch (selector % 12) {
    case 0:
      Run<trove::admin::ListPeersRequest>(
          in, {"id_prefix", "limit"}, ValidateListPeers, [](const auto& r) {
            TROVE_FUZZ_CHECK(r.id_prefix().size() <= 64 && r.limit() >= 0);
          });
      break;
    case 1:
      Run<trove::admin::EnrolSupernodeRequest>(
          in, {"public_key"}, ValidateEnrolSupernode, [](const auto& r) {
            TROVE_FUZZ_CHECK(IsHexId(r.public_key()));
          });
      break;
    case 2:
      Run<trove::admin::RevokeSupernodeRequest>(
          in, {"supernode_id", "reason"},
          [&](const auto& r) { return ValidateRevokeSupernode(r, o); },
          [](const auto& r) {
            TROVE_FUZZ_CHECK(IsHexId(r.supernode_id()));
            CheckReason(r.reason(), false);
          });
      break;
    case 3:
      Run<BanPeerRequest>(
          in, {"peer_id", "reason"},
          [&](const auto& r) { return ValidateBanPeer(r, o); },
          [](const auto& r) {
            TROVE_FUZZ_CHECK(IsHexId(r.peer_id()));
            CheckReason(r.reason(), true);
          });
      break;
    case 4:
      Run<trove::admin::UnbanPeerRequest>(
          in, {"peer_id", "reason"},
          [&](const auto& r) { return ValidateUnbanPeer(r, o); },
          [](const auto& r) {
            TROVE_FUZZ_CHECK(IsHexId(r.peer_id()));
            CheckReason(r.reason(), false);
          });
      break;
    case 5:
      Run<trove::admin::TakeDownRequest>(
          in, {"cid", "reason"},
          [&](const auto& r) { return ValidateTakeDown(r, o); },
          [](const auto& r) {
            TROVE_FUZZ_CHECK(IsHexId(r.cid()));
            CheckReason(r.reason(), true);
          });
      break;
    case 6:
      Run<trove::admin::RestoreRequest>(
          in, {"cid", "reason"},
          [&](const auto& r) { return ValidateRestore(r, o); },
          [](const auto& r) {
            TROVE_FUZZ_CHECK(IsHexId(r.cid()));
            CheckReason(r.reason(), false);
          });
      break;
    case 7:
      Run<trove::admin::ReadAuditRequest>(
          in, {"before_id", "limit"}, ValidateReadAudit, [](const auto& r) {
            TROVE_FUZZ_CHECK(r.before_id() >= 0 && r.limit() >= 0);
          });
      break;
    case 8:
      Run<trove::admin::CreateTokenRequest>(
          in, {"role", "label"},
          [&](const auto& r) { return ValidateCreateToken(r, o); },
          [&](const auto& r) {
            TROVE_FUZZ_CHECK(ParseAdminRole(r.role()).ok());
            TROVE_FUZZ_CHECK(Clean(r.label()) &&
                             CodePoints(r.label()) <= o.max_label_chars);
          });
      break;
    case 9:
      Run<trove::admin::RevokeTokenRequest>(
          in, {"token_id"}, ValidateRevokeToken, [](const auto& r) {
            TROVE_FUZZ_CHECK(!r.token_id().empty() &&
                             r.token_id().size() <= 64 &&
                             Clean(r.token_id()));
          });
      break;
    case 10:
      Bearer(in);
      break;
    default:
      Audited(in);
      break;
  }
  return 0;
}
