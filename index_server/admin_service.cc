#include "index_server/admin_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/text.h"
#include "common/validation.h"

namespace trove {
namespace index_server {
namespace {

// A reason or label: clean text of at most `max` characters (code points);
// empty allowed unless `required`.
absl::Status CheckNote(const std::string& text, const char* what, int max,
                       bool required) {
  if (text.empty()) {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(what, " is required"));
  }
  absl::Status s = ValidateText(text, what);
  if (!s.ok()) return s;
  int chars = 0;
  for (unsigned char c : text) chars += (c & 0xC0) != 0x80;
  if (chars > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " has ", chars, " characters; the limit is ", max));
  }
  return absl::OkStatus();
}

// What the audit log says of a call's end.
std::string ResultText(const absl::Status& s) {
  if (s.ok()) return "ok";
  return absl::StrCat(absl::StatusCodeToString(s.code()), ": ", s.message());
}

std::string AuthorizationOf(const grpc::ServerContext* context) {
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

absl::StatusOr<NewAdminToken> CreateAdminToken(AdminStore* store,
                                               const std::string& role,
                                               const std::string& label,
                                               const std::string& created_by) {
  absl::StatusOr<AdminRole> parsed = ParseAdminRole(role);
  if (!parsed.ok()) return parsed.status();
  absl::Status s = CheckNote(label, "label", 200, false);
  if (!s.ok()) return s;
  absl::StatusOr<NewAdminToken> token = MakeAdminToken();
  if (!token.ok()) return token.status();
  s = store->AddAdminToken(token->token_id, token->hash,
                           AdminRoleName(*parsed), label, created_by);
  if (!s.ok()) return s;
  return token;
}

// ---------------------------------------------------------------------------
// Request checks

absl::Status ValidateListPeers(const admin::ListPeersRequest& r) {
  if (r.id_prefix().size() > 64 ||
      !std::all_of(r.id_prefix().begin(), r.id_prefix().end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return absl::InvalidArgumentError(
        "id_prefix must be at most 64 lowercase hex digits");
  }
  if (r.limit() < 0) return absl::InvalidArgumentError("limit is negative");
  return absl::OkStatus();
}

absl::Status ValidateEnrolSupernode(const admin::EnrolSupernodeRequest& r) {
  return ValidateHexId(r.public_key(), "public_key");
}

absl::Status ValidateRevokeSupernode(const admin::RevokeSupernodeRequest& r,
                                     const AdminCore::Options& options) {
  absl::Status valid = ValidateHexId(r.supernode_id(), "supernode_id");
  if (valid.ok()) {
    valid = CheckNote(r.reason(), "reason", options.max_reason_chars, false);
  }
  return valid;
}

absl::Status ValidateBanPeer(const admin::BanPeerRequest& r,
                             const AdminCore::Options& options) {
  absl::Status valid = ValidateHexId(r.peer_id(), "peer_id");
  if (valid.ok()) {
    valid = CheckNote(r.reason(), "reason", options.max_reason_chars, true);
  }
  return valid;
}

absl::Status ValidateUnbanPeer(const admin::UnbanPeerRequest& r,
                               const AdminCore::Options& options) {
  absl::Status valid = ValidateHexId(r.peer_id(), "peer_id");
  if (valid.ok()) {
    valid = CheckNote(r.reason(), "reason", options.max_reason_chars, false);
  }
  return valid;
}

absl::Status ValidateTakeDown(const admin::TakeDownRequest& r,
                              const AdminCore::Options& options) {
  absl::Status valid = ValidateHexId(r.cid(), "cid");
  if (valid.ok()) {
    valid = CheckNote(r.reason(), "reason", options.max_reason_chars, true);
  }
  return valid;
}

absl::Status ValidateRestore(const admin::RestoreRequest& r,
                             const AdminCore::Options& options) {
  absl::Status valid = ValidateHexId(r.cid(), "cid");
  if (valid.ok()) {
    valid = CheckNote(r.reason(), "reason", options.max_reason_chars, false);
  }
  return valid;
}

absl::Status ValidateReadAudit(const admin::ReadAuditRequest& r) {
  if (r.before_id() < 0 || r.limit() < 0) {
    return absl::InvalidArgumentError(
        "before_id and limit must not be negative");
  }
  return absl::OkStatus();
}

absl::Status ValidateCreateToken(const admin::CreateTokenRequest& r,
                                 const AdminCore::Options& options) {
  absl::Status valid = ParseAdminRole(r.role()).status();
  if (valid.ok()) {
    valid = CheckNote(r.label(), "label", options.max_label_chars, false);
  }
  return valid;
}

absl::Status ValidateRevokeToken(const admin::RevokeTokenRequest& r) {
  if (r.token_id().empty() || r.token_id().size() > 64 ||
      !ValidateText(r.token_id(), "token_id").ok()) {
    return absl::InvalidArgumentError(
        "token_id must be a token's id (16 hex digits, as token-create gave "
        "it)");
  }
  return absl::OkStatus();
}

std::string AuditText(absl::string_view text, size_t max_bytes) {
  return EscapeText(text.substr(0, max_bytes));
}

// ---------------------------------------------------------------------------
// ModerationLists

ModerationLists::ModerationLists(AdminStore* store, absl::Duration refresh)
    : store_(store), refresh_(refresh) {}

void ModerationLists::Invalidate() {
  absl::MutexLock lock(&mu_);
  read_at_ = absl::InfinitePast();
}

void ModerationLists::Fill(index::LeaseResponse* lease) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (now - read_at_ >= refresh_) {
    absl::StatusOr<std::vector<admin::Ban>> bans = store_->ListBans();
    absl::StatusOr<std::vector<admin::Takedown>> takedowns =
        store_->ListTakedowns();
    if (bans.ok() && takedowns.ok()) {
      banned_.clear();
      for (const admin::Ban& b : *bans) banned_.push_back(b.peer_id());
      taken_down_.clear();
      for (const admin::Takedown& t : *takedowns) {
        taken_down_.push_back(t.cid());
      }
      read_at_ = now;
    } else {
      TROVE_LOG(WARNING) << "cannot read the bans and takedowns for leases: "
                         << (bans.ok() ? takedowns.status() : bans.status());
    }
  }
  for (const std::string& p : banned_) lease->add_banned_peers(p);
  for (const std::string& c : taken_down_) lease->add_taken_down(c);
}

// ---------------------------------------------------------------------------
// AdminCore

AdminCore::AdminCore(AdminStore* store, TrustStore* trust,
                     ModerationLists* lists, Options options)
    : store_(store), trust_(trust), lists_(lists), options_(options) {}

bool AdminCore::MayAuditUnknown() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (now - minute_start_ >= absl::Minutes(1)) {
    if (unknown_skipped_ > 0) {
      TROVE_LOG(WARNING) << unknown_skipped_
                         << " more admin calls with unrecognised tokens were "
                            "refused in the last minute (not audited)";
    }
    minute_start_ = now;
    unknown_audited_ = 0;
    unknown_skipped_ = 0;
  }
  if (unknown_audited_ < options_.unknown_token_audits_per_minute) {
    ++unknown_audited_;
    return true;
  }
  ++unknown_skipped_;
  return false;
}

void AdminCore::Audit(const AdminCaller* caller, const Action& action,
                      const absl::Status& result) {
  AuditRecord r;
  if (caller != nullptr) {
    r.token_id = caller->token_id;
    r.role = AdminRoleName(caller->role);
  }
  r.action = action.name;
  // As the audit log keeps them: bounded, and safe to print on one line.
  r.target = AuditText(action.target, 200);
  r.reason = AuditText(action.reason, 2000);
  r.result = ResultText(result);
  absl::Status s = store_->WriteAudit(r);
  if (!s.ok()) {
    TROVE_LOG(ERROR) << "cannot write the audit log (" << s << "): "
                     << r.action << " " << r.target << " by token "
                     << r.token_id << ": " << r.result;
  }
}

absl::StatusOr<AdminCaller> AdminCore::Authorize(
    const std::string& authorization, AdminRole needed,
    const std::string& action, const std::string& target) {
  Action a{action.c_str(), needed, false, target, ""};
  if (!options_.tls) {
    return absl::FailedPreconditionError(
        "the admin service runs only over TLS, and this index runs with "
        "--insecure");
  }
  absl::StatusOr<std::string> token = BearerToken(authorization);
  if (!token.ok()) {
    if (MayAuditUnknown()) Audit(nullptr, a, token.status());
    return token.status();
  }
  absl::StatusOr<AdminTokenRecord> record =
      store_->FindAdminToken(AdminTokenHash(*token));
  if (record.status().code() == absl::StatusCode::kNotFound) {
    absl::Status s = absl::UnauthenticatedError(
        "unknown admin token (it was never made here, or its database was "
        "replaced)");
    if (MayAuditUnknown()) Audit(nullptr, a, s);
    return s;
  }
  if (!record.ok()) return record.status();
  absl::StatusOr<AdminRole> role = ParseAdminRole(record->role);
  if (!role.ok()) return absl::InternalError(role.status().message());
  AdminCaller caller{record->token_id, *role};
  if (record->revoked) {
    absl::Status s = absl::UnauthenticatedError(absl::StrCat(
        "admin token ", record->token_id, " was revoked at ",
        absl::FormatTime(record->revoked_at, absl::UTCTimeZone())));
    Audit(&caller, a, s);
    return s;
  }
  if (!RoleAllows(*role, needed)) {
    absl::Status s = absl::PermissionDeniedError(absl::StrCat(
        "'", action, "' needs role ", AdminRoleName(needed),
        " or higher; admin token ", record->token_id, " has role ",
        record->role));
    Audit(&caller, a, s);
    return s;
  }
  return caller;
}

template <typename Response>
absl::StatusOr<Response> AdminCore::Run(
    const std::string& authorization, const Action& action,
    const absl::Status& valid,
    const std::function<absl::StatusOr<Response>(const AdminCaller&)>& fn) {
  absl::StatusOr<AdminCaller> caller =
      Authorize(authorization, action.needed, action.name, action.target);
  if (!caller.ok()) return caller.status();
  if (!valid.ok()) {
    Audit(&*caller, action, valid);
    return valid;
  }
  absl::StatusOr<Response> result = fn(*caller);
  if (action.changes || !result.ok()) {
    Audit(&*caller, action, result.status());
  }
  if (action.changes && result.ok()) {
    TROVE_LOG(INFO) << "admin " << action.name << " " << action.target
                    << " by token " << caller->token_id;
  }
  return result;
}

absl::StatusOr<admin::ListSupernodesResponse> AdminCore::ListSupernodes(
    const std::string& authorization, const admin::ListSupernodesRequest&) {
  return Run<admin::ListSupernodesResponse>(
      authorization, {"supernodes", AdminRole::kViewer, false, "", ""},
      absl::OkStatus(),
      [&](const AdminCaller&) -> absl::StatusOr<admin::ListSupernodesResponse> {
        absl::StatusOr<std::vector<admin::SupernodeStatus>> list =
            store_->ListSupernodeStatus();
        if (!list.ok()) return list.status();
        admin::ListSupernodesResponse out;
        for (auto& s : *list) *out.add_supernodes() = std::move(s);
        return out;
      });
}

absl::StatusOr<admin::ListPeersResponse> AdminCore::ListPeers(
    const std::string& authorization, const admin::ListPeersRequest& r) {
  absl::Status valid = ValidateListPeers(r);
  return Run<admin::ListPeersResponse>(
      authorization, {"peers", AdminRole::kViewer, false, r.id_prefix(), ""},
      valid, [&](const AdminCaller&) -> absl::StatusOr<admin::ListPeersResponse> {
        const int limit = r.limit() == 0 ? 100 : std::min(r.limit(), 1000);
        absl::StatusOr<std::vector<admin::PeerStatus>> list =
            store_->ListPeerStatus(r.id_prefix(), limit);
        if (!list.ok()) return list.status();
        admin::ListPeersResponse out;
        for (auto& p : *list) *out.add_peers() = std::move(p);
        return out;
      });
}

absl::StatusOr<admin::StatsResponse> AdminCore::Stats(
    const std::string& authorization, const admin::StatsRequest&) {
  return Run<admin::StatsResponse>(
      authorization, {"stats", AdminRole::kViewer, false, "", ""},
      absl::OkStatus(),
      [&](const AdminCaller&) { return store_->AdminStats(); });
}

absl::StatusOr<admin::EnrolSupernodeResponse> AdminCore::EnrolSupernode(
    const std::string& authorization, const admin::EnrolSupernodeRequest& r) {
  absl::Status valid = ValidateEnrolSupernode(r);
  return Run<admin::EnrolSupernodeResponse>(
      authorization, {"enrol", AdminRole::kAdmin, true, r.public_key(), ""},
      valid,
      [&](const AdminCaller& caller)
          -> absl::StatusOr<admin::EnrolSupernodeResponse> {
        absl::StatusOr<std::string> id = trust_->EnrolSupernodeKey(
            absl::HexStringToBytes(r.public_key()), "enrolled", true,
            absl::StrCat("admin token ", caller.token_id));
        if (!id.ok()) return id.status();
        admin::EnrolSupernodeResponse out;
        out.set_supernode_id(*id);
        return out;
      });
}

absl::StatusOr<admin::RevokeSupernodeResponse> AdminCore::RevokeSupernode(
    const std::string& authorization, const admin::RevokeSupernodeRequest& r) {
  absl::Status valid = ValidateRevokeSupernode(r, options_);
  return Run<admin::RevokeSupernodeResponse>(
      authorization,
      {"revoke", AdminRole::kAdmin, true, r.supernode_id(), r.reason()}, valid,
      [&](const AdminCaller& caller)
          -> absl::StatusOr<admin::RevokeSupernodeResponse> {
        absl::Status s = trust_->RevokeSupernodeKey(
            r.supernode_id(), absl::StrCat("admin token ", caller.token_id));
        if (!s.ok()) return s;
        return admin::RevokeSupernodeResponse();
      });
}

absl::StatusOr<admin::BanPeerResponse> AdminCore::BanPeer(
    const std::string& authorization, const admin::BanPeerRequest& r) {
  absl::Status valid = ValidateBanPeer(r, options_);
  return Run<admin::BanPeerResponse>(
      authorization, {"ban", AdminRole::kModerator, true, r.peer_id(), r.reason()},
      valid,
      [&](const AdminCaller& caller) -> absl::StatusOr<admin::BanPeerResponse> {
        absl::StatusOr<int64_t> removed =
            store_->BanPeer(r.peer_id(), r.reason(), caller.token_id);
        if (!removed.ok()) return removed.status();
        if (lists_ != nullptr) lists_->Invalidate();
        admin::BanPeerResponse out;
        out.set_sources_removed(*removed);
        return out;
      });
}

absl::StatusOr<admin::UnbanPeerResponse> AdminCore::UnbanPeer(
    const std::string& authorization, const admin::UnbanPeerRequest& r) {
  absl::Status valid = ValidateUnbanPeer(r, options_);
  return Run<admin::UnbanPeerResponse>(
      authorization,
      {"unban", AdminRole::kModerator, true, r.peer_id(), r.reason()}, valid,
      [&](const AdminCaller&) -> absl::StatusOr<admin::UnbanPeerResponse> {
        absl::Status s = store_->UnbanPeer(r.peer_id());
        if (!s.ok()) return s;
        if (lists_ != nullptr) lists_->Invalidate();
        return admin::UnbanPeerResponse();
      });
}

absl::StatusOr<admin::TakeDownResponse> AdminCore::TakeDown(
    const std::string& authorization, const admin::TakeDownRequest& r) {
  absl::Status valid = ValidateTakeDown(r, options_);
  return Run<admin::TakeDownResponse>(
      authorization,
      {"takedown", AdminRole::kModerator, true, r.cid(), r.reason()}, valid,
      [&](const AdminCaller& caller) -> absl::StatusOr<admin::TakeDownResponse> {
        absl::StatusOr<int64_t> removed =
            store_->TakeDown(r.cid(), r.reason(), caller.token_id);
        if (!removed.ok()) return removed.status();
        if (lists_ != nullptr) lists_->Invalidate();
        admin::TakeDownResponse out;
        out.set_sources_removed(*removed);
        return out;
      });
}

absl::StatusOr<admin::RestoreResponse> AdminCore::Restore(
    const std::string& authorization, const admin::RestoreRequest& r) {
  absl::Status valid = ValidateRestore(r, options_);
  return Run<admin::RestoreResponse>(
      authorization,
      {"restore", AdminRole::kModerator, true, r.cid(), r.reason()}, valid,
      [&](const AdminCaller&) -> absl::StatusOr<admin::RestoreResponse> {
        absl::Status s = store_->Restore(r.cid());
        if (!s.ok()) return s;
        if (lists_ != nullptr) lists_->Invalidate();
        return admin::RestoreResponse();
      });
}

absl::StatusOr<admin::ListBansResponse> AdminCore::ListBans(
    const std::string& authorization, const admin::ListBansRequest&) {
  return Run<admin::ListBansResponse>(
      authorization, {"bans", AdminRole::kViewer, false, "", ""},
      absl::OkStatus(),
      [&](const AdminCaller&) -> absl::StatusOr<admin::ListBansResponse> {
        absl::StatusOr<std::vector<admin::Ban>> list = store_->ListBans();
        if (!list.ok()) return list.status();
        admin::ListBansResponse out;
        for (auto& b : *list) *out.add_bans() = std::move(b);
        return out;
      });
}

absl::StatusOr<admin::ListTakedownsResponse> AdminCore::ListTakedowns(
    const std::string& authorization, const admin::ListTakedownsRequest&) {
  return Run<admin::ListTakedownsResponse>(
      authorization, {"takedowns", AdminRole::kViewer, false, "", ""},
      absl::OkStatus(),
      [&](const AdminCaller&) -> absl::StatusOr<admin::ListTakedownsResponse> {
        absl::StatusOr<std::vector<admin::Takedown>> list =
            store_->ListTakedowns();
        if (!list.ok()) return list.status();
        admin::ListTakedownsResponse out;
        for (auto& t : *list) *out.add_takedowns() = std::move(t);
        return out;
      });
}

absl::StatusOr<admin::ReadAuditResponse> AdminCore::ReadAudit(
    const std::string& authorization, const admin::ReadAuditRequest& r) {
  absl::Status valid = ValidateReadAudit(r);
  return Run<admin::ReadAuditResponse>(
      authorization, {"audit", AdminRole::kViewer, false, "", ""}, valid,
      [&](const AdminCaller&) -> absl::StatusOr<admin::ReadAuditResponse> {
        const int limit = r.limit() == 0 ? 50 : std::min(r.limit(), 500);
        absl::StatusOr<std::vector<admin::AuditEntry>> rows =
            store_->ReadAudit(r.before_id(), limit + 1);
        if (!rows.ok()) return rows.status();
        admin::ReadAuditResponse out;
        const bool more = static_cast<int>(rows->size()) > limit;
        if (more) rows->resize(limit);
        for (auto& e : *rows) *out.add_entries() = std::move(e);
        if (more && !rows->empty()) out.set_next_before_id(rows->back().id());
        return out;
      });
}

absl::StatusOr<admin::CreateTokenResponse> AdminCore::CreateToken(
    const std::string& authorization, const admin::CreateTokenRequest& r) {
  absl::Status valid = ValidateCreateToken(r, options_);
  Action action{"token-create", AdminRole::kAdmin, true, r.role(), r.label()};
  // The new token's id is known only once it is made: audit by hand.
  absl::StatusOr<AdminCaller> caller =
      Authorize(authorization, action.needed, action.name, action.target);
  if (!caller.ok()) return caller.status();
  if (!valid.ok()) {
    Audit(&*caller, action, valid);
    return valid;
  }
  absl::StatusOr<NewAdminToken> token =
      CreateAdminToken(store_, r.role(), r.label(),
                       absl::StrCat("admin token ", caller->token_id));
  if (token.ok()) action.target = absl::StrCat(token->token_id, " (", r.role(), ")");
  Audit(&*caller, action, token.status());
  if (!token.ok()) return token.status();
  admin::CreateTokenResponse out;
  out.set_token(token->token);
  out.set_token_id(token->token_id);
  out.set_role(r.role());
  return out;
}

absl::StatusOr<admin::RevokeTokenResponse> AdminCore::RevokeToken(
    const std::string& authorization, const admin::RevokeTokenRequest& r) {
  absl::Status valid = ValidateRevokeToken(r);
  return Run<admin::RevokeTokenResponse>(
      authorization, {"token-revoke", AdminRole::kAdmin, true, r.token_id(), ""},
      valid, [&](const AdminCaller&) -> absl::StatusOr<admin::RevokeTokenResponse> {
        absl::Status s = store_->RevokeAdminToken(r.token_id());
        if (!s.ok()) return s;
        return admin::RevokeTokenResponse();
      });
}

absl::StatusOr<admin::ListTokensResponse> AdminCore::ListTokens(
    const std::string& authorization, const admin::ListTokensRequest&) {
  return Run<admin::ListTokensResponse>(
      authorization, {"tokens", AdminRole::kAdmin, false, "", ""},
      absl::OkStatus(),
      [&](const AdminCaller&) -> absl::StatusOr<admin::ListTokensResponse> {
        absl::StatusOr<std::vector<AdminTokenRecord>> list =
            store_->ListAdminTokens();
        if (!list.ok()) return list.status();
        admin::ListTokensResponse out;
        for (const AdminTokenRecord& t : *list) {
          admin::TokenInfo* info = out.add_tokens();
          info->set_token_id(t.token_id);
          info->set_role(t.role);
          info->set_label(t.label);
          info->set_created_ms(absl::ToUnixMillis(t.created_at));
          if (t.revoked) info->set_revoked_ms(absl::ToUnixMillis(t.revoked_at));
        }
        return out;
      });
}

// ---------------------------------------------------------------------------
// AdminServiceImpl

#define TROVE_ADMIN_RPC(Name)                                               \
  grpc::Status AdminServiceImpl::Name(grpc::ServerContext* context,         \
                                      const admin::Name##Request* request,  \
                                      admin::Name##Response* response) {    \
    auto result = core_->Name(AuthorizationOf(context), *request);          \
    if (!result.ok()) return ToGrpcStatus(result.status());                 \
    *response = *std::move(result);                                         \
    return grpc::Status::OK;                                                \
  }

TROVE_ADMIN_RPC(ListSupernodes)
TROVE_ADMIN_RPC(ListPeers)
TROVE_ADMIN_RPC(Stats)
TROVE_ADMIN_RPC(EnrolSupernode)
TROVE_ADMIN_RPC(RevokeSupernode)
TROVE_ADMIN_RPC(BanPeer)
TROVE_ADMIN_RPC(UnbanPeer)
TROVE_ADMIN_RPC(TakeDown)
TROVE_ADMIN_RPC(Restore)
TROVE_ADMIN_RPC(ListBans)
TROVE_ADMIN_RPC(ListTakedowns)
TROVE_ADMIN_RPC(ReadAudit)
TROVE_ADMIN_RPC(CreateToken)
TROVE_ADMIN_RPC(RevokeToken)
TROVE_ADMIN_RPC(ListTokens)

#undef TROVE_ADMIN_RPC

}  // namespace index_server
}  // namespace trove
