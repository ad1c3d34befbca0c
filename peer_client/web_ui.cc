#include "peer_client/web_ui.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <httplib.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/merkle.h"
#include "common/validation.h"
#include "nlohmann/json.hpp"
#include "peer_client/json_format.h"

namespace trove {
namespace {

using nlohmann::json;

constexpr char kPage[] =
#include "peer_client/web_page.inc"
    ;

constexpr size_t kMaxSharedFilesShown = 2000;
constexpr int kMaxSearchLimit = 1000;

bool IsLoopback(absl::string_view host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" ||
         host == "[::1]" || absl::StartsWith(host, "127.");
}

// The HTTP status of an error.
int HttpStatus(const absl::Status& st) {
  switch (st.code()) {
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kFailedPrecondition: return 409;
    case absl::StatusCode::kAlreadyExists: return 409;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

void Reply(httplib::Response& res, const json& body, int status = 200) {
  res.status = status;
  res.set_content(JsonLine(body), "application/json; charset=utf-8");
}

void ReplyError(httplib::Response& res, const absl::Status& st) {
  Reply(res, ErrorJson(st), HttpStatus(st));
}

// Compares in constant time.
bool SameToken(const std::string& a, const std::string& b) {
  return a.size() == b.size() &&
         CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

absl::StatusOr<std::string> LoadOrCreateWebToken(const std::string& path) {
  absl::StatusOr<std::string> existing = ReadFile(path);
  if (existing.ok()) {
    std::string token(absl::StripAsciiWhitespace(*existing));
    if (token.size() >= 16) return token;
  } else if (!absl::IsNotFound(existing.status())) {
    return existing.status();
  }
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("no randomness for the web token");
  }
  std::string token = HexEncode(absl::string_view(
      reinterpret_cast<const char*>(bytes), sizeof(bytes)));
  absl::Status st = WriteFileAtomic(path, token + "\n", 0600);
  if (!st.ok()) return st;
  return token;
}

WebUi::WebUi(ControlBackend* backend, Options options)
    : backend_(backend),
      options_(std::move(options)),
      server_(std::make_unique<httplib::Server>()) {}

absl::StatusOr<std::unique_ptr<WebUi>> WebUi::Start(ControlBackend* backend,
                                                    Options options) {
  const size_t colon = options.listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "address must be host:port, got '", options.listen, "'"));
  }
  std::string host = options.listen.substr(0, colon);
  if (!IsLoopback(host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the web page is served on loopback only (127.0.0.1, ::1, "
        "localhost), not '", host, "'"));
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::unique_ptr<WebUi> ui(new WebUi(backend, std::move(options)));
  // SO_REUSEADDR only: a port another server holds is refused.
  ui->server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  ui->Routes();
  if (port == 0) {
    port = ui->server_->bind_to_any_port(host);
    if (port <= 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", ui->options_.listen));
    }
  } else if (!ui->server_->bind_to_port(host, port)) {
    return absl::UnavailableError(absl::StrCat(
        ui->options_.listen, " is already in use (or cannot be bound)"));
  }
  ui->port_ = port;
  ui->host_ = host;
  ui->address_ = absl::StrCat(host.find(':') != std::string::npos
                                  ? "[" + host + "]"
                                  : host,
                              ":", port);
  httplib::Server* server = ui->server_.get();
  ui->thread_ = std::thread([server] { server->listen_after_bind(); });
  // Until it runs, stop() would not stop it (and Stop() would wait for
  // ever): return once it does.
  for (int i = 0; i < 10000 && !server->is_running(); ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  return ui;
}

WebUi::~WebUi() { Stop(); }

void WebUi::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void WebUi::Routes() {
  httplib::Server& s = *server_;
  // Every request: our own Host (no DNS rebinding), and for the API the
  // token. Nothing allows another origin.
  s.set_pre_routing_handler([this](const httplib::Request& req,
                                   httplib::Response& res) {
    const std::string host = req.get_header_value("Host");
    const std::string port = absl::StrCat(":", port_);
    const bool own_host =
        host == address_ || host == absl::StrCat("localhost", port) ||
        host == absl::StrCat("127.0.0.1", port) ||
        host == absl::StrCat("[::1]", port);
    if (!own_host) {
      Reply(res, ErrorJson(absl::PermissionDeniedError("unknown Host")), 403);
      return httplib::Server::HandlerResponse::Handled;
    }
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-store");
    if (absl::StartsWith(req.path, "/api/") &&
        !SameToken(req.get_header_value("X-Trove-Token"), options_.token)) {
      Reply(res,
            ErrorJson(absl::PermissionDeniedError(
                "missing or wrong token (open the address with #token=... "
                "from the daemon's web_token file)")),
            403);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; "
                   "style-src 'unsafe-inline'; connect-src 'self'; "
                   "img-src data:; base-uri 'none'; form-action 'none'; "
                   "frame-ancestors 'none'");
    res.set_content(kPage, "text/html; charset=utf-8");
  });

  s.Get("/api/status", [this](const httplib::Request&, httplib::Response& res) {
    json j = StatusJson(backend_->Status());
    Reply(res, j);
  });

  s.Get("/api/downloads",
        [this](const httplib::Request&, httplib::Response& res) {
          json list = json::array();
          for (const DownloadProgress& p : backend_->ListDownloads()) {
            list.push_back(DownloadJson(ToProto(p)));
          }
          Reply(res, {{"downloads", list}});
        });

  s.Get("/api/shares", [this](const httplib::Request&, httplib::Response& res) {
    control::StatusResponse st = backend_->Status();
    json files = json::array();
    for (const ControlBackend::SharedFileInfo& f :
         backend_->SharedFiles(kMaxSharedFilesShown)) {
      files.push_back(
          {{"path", f.path}, {"name", f.name}, {"cid", f.cid}, {"size", f.size}});
    }
    Reply(res, {{"folders", std::vector<std::string>(st.shares().begin(),
                                                     st.shares().end())},
                {"file_count", st.shared_files()},
                {"bytes", st.shared_bytes()},
                {"files", files}});
  });

  s.Get("/api/search", [this](const httplib::Request& req,
                              httplib::Response& res) {
    SearchQuery q;
    q.set_text(req.get_param_value("q"));
    for (absl::string_view e :
         absl::StrSplit(req.get_param_value("ext"), ',', absl::SkipEmpty())) {
      absl::ConsumePrefix(&e, ".");
      if (!e.empty()) q.add_extensions(std::string(e));
    }
    int limit = 0;
    if (req.has_param("limit") &&
        (!absl::SimpleAtoi(req.get_param_value("limit"), &limit) ||
         limit < 0 || limit > kMaxSearchLimit)) {
      ReplyError(res, absl::InvalidArgumentError("bad limit"));
      return;
    }
    q.set_limit(limit);
    absl::Status valid = ValidateSearchQuery(q);
    if (!valid.ok()) {
      ReplyError(res, valid);
      return;
    }
    absl::StatusOr<control::ControlSearchResponse> r = backend_->Search(q);
    if (!r.ok()) {
      ReplyError(res, r.status());
      return;
    }
    json hits = json::array();
    int n = 0;
    for (const SearchHit& h : r->hits()) hits.push_back(HitJson(h, ++n));
    Reply(res, {{"hits", hits}, {"partial", r->partial()}});
  });

  s.Post("/api/downloads", [this](const httplib::Request& req,
                                  httplib::Response& res) {
    json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object() || !body.contains("cid") ||
        !body["cid"].is_string()) {
      ReplyError(res, absl::InvalidArgumentError(
                          "give a JSON object with a \"cid\" string"));
      return;
    }
    control::GetRequest r;
    r.set_cid(absl::AsciiStrToLower(body["cid"].get<std::string>()));
    if (body.contains("name") && body["name"].is_string()) {
      r.set_expected_name(body["name"].get<std::string>());
    }
    if (body.contains("size") && body["size"].is_number_integer()) {
      r.set_expected_size(body["size"].get<int64_t>());
    }
    absl::Status valid = ValidateGetRequest(r);
    if (!valid.ok()) {
      ReplyError(res, valid);
      return;
    }
    absl::StatusOr<DownloadProgress> added =
        backend_->AddDownload(FromProto(r));
    if (!added.ok()) {
      ReplyError(res, added.status());
      return;
    }
    Reply(res, DownloadJson(ToProto(*added)));
  });

  s.Post(R"(/api/downloads/([0-9a-f]{64})/(pause|resume|cancel))",
         [this](const httplib::Request& req, httplib::Response& res) {
           const std::string cid = req.matches[1];
           const std::string action = req.matches[2];
           absl::StatusOr<DownloadProgress> p =
               action == "pause"    ? backend_->PauseDownload(cid)
               : action == "resume" ? backend_->ResumeDownload(cid)
                                    : backend_->CancelDownload(cid);
           if (!p.ok()) {
             ReplyError(res, p.status());
             return;
           }
           Reply(res, DownloadJson(ToProto(*p)));
         });
}

}  // namespace trove
