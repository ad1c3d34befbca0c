#include "index_server/web_page.h"

#include <google/protobuf/util/json_util.h>

#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/net_util.h"
#include "common/search/query.h"
#include "common/validation.h"
#include "httplib.h"
#include "peer_client/cli_format.h"

ABSL_FLAG(std::string, web_listen, "",
          "serve the community's web page (counts, plots, search, supernode "
          "map) at http://HOST:PORT/ (port 0 picks a free port, logged at "
          "start); empty: off. It has no login: keep it on a private "
          "address or behind a proxy");
ABSL_FLAG(int, web_sample_seconds, 5,
          "how often the web page's history takes a sample of the counts");
ABSL_FLAG(int, web_history_samples, 720,
          "samples the web page's history keeps (720 at 5 s: one hour)");
ABSL_FLAG(int, web_max_concurrent_searches, 8,
          "searches from the web page answered at once; more get HTTP 429");

// The page itself (web_page.html), compiled in by the web_page_html genrule.
extern const char kTroveWebPageHtml[];

namespace trove {
namespace index_server {
namespace {

using json = nlohmann::json;

prometheus::Counter& WebSearches() {
  static prometheus::Counter& c = metrics::Counter(
      "trove_index_web_searches_total", "Searches asked from the web page");
  return c;
}

prometheus::Counter& GrpcSearches() {
  // The counter the gRPC server's metrics interceptor keeps for Search.
  static prometheus::Counter& c = metrics::Counter(
      "grpc_server_started_total", "RPCs started on the server",
      {{"grpc_type", "unary"},
       {"grpc_service", "trove.index.IndexService"},
       {"grpc_method", "Search"}});
  return c;
}

std::string Dump(const json& j) {
  // Names are checked UTF-8 on the way in; replace anything else rather
  // than fail.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

WebResponse Json(int status, const json& j) {
  WebResponse r;
  r.status = status;
  r.body = Dump(j);
  return r;
}

WebResponse Error(int status, absl::string_view message) {
  return Json(status, json{{"error", std::string(message)}});
}

// The HTTP status for a failure of the store.
int HttpStatusOf(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kFailedPrecondition:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

json CountsJson(const CommunityCounts& c) {
  return json{{"ready", c.ready},
              {"peers", c.peers},
              {"supernodes", c.supernodes},
              {"files", c.files},
              {"sources", c.sources},
              {"partial_sources", c.partial_sources},
              {"searches_total", c.searches_total}};
}

double UnixSeconds(absl::Time t) {
  return absl::ToDoubleSeconds(t - absl::UnixEpoch());
}

const char* const kKinds[] = {"any", "audio", "video", "image", "document",
                              "archive"};
const char* const kSorts[] = {"relevance", "sources", "size", "name"};

// Reads an integer parameter; false (with `error` set) when it is not one.
bool IntParam(const std::multimap<std::string, std::string>& params,
              const std::string& name, int64_t* out, std::string* error) {
  auto it = params.find(name);
  if (it == params.end() || it->second.empty()) return true;
  if (!absl::SimpleAtoi(it->second, out)) {
    *error = absl::StrCat(name, " must be a whole number, got '",
                          it->second.substr(0, 40), "'");
    return false;
  }
  return true;
}

// The search the page's query parameters describe, or the reason they are
// not one.
absl::StatusOr<SearchQuery> QueryOf(
    const std::multimap<std::string, std::string>& params) {
  for (const auto& [name, value] : params) {
    static const char* const kKnown[] = {"q",    "limit", "min_size", "max_size",
                                         "kind", "ext",   "sort",     "reverse",
                                         "cursor"};
    if (std::find_if(std::begin(kKnown), std::end(kKnown), [&](const char* k) {
          return name == k;
        }) == std::end(kKnown)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown parameter '", name.substr(0, 40),
          "' (known: q, limit, min_size, max_size, kind, ext, sort, reverse, "
          "cursor)"));
    }
    if (params.count(name) > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", name, "' is given more than once"));
    }
  }
  SearchQuery query;
  auto q = params.find("q");
  if (q == params.end()) {
    return absl::InvalidArgumentError("q (the text to search for) is missing");
  }
  query.set_text(q->second);
  std::string error;
  int64_t limit = 0, min_size = 0, max_size = 0;
  if (!IntParam(params, "limit", &limit, &error) ||
      !IntParam(params, "min_size", &min_size, &error) ||
      !IntParam(params, "max_size", &max_size, &error)) {
    return absl::InvalidArgumentError(error);
  }
  if (limit < 0 || limit > (1 << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit must be 0 (the default) or positive, got ", limit));
  }
  query.set_limit(static_cast<int32_t>(limit));
  query.set_min_size(min_size);
  query.set_max_size(max_size);
  if (auto it = params.find("kind"); it != params.end() && !it->second.empty()) {
    const std::string kind = absl::AsciiStrToLower(it->second);
    int found = -1;
    for (int i = 0; i < 6; ++i) {
      if (kind == kKinds[i]) found = i;
    }
    if (found < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kind must be any, audio, video, image, document or archive, got '",
          it->second.substr(0, 40), "'"));
    }
    query.set_kind(static_cast<FileKind>(found));
  }
  if (auto it = params.find("sort"); it != params.end() && !it->second.empty()) {
    int found = -1;
    for (int i = 0; i < 4; ++i) {
      if (it->second == kSorts[i]) found = i;
    }
    if (found < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sort must be relevance, sources, size or name, got '",
          it->second.substr(0, 40), "'"));
    }
    query.set_sort(static_cast<SearchSort>(found));
  }
  if (auto it = params.find("reverse"); it != params.end()) {
    if (it->second != "" && it->second != "0" && it->second != "1") {
      return absl::InvalidArgumentError("reverse must be 0 or 1");
    }
    query.set_reverse(it->second == "1");
  }
  if (auto it = params.find("ext"); it != params.end()) {
    for (absl::string_view ext :
         absl::StrSplit(it->second, ',', absl::SkipWhitespace())) {
      query.add_extensions(std::string(absl::StripAsciiWhitespace(ext)));
    }
  }
  if (auto it = params.find("cursor"); it != params.end() && !it->second.empty()) {
    std::string cursor;
    if (!absl::WebSafeBase64Unescape(it->second, &cursor)) {
      return absl::InvalidArgumentError(
          "cursor is not a next_cursor this page gave");
    }
    query.set_cursor(cursor);
  }
  return query;
}

}  // namespace

int64_t SearchesAnswered() {
  return static_cast<int64_t>(GrpcSearches().Value() + WebSearches().Value());
}

namespace {

CommunityCounts CountsOf(IndexedStore* store) {
  CommunityCounts c;
  const CatalogFollower* follower = store->follower();
  std::shared_ptr<const MemoryCatalog> catalog = follower->catalog();
  c.ready = follower->ready();
  if (catalog != nullptr) {
    MemoryCatalog::Stats s = catalog->stats();
    c.peers = static_cast<int64_t>(s.peers);
    c.supernodes = static_cast<int64_t>(s.supernodes);
    c.files = static_cast<int64_t>(s.cids);
    c.sources = static_cast<int64_t>(s.sources);
    c.partial_sources = static_cast<int64_t>(s.partial_sources);
  }
  c.searches_total = SearchesAnswered();
  return c;
}

}  // namespace

WebSources SourcesOf(IndexedStore* store) {
  WebSources s;
  s.counts = [store] { return CountsOf(store); };
  s.search = [store](const search::ParsedQuery& q, const CallContext& call) {
    return store->Search(q, call);
  };
  s.supernodes = [store](int limit, const CallContext& call) {
    return store->LiveSupernodes(limit, call);
  };
  s.supernode_map = [store](int role_limit, int event_limit,
                            const CallContext& call) {
    return store->pg()->ReadSupernodeMap(role_limit, event_limit, call);
  };
  return s;
}

WebPage::WebPage(WebSources sources, WebPageOptions options)
    : sources_(std::move(sources)), options_(options) {}

WebPage::~WebPage() {
  stop_.Notify();
  if (http_ != nullptr) http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
  if (sampler_.joinable()) sampler_.join();
}

WebResponse WebPage::Handle(const std::string& path,
                            const std::multimap<std::string, std::string>& params) {
  if (path == "/" || path == "/index.html") {
    WebResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = kTroveWebPageHtml;
    return r;
  }
  if (path == "/api/overview") return Overview();
  if (path == "/api/history") return History();
  if (path == "/api/search") return Search(params);
  if (path == "/api/supernodes") return Supernodes();
  if (path.rfind("/api/admin/", 0) == 0 || path == "/api/admin") {
    return HandleAdmin("GET", path, "", "", params);
  }
  return Error(404, absl::StrCat("no such page: ", path.substr(0, 100)));
}

namespace {

// Reads `body` (JSON, field names as in admin.proto) into `request`.
template <typename Request>
absl::Status FromJson(const std::string& body, Request* request) {
  if (body.size() > 16384) {
    return absl::InvalidArgumentError("the request body is over 16 KiB");
  }
  google::protobuf::util::JsonParseOptions options;
  auto s = google::protobuf::util::JsonStringToMessage(
      body.empty() ? "{}" : body, request, options);
  if (!s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request body is not the JSON this call takes: ",
        std::string(s.message()).substr(0, 200)));
  }
  return absl::OkStatus();
}

// An AdminCore answer as an HTTP answer.
template <typename Response>
WebResponse AdminAnswer(const absl::StatusOr<Response>& r) {
  if (!r.ok()) return Error(HttpStatusOf(r.status()), r.status().message());
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  WebResponse out;
  (void)google::protobuf::util::MessageToJsonString(*r, &out.body, options);
  return out;
}

}  // namespace

WebResponse WebPage::HandleAdmin(
    const std::string& method, const std::string& path,
    const std::string& authorization, const std::string& body,
    const std::multimap<std::string, std::string>& params) {
  AdminCore* admin = sources_.admin;
  if (admin == nullptr) {
    return Error(404, "this index serves no admin interface");
  }
  const std::string verb = path.substr(std::min(path.size(), sizeof("/api/admin/") - 1));
  if (method == "GET") {
    if (verb == "bans") return AdminAnswer(admin->ListBans(authorization, {}));
    if (verb == "takedowns") {
      return AdminAnswer(admin->ListTakedowns(authorization, {}));
    }
    if (verb == "supernodes") {
      return AdminAnswer(admin->ListSupernodes(authorization, {}));
    }
    if (verb == "stats") return AdminAnswer(admin->Stats(authorization, {}));
    if (verb == "audit") {
      admin::ReadAuditRequest req;
      for (const auto& [key, value] : params) {
        int64_t n = 0;
        if ((key != "before" && key != "limit") || !absl::SimpleAtoi(value, &n)) {
          return Error(400, absl::StrCat("audit takes before=N and limit=N, not ",
                                         key.substr(0, 40)));
        }
        if (key == "before") req.set_before_id(n);
        if (key == "limit") req.set_limit(static_cast<int32_t>(std::min<int64_t>(n, 1000)));
      }
      return AdminAnswer(admin->ReadAudit(authorization, req));
    }
  } else if (method == "POST") {
    absl::Status parsed;
    if (verb == "ban") {
      admin::BanPeerRequest req;
      if (parsed = FromJson(body, &req); !parsed.ok()) return Error(400, parsed.message());
      return AdminAnswer(admin->BanPeer(authorization, req));
    }
    if (verb == "unban") {
      admin::UnbanPeerRequest req;
      if (parsed = FromJson(body, &req); !parsed.ok()) return Error(400, parsed.message());
      return AdminAnswer(admin->UnbanPeer(authorization, req));
    }
    if (verb == "takedown") {
      admin::TakeDownRequest req;
      if (parsed = FromJson(body, &req); !parsed.ok()) return Error(400, parsed.message());
      return AdminAnswer(admin->TakeDown(authorization, req));
    }
    if (verb == "restore") {
      admin::RestoreRequest req;
      if (parsed = FromJson(body, &req); !parsed.ok()) return Error(400, parsed.message());
      return AdminAnswer(admin->Restore(authorization, req));
    }
  }
  return Error(404, absl::StrCat("no such admin call: ", method, " ",
                                 path.substr(0, 100)));
}

void WebPage::Sample(absl::Time now) {
  Sample_ s;
  s.time = now;
  s.counts = sources_.counts();
  absl::MutexLock lock(&mu_);
  if (!history_.empty()) {
    const Sample_& last = history_.back();
    double seconds = absl::ToDoubleSeconds(now - last.time);
    if (seconds > 0) {
      s.searches_per_second =
          std::max<int64_t>(0, s.counts.searches_total - last.counts.searches_total) /
          seconds;
    }
  }
  history_.push_back(s);
  while (static_cast<int>(history_.size()) > std::max(1, options_.history_samples)) {
    history_.pop_front();
  }
}

WebResponse WebPage::Overview() {
  const absl::Time now = absl::Now();
  CommunityCounts c = sources_.counts();
  json j = CountsJson(c);
  j["time"] = UnixSeconds(now);
  // The rate since the last sample (0 before there is one).
  double rate = 0;
  {
    absl::MutexLock lock(&mu_);
    if (!history_.empty()) {
      const Sample_& last = history_.back();
      double seconds = absl::ToDoubleSeconds(now - last.time);
      if (seconds >= 1) {
        rate = std::max<int64_t>(0, c.searches_total - last.counts.searches_total) /
               seconds;
      } else {
        rate = last.searches_per_second;
      }
    }
  }
  j["searches_per_second"] = rate;
  return Json(200, j);
}

WebResponse WebPage::History() {
  json samples = json::array();
  absl::MutexLock lock(&mu_);
  for (const Sample_& s : history_) {
    json j = CountsJson(s.counts);
    j["time"] = UnixSeconds(s.time);
    j["searches_per_second"] = s.searches_per_second;
    samples.push_back(std::move(j));
  }
  return Json(200, json{{"interval_seconds",
                         absl::ToDoubleSeconds(options_.sample_every)},
                        {"max_samples", options_.history_samples},
                        {"samples", std::move(samples)}});
}

WebResponse WebPage::Search(const std::multimap<std::string, std::string>& params) {
  // The same checks, in the same order, as IndexService.Search.
  absl::StatusOr<SearchQuery> query = QueryOf(params);
  if (!query.ok()) return Error(400, query.status().message());
  absl::StatusOr<search::ParsedQuery> parsed = search::ParseRequestQuery(
      *query, options_.search_default_limit, options_.search_max_limit);
  if (!parsed.ok()) return Error(400, parsed.status().message());
  if (searches_in_flight_.fetch_add(1) >= options_.max_concurrent_searches) {
    searches_in_flight_.fetch_sub(1);
    return Error(429, absl::StrCat("the page is answering ",
                                   options_.max_concurrent_searches,
                                   " searches already; retry shortly"));
  }
  struct Release {
    std::atomic<int>* n;
    ~Release() { n->fetch_sub(1); }
  } release{&searches_in_flight_};
  WebSearches().Increment();
  CallContext call;
  call.deadline = absl::Now() + options_.request_deadline;
  absl::StatusOr<search::SearchPage> page = sources_.search(*parsed, call);
  if (!page.ok()) {
    if (page.status().code() != absl::StatusCode::kInvalidArgument) {
      TROVE_LOG(WARNING) << "web page search failed: " << page.status();
    }
    return Error(HttpStatusOf(page.status()), page.status().message());
  }
  json hits = json::array();
  for (const SearchHit& hit : page->hits) {
    hits.push_back(json{{"cid", hit.cid()},
                        {"name", hit.name()},
                        {"size", hit.size()},
                        {"sources", hit.source_count()},
                        {"link", MakeTroveLink(hit.cid(), hit.name(), hit.size())}});
  }
  json out{{"hits", std::move(hits)}};
  out["next_cursor"] =
      page->next_cursor.empty() ? "" : absl::WebSafeBase64Escape(page->next_cursor);
  return Json(200, out);
}

WebResponse WebPage::Supernodes() {
  CallContext call;
  call.deadline = absl::Now() + options_.request_deadline;
  absl::StatusOr<std::vector<index::SupernodeInfo>> live =
      sources_.supernodes(std::max(1, options_.supernode_limit), call);
  if (!live.ok()) {
    TROVE_LOG(WARNING) << "web page: listing supernodes failed: " << live.status();
    return Error(HttpStatusOf(live.status()), live.status().message());
  }
  // The keys' roles and the election's events (when this index keeps them).
  std::map<std::string, const SupernodeRole*> roles;
  absl::StatusOr<SupernodeMapView> view = SupernodeMapView();
  if (sources_.supernode_map) {
    view = sources_.supernode_map(std::max(1, options_.supernode_limit),
                                  std::max(0, options_.election_event_limit),
                                  call);
    if (!view.ok()) {
      TROVE_LOG(WARNING) << "web page: reading the supernode map failed: "
                         << view.status();
      return Error(HttpStatusOf(view.status()), view.status().message());
    }
    for (const SupernodeRole& r : view->roles) roles[r.supernode_id] = &r;
  }
  auto time_or_null = [](absl::Time t) -> json {
    if (t == absl::InfinitePast()) return nullptr;
    return UnixSeconds(t);
  };
  auto role_json = [&](const SupernodeRole* r, json* j) {
    // A live supernode without a key row serves under a key given by file.
    (*j)["role"] = r != nullptr ? r->role : "enrolled";
    (*j)["since"] = r != nullptr ? time_or_null(r->since) : json(nullptr);
    (*j)["draining_since"] =
        r != nullptr ? time_or_null(r->draining_since) : json(nullptr);
  };
  json list = json::array();
  int64_t leaves = 0;
  std::set<std::string> serving;
  for (const index::SupernodeInfo& sn : *live) {
    json j{{"id", sn.supernode_id()},
           {"address", sn.address()},
           {"leaves", sn.leaf_count()}};
    auto r = roles.find(sn.supernode_id());
    role_json(r == roles.end() ? nullptr : r->second, &j);
    list.push_back(std::move(j));
    leaves += sn.leaf_count();
    serving.insert(sn.supernode_id());
  }
  json others = json::array();
  for (const SupernodeRole& r : view->roles) {
    if (serving.count(r.supernode_id) > 0) continue;
    json j{{"id", r.supernode_id}};
    role_json(&r, &j);
    others.push_back(std::move(j));
  }
  json events = json::array();
  for (const ElectionEvent& e : view->events) {
    events.push_back(json{{"at", time_or_null(e.at)},
                          {"event", e.event},
                          {"id", e.supernode_id}});
  }
  return Json(200, json{{"supernodes", std::move(list)},
                        {"leaves", leaves},
                        {"not_serving", std::move(others)},
                        {"events", std::move(events)}});
}

void WebPage::SampleLoop() {
  Sample(absl::Now());
  while (!stop_.WaitForNotificationWithTimeout(options_.sample_every)) {
    Sample(absl::Now());
  }
}

absl::StatusOr<std::string> WebPage::Serve(const std::string& listen) {
  absl::Status valid = ValidateListenAddress(listen);
  if (!valid.ok() || listen.rfind("unix:", 0) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the web page's address must be HOST:PORT: ",
        valid.ok() ? "a unix: socket is not served" : valid.message()));
  }
  const size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  int port = 0;
  if (!absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the web page's address must be HOST:PORT, got ", listen));
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto http = std::make_unique<httplib::Server>();
  http->set_read_timeout(10, 0);
  http->set_write_timeout(10, 0);
  http->set_payload_max_length(64 * 1024);
  // SO_REUSEADDR only: cpp-httplib's default also sets SO_REUSEPORT, which
  // would let a second server bind a port already in use.
  http->set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  auto answer = [this](const httplib::Request& req, httplib::Response& res) {
    std::multimap<std::string, std::string> params(req.params.begin(),
                                                   req.params.end());
    // The admin calls read the token (Authorization: Bearer ...), checked
    // by the AdminCore exactly as the AdminService checks it.
    WebResponse r = req.path.rfind("/api/admin/", 0) == 0
                        ? HandleAdmin(req.method, req.path,
                                      req.get_header_value("Authorization"),
                                      req.body, params)
                        : Handle(req.path, params);
    res.status = r.status;
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; "
                   "style-src 'unsafe-inline'; img-src data:; "
                   "connect-src 'self'; base-uri 'none'; form-action 'none'; "
                   "frame-ancestors 'none'");
    res.set_content(r.body, r.content_type.c_str());
  };
  http->Get(R"(/.*)", answer);
  http->Post(R"(/api/admin/.*)", answer);
  auto refuse = [](const httplib::Request&, httplib::Response& res) {
    res.status = 405;
    res.set_content(
        Dump(json{{"error", "only GET is served (and POST for /api/admin/)"}}),
        "application/json");
  };
  http->Post(R"(/.*)", refuse);
  http->Put(R"(/.*)", refuse);
  http->Delete(R"(/.*)", refuse);
  http->Patch(R"(/.*)", refuse);

  int bound = port;
  if (port == 0) {
    bound = http->bind_to_any_port(host);
    if (bound <= 0) bound = -1;
  } else if (!http->bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound < 0) {
    if (port != 0 && AddressInUse(listen)) {
      return absl::UnavailableError(absl::StrCat(listen, " is already in use"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot serve the web page on ", listen));
  }
  http_ = std::move(http);
  http_thread_ = std::thread([this] { http_->listen_after_bind(); });
  // stop() does nothing to a server that is not running yet: wait (bounded)
  // until it runs, so that the destructor can always stop it.
  for (int i = 0; i < 500 && !http_->is_running(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  sampler_ = std::thread([this] { SampleLoop(); });
  if (host == "0.0.0.0" || host == "::" || host.empty()) host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = absl::StrCat("[", host, "]");
  return absl::StrCat(host, ":", bound);
}

absl::StatusOr<std::unique_ptr<WebPage>> StartWebPageFromFlags(
    IndexedStore* store, int search_default_limit, int search_max_limit,
    AdminCore* admin) {
  const std::string listen = absl::GetFlag(FLAGS_web_listen);
  if (listen.empty()) return std::unique_ptr<WebPage>();
  WebPageOptions options;
  const int sample_seconds = absl::GetFlag(FLAGS_web_sample_seconds);
  const int samples = absl::GetFlag(FLAGS_web_history_samples);
  const int concurrent = absl::GetFlag(FLAGS_web_max_concurrent_searches);
  for (auto [name, value] : {std::pair<const char*, int>{"web_sample_seconds", sample_seconds},
                             {"web_history_samples", samples},
                             {"web_max_concurrent_searches", concurrent}}) {
    if (value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " must be positive, got ", value));
    }
  }
  options.sample_every = absl::Seconds(sample_seconds);
  options.history_samples = samples;
  options.max_concurrent_searches = concurrent;
  options.search_default_limit = search_default_limit;
  options.search_max_limit = search_max_limit;
  WebSources sources = SourcesOf(store);
  sources.admin = admin;
  auto page = std::make_unique<WebPage>(std::move(sources), options);
  absl::StatusOr<std::string> bound = page->Serve(listen);
  if (!bound.ok()) {
    return absl::Status(bound.status().code(),
                        absl::StrCat("--web_listen: ", bound.status().message()));
  }
  TROVE_LOG(INFO).With("web", *bound)
      << "serving the web page at http://" << *bound << "/";
  return page;
}

}  // namespace index_server
}  // namespace trove
