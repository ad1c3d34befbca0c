#include "peer_client/cli.h"

#include <sys/stat.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "peer_client/cli_format.h"

namespace trove {
namespace {

using nlohmann::json;

std::string CodeName(absl::StatusCode code) {
  return absl::StatusCodeToString(code);
}

int Fail(const CliOptions& options, const absl::Status& status,
         std::ostream& out, std::ostream& err, const char* verb) {
  err << "peer_client " << verb << ": " << status.message() << "\n";
  return 1;
}

// Turns a failed call into a message a user can act on.
absl::Status Explain(const grpc::Status& st, const std::string& state_dir) {
  absl::Status s = FromGrpcStatus(st);
  if (st.error_code() == grpc::StatusCode::UNAVAILABLE &&
      (st.error_message().find("connect") != std::string::npos ||
       st.error_message().find("Socket") != std::string::npos ||
       st.error_message().find("No such file") != std::string::npos)) {
    return absl::UnavailableError(absl::StrCat(
        "the peer daemon for ", state_dir,
        " is not answering (is it running? stale ", state_dir,
        "/daemon.sock?)"));
  }
  if (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::DeadlineExceededError(
        absl::StrCat("the peer daemon did not answer in time: ",
                     st.error_message()));
  }
  return s;
}

// Bytes received per peer, as JSON.
json Received(
    const google::protobuf::RepeatedPtrField<control::SourceTraffic>& r) {
  json out = json::array();
  for (const control::SourceTraffic& t : r) {
    out.push_back({{"peer_id", t.peer_id()},
                   {"address", t.address()},
                   {"bytes", t.bytes()},
                   {"partial", t.partial()}});
  }
  return out;
}

std::chrono::system_clock::time_point Deadline(const CliOptions& options) {
  return absl::ToChronoTime(absl::Now() + options.timeout);
}

}  // namespace

absl::StatusOr<std::unique_ptr<control::ControlService::Stub>> ConnectToDaemon(
    const std::string& state_dir) {
  std::string socket = absl::StrCat(state_dir, "/daemon.sock");
  struct stat st;
  if (::stat(socket.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no peer daemon is running for state folder ", state_dir, " (no ",
        socket,
        "). Start one with:\n  peer_client daemon --supernode=HOST:PORT "
        "--share=DIR --state=",
        state_dir));
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      absl::StrCat("unix:", socket), grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(
          absl::ToChronoTime(absl::Now() + absl::Seconds(5)))) {
    return absl::UnavailableError(absl::StrCat(
        "the peer daemon for ", state_dir, " is not answering on ", socket,
        " (it may have exited; start it again)"));
  }
  return control::ControlService::NewStub(channel);
}

int RunSearch(const CliOptions& options, const SearchQuery& query,
              std::ostream& out, std::ostream& err) {
  auto stub = ConnectToDaemon(options.state_dir);
  if (!stub.ok()) return Fail(options, stub.status(), out, err, "search");
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(options));
  control::ControlSearchResponse resp;
  grpc::Status st = (*stub)->Search(&ctx, query, &resp);
  if (!st.ok()) {
    return Fail(options, Explain(st, options.state_dir), out, err, "search");
  }
  if (options.json) {
    json hits = json::array();
    for (const SearchHit& h : resp.hits()) {
      hits.push_back({{"cid", h.cid()},
                      {"name", h.name()},
                      {"size", h.size()},
                      {"source_count", h.source_count()},
                      {"link", MakeTroveLink(h.cid(), h.name(), h.size())}});
    }
    json doc = {{"hits", hits}, {"partial", resp.partial()}};
    out << doc.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    return 0;
  }
  if (resp.hits_size() == 0) {
    out << "No files found for \"" << query.text() << "\".\n";
  } else {
    out << absl::StrFormat("%10s  %7s  %-64s  %s\n", "SIZE", "SOURCES", "CID",
                           "NAME");
    for (const SearchHit& h : resp.hits()) {
      out << absl::StrFormat("%10s  %7d  %-64s  %s\n", HumanBytes(h.size()),
                             h.source_count(), h.cid(), h.name());
    }
    out << resp.hits_size() << (resp.hits_size() == 1 ? " file" : " files")
        << ". Download with: peer_client get CID -o DIR\n";
  }
  if (resp.partial()) {
    out << "(Partial results: only part of the network answered.)\n";
  }
  return 0;
}

int RunGet(const CliOptions& options, const control::GetRequest& request,
           std::ostream& out, std::ostream& err) {
  auto report_error = [&](const absl::Status& status) {
    if (options.json) {
      json line = {{"event", "error"},
                   {"cid", request.cid()},
                   {"code", CodeName(status.code())},
                   {"message", std::string(status.message())}};
      out << line.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
      out.flush();
    }
    return Fail(options, status, out, err, "get");
  };
  auto stub = ConnectToDaemon(options.state_dir);
  if (!stub.ok()) return report_error(stub.status());
  grpc::ClientContext ctx;
  auto reader = (*stub)->Get(&ctx, request);
  control::GetProgress p;
  control::GetProgress last;
  bool line_open = false;
  absl::Time last_plain = absl::InfinitePast();
  while (reader->Read(&p)) {
    last = p;
    if (options.json) {
      json line = {{"event", p.done() ? "done" : "progress"},
                   {"cid", request.cid()},
                   {"name", p.name()},
                   {"done_bytes", p.done_bytes()},
                   {"size", p.size()},
                   {"sources", p.sources()},
                   {"bytes_per_second", p.bytes_per_second()},
                   {"queue_position", p.queue_position()},
                   {"chunks_fetched", p.chunks_fetched()},
                   {"chunks_resumed", p.chunks_resumed()},
                   {"bad_sources", p.bad_sources()},
                   {"received", Received(p.received())}};
      if (p.done()) line["path"] = p.path();
      out << line.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
      out.flush();
      continue;
    }
    if (p.done()) continue;
    std::string text =
        ProgressLine(p.name(), p.done_bytes(), p.size(), p.bytes_per_second(),
                     p.sources(), p.queue_position());
    if (options.tty) {
      err << "\r" << text << "\x1b[K";
      err.flush();
      line_open = true;
    } else if (absl::Now() - last_plain >= absl::Seconds(1)) {
      err << text << "\n";
      last_plain = absl::Now();
    }
  }
  grpc::Status st = reader->Finish();
  if (line_open) err << "\n";
  if (!st.ok()) return report_error(Explain(st, options.state_dir));
  if (!last.done()) {
    return report_error(
        absl::InternalError("the daemon ended the download without a result"));
  }
  if (!options.json) {
    out << "saved " << last.path() << " (" << HumanBytes(last.size()) << ")\n";
  }
  return 0;
}

int RunStatus(const CliOptions& options, std::ostream& out, std::ostream& err) {
  auto stub = ConnectToDaemon(options.state_dir);
  if (!stub.ok()) return Fail(options, stub.status(), out, err, "status");
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(options));
  control::StatusResponse r;
  grpc::Status st = (*stub)->Status(&ctx, control::StatusRequest(), &r);
  if (!st.ok()) {
    return Fail(options, Explain(st, options.state_dir), out, err, "status");
  }
  if (options.json) {
    json transfers = json::array();
    for (const control::Transfer& t : r.transfers()) {
      transfers.push_back({{"cid", t.cid()},
                           {"name", t.name()},
                           {"done_bytes", t.done_bytes()},
                           {"size", t.size()},
                           {"sources", t.sources()},
                           {"queue_position", t.queue_position()},
                           {"received", Received(t.received())}});
    }
    json uploads = json::array();
    for (const control::UploadTraffic& u : r.uploads()) {
      uploads.push_back({{"peer_id", u.peer_id()},
                         {"cid", u.cid()},
                         {"bytes_sent", u.bytes_sent()}});
    }
    json doc = {{"peer_id", r.peer_id()},
                {"supernode", r.supernode()},
                {"listen_address", r.listen_address()},
                {"shares", std::vector<std::string>(r.shares().begin(),
                                                    r.shares().end())},
                {"shared_files", r.shared_files()},
                {"shared_bytes", r.shared_bytes()},
                {"hashing", r.hashing()},
                {"uploads_active", r.uploads_active()},
                {"uploads_queued", r.uploads_queued()},
                {"uploads", uploads},
                {"download_dir", r.download_dir()},
                {"downloads_shared", r.downloads_shared()},
                {"transfers", transfers}};
    out << doc.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    return 0;
  }
  out << "peer id     " << r.peer_id() << "\n";
  out << "supernode   "
      << (r.supernode().empty() ? "not joined (retrying)" : r.supernode())
      << "\n";
  out << "serving on  " << r.listen_address() << "\n";
  out << "shares      "
      << (r.shares_size() == 0 ? "none" : absl::StrJoin(r.shares(), ", "))
      << "\n";
  out << "shared      " << r.shared_files()
      << (r.shared_files() == 1 ? " file, " : " files, ")
      << HumanBytes(r.shared_bytes()) << (r.hashing() ? " (hashing...)" : "")
      << "\n";
  out << "downloads   " << r.download_dir()
      << (r.downloads_shared() ? " (shared)" : " (not shared)") << "\n";
  out << "uploads     " << r.uploads_active() << " active, "
      << r.uploads_queued() << " queued\n";
  for (const control::UploadTraffic& u : r.uploads()) {
    out << "  sent " << HumanBytes(u.bytes_sent()) << " of "
        << u.cid().substr(0, 12) << " to peer " << u.peer_id().substr(0, 12)
        << "\n";
  }
  if (r.transfers_size() == 0) {
    out << "transfers   none\n";
  } else {
    out << "transfers\n";
    for (const control::Transfer& t : r.transfers()) {
      out << "  " << (t.name().empty() ? t.cid() : t.name()) << "  "
          << HumanBytes(t.done_bytes()) << " / " << HumanBytes(t.size())
          << (t.size() > 0 ? absl::StrCat("  ", t.done_bytes() * 100 / t.size(),
                                          "%")
                           : std::string())
          << "  " << t.sources() << (t.sources() == 1 ? " source" : " sources")
          << (t.queue_position() > 0
                  ? absl::StrCat("  queued #", t.queue_position())
                  : std::string())
          << "\n";
      for (const control::SourceTraffic& f : t.received()) {
        out << "    " << HumanBytes(f.bytes()) << " from peer "
            << f.peer_id().substr(0, 12) << " at " << f.address()
            << (f.partial() ? " (downloading too)" : " (complete)") << "\n";
      }
    }
  }
  return 0;
}

int RunRescan(const CliOptions& options, std::ostream& out, std::ostream& err) {
  auto stub = ConnectToDaemon(options.state_dir);
  if (!stub.ok()) return Fail(options, stub.status(), out, err, "rescan");
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(options));
  control::RescanResponse r;
  grpc::Status st = (*stub)->Rescan(&ctx, control::RescanRequest(), &r);
  if (!st.ok()) {
    return Fail(options, Explain(st, options.state_dir), out, err, "rescan");
  }
  if (options.json) {
    json doc = {{"added", r.added()}, {"removed", r.removed()}};
    out << doc.dump() << "\n";
  } else {
    out << "rescanned: " << r.added() << " added, " << r.removed()
        << " removed\n";
  }
  return 0;
}

}  // namespace trove
