// The index server's web page (--web_listen=HOST:PORT): the community now
// and over time, a search box, and the supernode map, as one page with its
// own HTML, CSS and JavaScript compiled into the binary (web_page.html) and
// a few JSON endpoints it reads:
//
//   GET /                 the page
//   GET /api/overview     counts now: peers, supernodes, files, sources,
//                         searches per second
//   GET /api/history      the same, sampled every --web_sample_seconds, the
//                         last --web_history_samples of them, oldest first
//   GET /api/search?q=TEXT[&limit=N&min_size=B&max_size=B&kind=K&ext=E,E
//                  &sort=S&reverse=1&cursor=C]
//                         hits with name, size, sources and a trove: link;
//                         the same checks and search as IndexService.Search
//   GET /api/supernodes   live supernodes with their address, leaves and
//                         role (enrolled / promoted, since when); the keys
//                         not serving now (promoted and not yet up,
//                         draining, enrolled and offline); and the latest
//                         election events (promoted X at T, demoted Y,
//                         retired Z, revoked by an operator), newest first
//   GET /api/admin/bans, /api/admin/takedowns, /api/admin/supernodes,
//       /api/admin/stats, /api/admin/audit[?before=ID&limit=N]
//   POST /api/admin/ban, /unban, /takedown, /restore  (JSON bodies as the
//                         AdminService requests of the same name)
//                         the AdminService's calls, with the header
//                         `Authorization: Bearer TOKEN`, checked and audited
//                         by the same AdminCore (401 / 403 for a wrong token
//                         or role). The page's admin section stays hidden
//                         until a token is entered and sends it only from
//                         one function (adminFetch in web_page.html). 404
//                         when the page has no AdminCore.
//
// Bad input gets HTTP 400 with {"error": "what was wrong"}; a search the
// index cannot answer now gets 503 (catalog loading) or 429 (too many at
// once). Only the admin calls change anything.
#ifndef TROVE_INDEX_SERVER_WEB_PAGE_H_
#define TROVE_INDEX_SERVER_WEB_PAGE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "index_server/admin_service.h"
#include "index_server/election_store.h"
#include "index_server/indexed_store.h"
#include "index_server/store.h"
#include "common/search/query.h"
#include "protos/index.pb.h"
#include "nlohmann/json.hpp"

namespace httplib {
class Server;
}

namespace trove {
namespace index_server {

// What the community holds now.
struct CommunityCounts {
  bool ready = false;  // the catalog is loaded (searches are answered)
  int64_t peers = 0;
  int64_t supernodes = 0;
  int64_t files = 0;
  int64_t sources = 0;
  int64_t partial_sources = 0;
  // Searches answered since the start (gRPC and this page's), for rates.
  int64_t searches_total = 0;
};

struct WebPageOptions {
  // How often a sample is added to the history, and how many are kept.
  absl::Duration sample_every = absl::Seconds(5);
  int history_samples = 720;
  // As IndexServiceOptions: hits when the query says 0, the most allowed.
  int search_default_limit = 50;
  int search_max_limit = 500;
  // Searches from the page answered at once; more get 429.
  int max_concurrent_searches = 8;
  // Longest a search or a supernode listing may take.
  absl::Duration request_deadline = absl::Seconds(10);
  // Most supernodes /api/supernodes lists, and most election events.
  int supernode_limit = 500;
  int election_event_limit = 50;
};

// One HTTP answer: status and body (JSON unless content_type says else).
struct WebResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// What the page reads. Each is called from HTTP threads at once, so each
// must be thread-safe, and cheap for `counts` (called for every sample and
// overview).
struct WebSources {
  std::function<CommunityCounts()> counts;
  // As IndexStore::Search (the query is already checked and parsed).
  std::function<absl::StatusOr<search::SearchPage>(const search::ParsedQuery&,
                                                   const CallContext&)>
      search;
  // As IndexStore::LiveSupernodes.
  std::function<absl::StatusOr<std::vector<index::SupernodeInfo>>(
      int limit, const CallContext&)>
      supernodes;
  // As ElectionStore::ReadSupernodeMap: the keys' roles and the latest
  // election events. Null: /api/supernodes shows neither.
  std::function<absl::StatusOr<SupernodeMapView>(
      int role_limit, int event_limit, const CallContext&)>
      supernode_map;
  // The admin calls; null: /api/admin/ answers 404.
  AdminCore* admin = nullptr;
};

// The sources of a running index: `store`'s in-memory catalog and its
// searches, and the live supernodes in PostgreSQL. `store` must outlive
// their use.
WebSources SourcesOf(IndexedStore* store);

// The page and its endpoints. Requests are answered by Handle (no sockets:
// tests call it directly); Serve() puts it on a listening socket.
// Thread-safe.
class WebPage {
 public:
  WebPage(WebSources sources, WebPageOptions options);
  // Stops the sampler and the HTTP server.
  ~WebPage();
  WebPage(const WebPage&) = delete;
  WebPage& operator=(const WebPage&) = delete;

  // Answers GET `path` with the decoded query parameters `params`.
  WebResponse Handle(const std::string& path,
                     const std::multimap<std::string, std::string>& params);

  // Answers an admin call (`method` GET or POST) under /api/admin/ with
  // the request's Authorization value and body.
  WebResponse HandleAdmin(const std::string& method, const std::string& path,
                          const std::string& authorization,
                          const std::string& body,
                          const std::multimap<std::string, std::string>& params);

  // Adds a sample to the history now (the sampler does this every
  // sample_every).
  void Sample(absl::Time now);

  // Serves on `listen` (HOST:PORT; port 0 picks a free port) and starts
  // sampling. Returns the bound HOST:PORT. INVALID_ARGUMENT for a malformed
  // address, UNAVAILABLE when it cannot be bound ("... is already in use").
  // REQUIRES: called at most once.
  absl::StatusOr<std::string> Serve(const std::string& listen);

 private:
  WebResponse Overview();
  WebResponse History();
  WebResponse Search(const std::multimap<std::string, std::string>& params);
  WebResponse Supernodes();
  void SampleLoop();

  struct Sample_ {
    absl::Time time;
    CommunityCounts counts;
    double searches_per_second = 0;
  };

  const WebSources sources_;
  const WebPageOptions options_;
  std::atomic<int> searches_in_flight_{0};

  absl::Mutex mu_;
  std::deque<Sample_> history_ ABSL_GUARDED_BY(mu_);

  std::unique_ptr<httplib::Server> http_;
  std::thread http_thread_;
  std::thread sampler_;
  absl::Notification stop_;
};

// When --web_listen is set: a WebPage over `store` serving there (with the
// --web_* settings and the search limits given), logged at start. nullptr
// when the flag is empty. `admin` (may be null) answers /api/admin/.
// Errors as WebPage::Serve, prefixed "--web_listen".
// `store` must outlive the page.
absl::StatusOr<std::unique_ptr<WebPage>> StartWebPageFromFlags(
    IndexedStore* store, int search_default_limit, int search_max_limit,
    AdminCore* admin = nullptr);


// The total of searches the index answered (its IndexService.Search calls,
// as counted for /metrics, and the page's own).
int64_t SearchesAnswered();

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_WEB_PAGE_H_
