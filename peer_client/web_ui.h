// The daemon's local web page (--web=127.0.0.1:PORT, off unless set): the
// shares, the downloads with progress bars and pause / resume / cancel, and
// a search whose hits are fetched with one click. One self-contained page
// (no external assets) served with cpp-httplib, plus a small JSON API it
// calls:
//
//   GET  /                           the page
//   GET  /api/status                 peer, supernode, shares, limits
//   GET  /api/downloads              {"downloads":[...]} (as `list --json`)
//   GET  /api/shares                 {"folders":[...],"files":[...]}
//   GET  /api/search?q=WORDS[&ext=mp3,flac][&limit=N]
//                                    {"hits":[...],"partial":bool}
//   POST /api/downloads              {"cid","name"?,"size"?}: adds one
//   POST /api/downloads/CID/pause    (and /resume, /cancel)
//
// Guarded by a random token kept in STATE/web_token (0600): every API call
// carries it in the X-Trove-Token header (the page reads it from the URL's
// fragment, #token=..., which browsers never send); a missing or wrong
// token gets 403. Only loopback addresses are served, and a request whose
// Host is not the page's own address gets 403 (no DNS rebinding); answers
// allow no other origin.
//
// Thread-safe.
#ifndef TROVE_PEER_CLIENT_WEB_UI_H_
#define TROVE_PEER_CLIENT_WEB_UI_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "peer_client/control_service.h"

namespace httplib {
class Server;
}

namespace trove {

// The token in `path`, or a new random one (32 hex digits) written there
// with mode 0600 when there is none.
absl::StatusOr<std::string> LoadOrCreateWebToken(const std::string& path);

class WebUi {
 public:
  struct Options {
    // host:port; the host must be a loopback address (127.0.0.1, ::1,
    // localhost); port 0 picks a free one.
    std::string listen;
    // What every API call must carry.
    std::string token;
  };

  // Serves the page. INVALID_ARGUMENT for an address that is not
  // host:port on loopback; UNAVAILABLE when it cannot be bound.
  // `backend` must outlive the page.
  static absl::StatusOr<std::unique_ptr<WebUi>> Start(ControlBackend* backend,
                                                      Options options);
  // Stop().
  ~WebUi();

  // Stops serving and waits for the server thread. Idempotent.
  void Stop();

  // "127.0.0.1:PORT", the bound address.
  const std::string& address() const { return address_; }
  // "http://127.0.0.1:PORT/".
  std::string url() const { return "http://" + address_ + "/"; }

 private:
  WebUi(ControlBackend* backend, Options options);
  void Routes();

  ControlBackend* const backend_;
  const Options options_;
  std::unique_ptr<httplib::Server> server_;
  std::string address_;
  std::string host_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_WEB_UI_H_
