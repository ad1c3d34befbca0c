#include "supernode/supernode.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/identity.h"
#include "common/join_work.h"
#include "common/log.h"
#include "common/server_util.h"
#include "common/status_macros.h"
#include "common/validation.h"

namespace trove {
namespace supernode {
namespace {

constexpr char kKeyFile[] = "supernode_key.pem";

absl::Status Positive(absl::Duration d, absl::string_view name) {
  if (d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be positive"));
  }
  return absl::OkStatus();
}

absl::Status AtLeastOne(int64_t v, absl::string_view name) {
  if (v < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be at least 1, got ", v));
  }
  return absl::OkStatus();
}

// The supernode's key (null when options.supernode_id names it instead).
absl::StatusOr<std::unique_ptr<Identity>> SupernodeKeyFor(
    const SupernodeOptions& options) {
  if (!options.supernode_id.empty()) return std::unique_ptr<Identity>();
  if (!options.key_file.empty()) return Identity::LoadOrCreate(options.key_file);
  std::unique_ptr<Identity> identity;
  if (options.state_dir.empty()) {
    ASSIGN_OR_RETURN(identity, Identity::Generate());
  } else {
    RETURN_IF_ERROR(MakeDirs(options.state_dir, 0700));
    ASSIGN_OR_RETURN(identity, Identity::LoadOrCreate(absl::StrCat(
                                   options.state_dir, "/", kKeyFile)));
  }
  return identity;
}

}  // namespace

absl::Status SetLeafLimits(const LeafLimitFlags& flags,
                           absl::string_view prefix,
                           SupernodeOptions* options) {
  if (flags.cut_off_after < 0 || flags.cut_off_seconds < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", prefix, "cut_off_after must be 0 or more and --", prefix,
        "cut_off_seconds at least 1"));
  }
  struct Limit {
    const std::string& text;
    const char* name;
    RateLimitOptions* out;
  };
  for (const Limit& l :
       {Limit{flags.search, "leaf_search_rate", &options->leaf_search_rate},
        Limit{flags.locate, "leaf_locate_rate", &options->leaf_locate_rate},
        Limit{flags.publish, "leaf_publish_rate", &options->leaf_publish_rate},
        Limit{flags.join, "leaf_join_rate", &options->leaf_join_rate}}) {
    if (!l.text.empty()) {
      ASSIGN_OR_RETURN(*l.out,
                       ParseRateLimit(l.text, absl::StrCat(prefix, l.name)));
    }
    l.out->cut_off_after = flags.cut_off_after;
    l.out->cut_off_for = absl::Seconds(flags.cut_off_seconds);
  }
  return absl::OkStatus();
}

absl::Status ValidateSupernodeOptions(const SupernodeOptions& o) {
  if (!o.supernode_id.empty()) {
    RETURN_IF_ERROR(ValidateHexId(o.supernode_id, "supernode_id"));
  }
  if (!o.advertise_address.empty()) {
    absl::Status s = ValidateAddress(o.advertise_address);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("advertise address: ", s.message()));
    }
  }
  RETURN_IF_ERROR(Positive(o.session_timeout, "session_timeout"));
  RETURN_IF_ERROR(Positive(o.heartbeat_interval, "heartbeat_interval"));
  if (o.heartbeat_interval >= o.session_timeout) {
    return absl::InvalidArgumentError(
        "heartbeat_interval must be shorter than session_timeout");
  }
  RETURN_IF_ERROR(Positive(o.challenge_ttl, "challenge_ttl"));
  RETURN_IF_ERROR(Positive(o.index_search_timeout, "index_search_timeout"));
  RETURN_IF_ERROR(Positive(o.batch_max_delay, "batch_max_delay"));
  RETURN_IF_ERROR(Positive(o.full_list_max_delay, "full_list_max_delay"));
  RETURN_IF_ERROR(Positive(o.retry_initial, "retry_initial"));
  RETURN_IF_ERROR(Positive(o.retry_max, "retry_max"));
  RETURN_IF_ERROR(Positive(o.index_rpc_timeout, "index_rpc_timeout"));
  if (o.renew_interval < absl::ZeroDuration() ||
      o.sweep_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "renew_interval and sweep_interval must not be negative");
  }
  RETURN_IF_ERROR(AtLeastOne(o.max_pending_challenges,
                             "max_pending_challenges"));
  RETURN_IF_ERROR(AtLeastOne(o.max_challenges_per_address,
                             "max_challenges_per_address"));
  if (o.join_work_bits < 0 || o.join_work_bits > kMaxJoinWorkBits) {
    return absl::InvalidArgumentError(absl::StrCat(
        "join_work_bits must be 0 to ", kMaxJoinWorkBits, ", got ",
        o.join_work_bits));
  }
  RETURN_IF_ERROR(AtLeastOne(o.max_leaves, "max_leaves"));
  RETURN_IF_ERROR(AtLeastOne(o.max_files_per_leaf, "max_files_per_leaf"));
  RETURN_IF_ERROR(AtLeastOne(o.max_files_per_publish, "max_files_per_publish"));
  RETURN_IF_ERROR(AtLeastOne(o.max_name_bytes_per_leaf, "max_name_bytes_per_leaf"));
  RETURN_IF_ERROR(AtLeastOne(o.max_files, "max_files"));
  RETURN_IF_ERROR(AtLeastOne(o.max_name_bytes, "max_name_bytes"));
  RETURN_IF_ERROR(AtLeastOne(o.search_default_limit, "search_default_limit"));
  RETURN_IF_ERROR(AtLeastOne(o.search_max_limit, "search_max_limit"));
  RETURN_IF_ERROR(AtLeastOne(o.batch_max_entries, "batch_max_entries"));
  RETURN_IF_ERROR(AtLeastOne(o.max_pending_entries, "max_pending_entries"));
  RETURN_IF_ERROR(AtLeastOne(o.max_deltas_per_batch, "max_deltas_per_batch"));
  RETURN_IF_ERROR(AtLeastOne(o.max_files_per_delta, "max_files_per_delta"));
  RETURN_IF_ERROR(AtLeastOne(o.search_workers, "search_workers"));
  RETURN_IF_ERROR(AtLeastOne(o.fan_out_max_targets, "fan_out_max_targets"));
  if (o.fan_out_hops < 0 || o.fan_out_hops > 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fan_out_hops must be 0 to 8, got ", o.fan_out_hops));
  }
  RETURN_IF_ERROR(Positive(o.reports.window, "report_window"));
  RETURN_IF_ERROR(AtLeastOne(o.reports.max_reports_per_window,
                             "max_reports_per_window"));
  RETURN_IF_ERROR(AtLeastOne(o.reports.max_entries, "max_source_reports"));
  if (o.reports.full_weight_after < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "report_full_weight_after must not be negative");
  }
  if (!(o.reports.min_weight >= 0 && o.reports.min_weight <= 1)) {
    return absl::InvalidArgumentError("report_min_weight must be 0 to 1");
  }
  if (!(o.reports.demote_score > 0 &&
        o.reports.exclude_score >= o.reports.demote_score)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad-source scores: report_rank_last_score must be above 0 and "
        "report_leave_out_score at least as high, got ",
        o.reports.demote_score, " and ", o.reports.exclude_score));
  }
  if (o.locate_limit < 0) {
    return absl::InvalidArgumentError("locate_limit must not be negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Supernode>> Supernode::Create(
    SupernodeOptions options, std::unique_ptr<IndexClient> index,
    Clock* clock) {
  RETURN_IF_ERROR(ValidateSupernodeOptions(options));
  if (index == nullptr) {
    if (options.index_address.empty()) {
      return absl::InvalidArgumentError("the index address is required");
    }
    absl::Status s = ValidateAddress(options.index_address);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("index address: ", s.message()));
    }
  }
  if (options.tls == nullptr) options.tls = DefaultTls();
  if (index == nullptr) {
    index = NewGrpcIndexClient(MakeChannel(
        options.index_address, Expected::Index(), options.tls.get()));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Identity> key, SupernodeKeyFor(options));
  std::string id = key != nullptr ? key->peer_id() : options.supernode_id;
  if (!options.tls->insecure() && options.tls->own().id != id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the TLS certificate is for key ", options.tls->own().id.substr(0, 16),
        "..., not for this supernode's key (", id.substr(0, 16), "...)"));
  }
  return std::unique_ptr<Supernode>(
      new Supernode(std::move(options), std::move(id), std::move(key),
                    std::move(index),
                    clock != nullptr ? clock : Clock::Real()));
}

Supernode::Supernode(SupernodeOptions options, std::string supernode_id,
                     std::unique_ptr<Identity> key,
                     std::unique_ptr<IndexClient> index, Clock* clock)
    : options_(std::move(options)),
      supernode_id_(std::move(supernode_id)),
      key_(std::move(key)),
      clock_(clock),
      index_(std::move(index)) {
  IndexForwarder::Options fo;
  fo.supernode_id = supernode_id_;
  fo.identity = key_.get();
  fo.address = options_.advertise_address;
  fo.capacity = options_.capacity;
  fo.capacity.set_reachable(true);
  fo.batch_max_entries = options_.batch_max_entries;
  fo.batch_max_delay = options_.batch_max_delay;
  fo.full_list_max_delay = options_.full_list_max_delay;
  fo.max_pending_entries = options_.max_pending_entries;
  fo.max_deltas_per_batch = options_.max_deltas_per_batch;
  fo.max_files_per_delta = options_.max_files_per_delta;
  fo.retry_initial = options_.retry_initial;
  fo.retry_max = options_.retry_max;
  fo.rpc_timeout = options_.index_rpc_timeout;
  fo.renew_interval = options_.renew_interval;
  forwarder_ = std::make_unique<IndexForwarder>(fo, index_.get(), clock_);

  LeafRegistry::Options ro;
  ro.challenge_ttl = options_.challenge_ttl;
  ro.max_pending_challenges = options_.max_pending_challenges;
  ro.max_challenges_per_asker = options_.max_challenges_per_address;
  ro.join_work_bits = options_.join_work_bits;
  ro.session_timeout = options_.session_timeout;
  ro.max_leaves = options_.max_leaves;
  ro.max_files_per_leaf = options_.max_files_per_leaf;
  ro.max_name_bytes_per_leaf =
      static_cast<size_t>(options_.max_name_bytes_per_leaf);
  ro.max_files_total = static_cast<size_t>(options_.max_files);
  ro.max_name_bytes_total = static_cast<size_t>(options_.max_name_bytes);
  ro.index.default_limit = options_.search_default_limit;
  ro.index.max_limit = options_.search_max_limit;
  ro.index.establish_after = options_.established_after;
  ro.supernode_id = supernode_id_;
  registry_ = std::make_unique<LeafRegistry>(ro, clock_, forwarder_.get());

  LeafRegistry* registry = registry_.get();
  Moderation* moderation = moderation_.get();
  forwarder_->SetHooks(
      {[registry] { return registry->leaf_count(); },
       [registry] { registry->ResendAll(); },
       [registry](const std::string& peer) { registry->NeedFull(peer); },
       [registry] { return registry->Presences(); },
       [registry, moderation](const index::LeaseResponse& lease) {
         for (const std::string& peer : moderation->Update(lease)) {
           if (registry->Drop(peer)) {
             TROVE_LOG(WARNING) << "dropped leaf " << peer
                                << ": banned by the community's operator";
           }
         }
       },
       [registry](const std::string& peer, absl::Time since) {
         if (registry->LearnKnownSince(peer, since)) {
           TROVE_LOG(INFO) << "leaf " << peer
                           << " is known to the index since "
                           << absl::FormatTime(since);
         }
       }});

  SupernodeServiceImpl::Options so;
  so.max_files_per_publish = options_.max_files_per_publish;
  so.index_search_timeout = options_.index_search_timeout;
  so.index_locate_timeout = options_.index_search_timeout;
  so.heartbeat_interval = options_.heartbeat_interval;
  so.session_timeout = options_.session_timeout;
  so.search_default_limit = options_.search_default_limit;
  so.search_max_limit = options_.search_max_limit;
  so.locate_limit = options_.locate_limit;
  so.supernode_id = supernode_id_;
  so.moderation = moderation_.get();
  so.search_rate = options_.leaf_search_rate;
  so.locate_rate = options_.leaf_locate_rate;
  so.publish_rate = options_.leaf_publish_rate;
  so.join_rate = options_.leaf_join_rate;
  so.clock = options_.rate_clock;
  so.reports = options_.reports;
  {
    IndexForwarder* fwd = forwarder_.get();
    const absl::Duration session_timeout = options_.session_timeout;
    const absl::Duration renew = options_.renew_interval;
    // Three renewals and a session timeout: a live leaf's presence always
    // reaches the index before it runs out; a dead one's runs out soon.
    so.presence_validity = [fwd, session_timeout, renew] {
      return 3 * (renew > absl::ZeroDuration() ? renew : fwd->renew_every()) +
             session_timeout;
    };
  }
  IndexForwarder* forwarder = forwarder_.get();
  // The other supernodes, as the index listed them at the last renewal.
  auto others = [forwarder] {
    std::vector<SupernodeRef> refs;
    for (const index::SupernodeInfo& info : forwarder->other_supernodes()) {
      SupernodeRef ref;
      ref.set_supernode_id(info.supernode_id());
      ref.set_address(info.address());
      refs.push_back(std::move(ref));
    }
    return refs;
  };
  so.others = others;
  so.search_workers = options_.search_workers;
  if (options_.fan_out_hops > 0) {
    link_ = NewGrpcSupernodeLink(options_.tls);
    FanOutSearch::Options fo_opts;
    fo_opts.hops = options_.fan_out_hops;
    fo_opts.max_targets = options_.fan_out_max_targets;
    fan_out_ = std::make_unique<FanOutSearch>(fo_opts, link_.get(), clock_,
                                              others);
    so.fan_out = fan_out_.get();
  }
  service_ = std::make_unique<SupernodeServiceImpl>(
      so, registry_.get(), index_.get(), [forwarder]() -> std::string {
        std::vector<index::SupernodeInfo> others =
            forwarder->other_supernodes();
        return others.empty() ? "" : others.front().address();
      });
}

Supernode::~Supernode() { Stop(absl::ZeroDuration()); }

absl::Status Supernode::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || stopping_) {
      return absl::FailedPreconditionError("already started or stopped");
    }
  }
  std::string address = options_.advertise_address;
  std::string bound;
  if (!options_.listen_address.empty()) {
    ASSIGN_OR_RETURN(RunningServer running,
                     StartServer(options_.listen_address, {service_.get()},
                                 options_.tls->ServerCredentials()));
    server_ = std::move(running.server);
    bound = running.address;
    if (address.empty()) address = bound;
  }
  if (address.empty()) {
    return absl::FailedPreconditionError(
        "a supernode without its own server needs an advertise address");
  }
  {
    absl::MutexLock lock(&mu_);
    address_ = address;
    bound_address_ = bound;
    started_ = true;
  }
  forwarder_->SetAddress(address);
  forwarder_->Start();
  sweeper_ = std::make_unique<std::thread>([this] { SweepLoop(); });
  TROVE_LOG(INFO) << "supernode " << supernode_id_ << " serving at "
                  << address;
  return absl::OkStatus();
}

void Supernode::SweepLoop() {
  absl::Duration every = options_.sweep_interval;
  if (every <= absl::ZeroDuration()) {
    every = std::min(options_.session_timeout / 4, absl::Seconds(1));
  }
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), every);
    if (stopping_) break;
    mu_.Unlock();
    int dropped = registry_->ExpireIdle();
    if (dropped > 0) {
      TROVE_LOG(INFO) << dropped << " silent leaves dropped";
    }
    // Leaves whose session ended lose their Watch stream (they join
    // again); the others hear of changes to the list of supernodes.
    service_->EndStaleWatches();
    service_->PublishOthers();
    mu_.Lock();
  }
}

void Supernode::Stop(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  // Leaves' Watch streams end first: they move to their backups at once.
  service_->Shutdown();
  if (server_ != nullptr) {
    // In-flight calls get half the time; the final flush the rest.
    server_->Shutdown(absl::ToChronoTime(absl::Now() + timeout / 2));
    server_->Wait();
  }
  if (sweeper_ != nullptr) {
    sweeper_->join();
    sweeper_.reset();
  }
  forwarder_->Stop(deadline);
}

std::string Supernode::address() const {
  absl::MutexLock lock(&mu_);
  return address_;
}

std::string Supernode::bound_address() const {
  absl::MutexLock lock(&mu_);
  return bound_address_;
}

}  // namespace supernode
}  // namespace trove
