#include "peer_client/cli.h"

#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/file_util.h"
#include "common/grpc_status.h"
#include "peer_client/cli_format.h"
#include "peer_client/json_format.h"

namespace trove {
namespace {

using nlohmann::json;

// ---- Interrupts

absl::Mutex interrupt_mu;
std::function<void()> interrupt_handler ABSL_GUARDED_BY(interrupt_mu);

// Sets the interrupt handler for the life of the object.
class ScopedInterruptHandler {
 public:
  explicit ScopedInterruptHandler(std::function<void()> h) {
    SetInterruptHandler(std::move(h));
  }
  ~ScopedInterruptHandler() { SetInterruptHandler(nullptr); }
};

// ---- Output helpers

int Fail(const CliOptions& options, const absl::Status& status,
         std::ostream& out, std::ostream& err, const std::string& verb,
         const std::string& cid = "") {
  if (options.json) {
    json e = ErrorJson(status);
    if (!cid.empty()) e["cid"] = cid;
    out << JsonLine(e) << "\n";
    out.flush();
  }
  err << "peer_client " << verb << ": " << status.message() << "\n";
  return kExitFailure;
}

// Turns a failed call into a message a user can act on: the daemon's own
// answer is passed on as it is; only when the connection to the daemon is
// gone is the daemon blamed.
absl::Status Explain(const grpc::Status& st, const DaemonConnection& daemon,
                     const std::string& state_dir) {
  absl::Status s = FromGrpcStatus(st);
  const grpc_connectivity_state state = daemon.channel->GetState(false);
  const bool connected = state == GRPC_CHANNEL_READY;
  if (!connected && (st.error_code() == grpc::StatusCode::UNAVAILABLE ||
                     st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)) {
    return absl::UnavailableError(absl::StrCat(
        "the peer daemon for ", state_dir,
        " stopped answering (did it exit? see its log): ", st.error_message()));
  }
  return s;
}

std::chrono::system_clock::time_point Deadline(const CliOptions& options) {
  return absl::ToChronoTime(absl::Now() + options.timeout);
}

int TerminalWidth(const CliOptions& options) {
  if (options.width > 0) return options.width;
  struct winsize ws;
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  if (const char* c = std::getenv("COLUMNS")) {
    int n = 0;
    if (absl::SimpleAtoi(c, &n) && n > 0) return n;
  }
  return 80;
}

std::string Short(const std::string& cid) { return cid.substr(0, 12); }

std::string StateText(const std::string& state) {
  static const std::map<std::string, std::string> kText = {
      {"waiting_for_network", "waiting for the network"},
      {"locating", "looking for sources"},
      {"waiting_for_sources", "waiting for sources"},
      {"queued", "queued"},
      {"downloading", "downloading"},
      {"paused", "paused"},
      {"done", "done"},
      {"failed", "failed"},
      {"cancelled", "cancelled"}};
  auto it = kText.find(state);
  return it == kText.end() ? state : it->second;
}

bool IsActive(const std::string& state) {
  return state != "done" && state != "failed" && state != "cancelled" &&
         state != "paused";
}

ProgressView ViewOf(const control::GetProgress& p) {
  ProgressView v;
  v.name = p.name();
  v.done = p.done_bytes();
  v.size = p.size();
  v.bytes_per_second = p.bytes_per_second();
  v.sources = p.sources();
  v.queue_position = p.queue_position();
  v.state_text = p.done() ? "done" : StateText(p.state());
  return v;
}

// ---- Last search

std::string LastSearchPath(const std::string& state_dir) {
  return absl::StrCat(state_dir, "/last_search.json");
}

void SaveLastSearch(const std::string& state_dir, const std::string& query,
                    const std::vector<SearchHit>& found) {
  json hits = json::array();
  for (const SearchHit& h : found) {
    hits.push_back({{"cid", h.cid()}, {"name", h.name()}, {"size", h.size()}});
  }
  // Best effort: a search that cannot be saved still printed its hits.
  WriteFileAtomic(LastSearchPath(state_dir),
                  JsonLine({{"query", query}, {"hits", hits}}) + "\n", 0600)
      .IgnoreError();
}

struct SavedHit {
  std::string cid;
  std::string name;
  int64_t size = -1;
};

std::vector<SavedHit> LoadLastSearch(const std::string& state_dir) {
  std::vector<SavedHit> out;
  absl::StatusOr<std::string> text = ReadFile(LastSearchPath(state_dir));
  if (!text.ok()) return out;
  json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("hits") || !doc["hits"].is_array()) {
    return out;
  }
  for (const json& h : doc["hits"]) {
    if (!h.is_object() || !h.contains("cid") || !h["cid"].is_string()) continue;
    SavedHit s;
    s.cid = h["cid"].get<std::string>();
    if (h.contains("name") && h["name"].is_string()) {
      s.name = h["name"].get<std::string>();
    }
    if (h.contains("size") && h["size"].is_number_integer()) {
      s.size = h["size"].get<int64_t>();
    }
    out.push_back(std::move(s));
  }
  return out;
}

// ---- Naming downloads

struct Target {
  std::string cid;
  // What a link or a search hit said of the file.
  std::string expected_name;
  int64_t expected_size = -1;
};

bool AllDigits(absl::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
}

bool AllHex(absl::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isxdigit(c); });
}

// Resolves a CID, link, hit number or cid prefix. INVALID_ARGUMENT (a usage
// error) when it names nothing or more than one file; the daemon's error
// when it cannot be asked.
absl::StatusOr<Target> Resolve(const CliOptions& options,
                               const DaemonConnection& daemon,
                               const std::string& arg) {
  absl::StatusOr<TroveLink> link = ParseTroveLink(arg);
  if (link.ok()) {
    Target t;
    t.cid = link->cid;
    t.expected_name = link->name;
    t.expected_size = link->size;
    return t;
  }
  if (AllDigits(arg) && arg.size() <= 3) {
    int n = 0;
    absl::SimpleAtoi(arg, &n);
    std::vector<SavedHit> hits = LoadLastSearch(options.state_dir);
    if (hits.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", arg, "' is a hit number, but no search was saved yet: run "
          "peer_client search first"));
    }
    if (n < 1 || n > static_cast<int>(hits.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the last search had ", hits.size(), hits.size() == 1 ? " hit" : " hits",
          "; ", arg, " is not one of them"));
    }
    const SavedHit& h = hits[n - 1];
    Target t;
    t.cid = h.cid;
    t.expected_name = h.name;
    t.expected_size = h.size;
    return t;
  }
  if (!AllHex(arg) || arg.size() < 4 || arg.size() >= 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not a cid, trove: link, hit number or cid prefix: '", arg,
        "' (a cid is 64 hex digits; a prefix needs 4 or more)"));
  }
  // A prefix: of the last search's hits or the daemon's downloads.
  const std::string prefix = absl::AsciiStrToLower(arg);
  std::map<std::string, Target> found;
  for (const SavedHit& h : LoadLastSearch(options.state_dir)) {
    if (absl::StartsWith(h.cid, prefix)) {
      found[h.cid] = Target{h.cid, h.name, h.size};
    }
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(options));
  control::ListResponse list;
  grpc::Status st = daemon.stub->List(&ctx, control::ListRequest(), &list);
  if (!st.ok()) return Explain(st, daemon, options.state_dir);
  for (const control::GetProgress& d : list.downloads()) {
    if (absl::StartsWith(d.cid(), prefix) && found.count(d.cid()) == 0) {
      found[d.cid()] = Target{d.cid(), "", -1};
    }
  }
  if (found.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no cid of the last search or of the downloads starts with ", prefix,
        "; give the whole cid"));
  }
  if (found.size() > 1) {
    std::vector<std::string> cids;
    for (const auto& [cid, t] : found) cids.push_back(cid);
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, " is ambiguous: it starts ", absl::StrJoin(cids, ", "),
        "; give more digits"));
  }
  return found.begin()->second;
}

// The download of `cid` as the daemon lists it; NOT_FOUND when it has none.
absl::StatusOr<control::GetProgress> FindDownload(
    const CliOptions& options, const DaemonConnection& daemon,
    const std::string& cid) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(options));
  control::ListResponse list;
  grpc::Status st = daemon.stub->List(&ctx, control::ListRequest(), &list);
  if (!st.ok()) return Explain(st, daemon, options.state_dir);
  for (const control::GetProgress& d : list.downloads()) {
    if (d.cid() == cid) return d;
  }
  return absl::NotFoundError(absl::StrCat("no download of ", cid));
}

// ---- Following a download

// Draws a download's progress: in place on a terminal, a line now and then
// otherwise.
class ProgressDrawer {
 public:
  ProgressDrawer(const CliOptions& options, std::ostream& err)
      : options_(options), err_(err) {}

  void Draw(const control::GetProgress& p) {
    const std::string state = p.done() ? "done" : p.state();
    if (options_.tty) {
      // One column spare: writing the last column makes some terminals
      // wrap.
      err_ << "\r" << ProgressLine(ViewOf(p), TerminalWidth(options_) - 1)
           << "\x1b[K";
      err_.flush();
      open_ = true;
    } else if (p.done() || state != last_state_ ||
               absl::Now() - last_plain_ >= options_.plain_progress_every) {
      err_ << ProgressLine(ViewOf(p)) << "\n";
      err_.flush();
      last_plain_ = absl::Now();
    }
    last_state_ = state;
  }

  // Ends the line being redrawn.
  void End() {
    if (open_) err_ << "\n";
    open_ = false;
    err_.flush();
  }

 private:
  const CliOptions& options_;
  std::ostream& err_;
  bool open_ = false;
  std::string last_state_;
  absl::Time last_plain_ = absl::InfinitePast();
};

// Reads a Get or Watch stream to its end, showing the progress. Returns the
// exit code.
int Follow(const CliOptions& options, const DaemonConnection& daemon,
           grpc::ClientContext* ctx,
           grpc::ClientReader<control::GetProgress>* reader,
           const std::string& cid, const std::string& verb, std::ostream& out,
           std::ostream& err) {
  std::atomic<bool> interrupted{false};
  ScopedInterruptHandler on_interrupt([&] {
    interrupted = true;
    ctx->TryCancel();
  });
  ProgressDrawer drawer(options, err);
  control::GetProgress p;
  control::GetProgress last;
  bool any = false;
  while (reader->Read(&p)) {
    last = p;
    any = true;
    if (options.json) {
      json line = DownloadJson(p);
      line["event"] = p.done() ? "done" : "progress";
      out << JsonLine(line) << "\n";
      out.flush();
      continue;
    }
    if (p.done() && p.already_there()) continue;
    drawer.Draw(p);
  }
  grpc::Status st = reader->Finish();
  drawer.End();
  if (interrupted) {
    if (options.json) {
      out << JsonLine({{"event", "detached"}, {"cid", cid}}) << "\n";
    }
    err << (verb == "watch" ? "stopped watching" : "detached")
        << ": the download goes on in the daemon (peer_client watch "
        << Short(cid) << " to follow it; pause or cancel it the same way)\n";
    return kExitInterrupted;
  }
  if (!st.ok()) {
    absl::Status why = Explain(st, daemon, options.state_dir);
    return Fail(options, why, out, err, verb, cid);
  }
  if (!any || !last.done()) {
    return Fail(options,
                absl::InternalError("the daemon ended the download without a "
                                    "result"),
                out, err, verb, cid);
  }
  if (!options.json) {
    if (last.already_there()) {
      out << "already there: " << last.path() << " (" << HumanBytes(last.size())
          << "); nothing was fetched\n";
    } else {
      out << "saved " << last.path() << " (" << HumanBytes(last.size()) << ")\n";
    }
  }
  return kExitOk;
}

// One line about a download, for list and the answers of pause, resume,
// cancel.
std::string DescribeDownload(const control::GetProgress& d) {
  return absl::StrCat(d.name().empty() ? "(name not known yet)" : d.name(),
                      " (", Short(d.cid()), ")");
}

// Applies `action` (Pause, Resume, Cancel) to each target, printing the
// result. `all` selects the downloads `pick` accepts instead.
int OnEach(const CliOptions& options, const std::vector<std::string>& targets,
           bool all, const std::string& verb,
           const std::function<bool(const control::GetProgress&)>& pick,
           const std::function<grpc::Status(control::ControlService::Stub*,
                                            grpc::ClientContext*,
                                            const control::DownloadRef&,
                                            control::GetProgress*)>& action,
           const std::string& done_word, std::ostream& out, std::ostream& err) {
  if (targets.empty() && !all) {
    return UsageError(options, verb,
                      "name the downloads (CID, prefix or number), or --all",
                      out, err);
  }
  if (!targets.empty() && all) {
    return UsageError(options, verb, "give downloads or --all, not both", out,
                      err);
  }
  absl::StatusOr<DaemonConnection> daemon = ConnectToDaemon(options.state_dir);
  if (!daemon.ok()) return Fail(options, daemon.status(), out, err, verb);
  std::vector<std::string> cids;
  if (all) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(options));
    control::ListResponse list;
    grpc::Status st = daemon->stub->List(&ctx, control::ListRequest(), &list);
    if (!st.ok()) {
      return Fail(options, Explain(st, *daemon, options.state_dir), out, err,
                  verb);
    }
    for (const control::GetProgress& d : list.downloads()) {
      if (pick(d)) cids.push_back(d.cid());
    }
  } else {
    for (const std::string& t : targets) {
      absl::StatusOr<Target> target = Resolve(options, *daemon, t);
      if (!target.ok()) {
        if (absl::IsInvalidArgument(target.status())) {
          return UsageError(options, verb, std::string(target.status().message()),
                            out, err);
        }
        return Fail(options, target.status(), out, err, verb);
      }
      cids.push_back(target->cid);
    }
  }
  json results = json::array();
  int exit = kExitOk;
  for (const std::string& cid : cids) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(options));
    control::DownloadRef ref;
    ref.set_cid(cid);
    control::GetProgress p;
    grpc::Status st = action(daemon->stub.get(), &ctx, ref, &p);
    if (!st.ok()) {
      Fail(options, Explain(st, *daemon, options.state_dir), out, err, verb,
           cid);
      exit = kExitFailure;
      continue;
    }
    if (options.json) {
      results.push_back(DownloadJson(p));
    } else {
      out << done_word << " " << DescribeDownload(p) << ": "
          << StateText(p.state())
          << (p.detail().empty() ? "" : " (" + p.detail() + ")") << "\n";
    }
  }
  if (options.json) out << JsonLine({{"downloads", results}}) << "\n";
  if (!options.json && all && cids.empty()) {
    out << "nothing to " << verb << "\n";
  }
  return exit;
}

}  // namespace

void InstallInterruptThread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    while (true) {
      int sig = 0;
      if (::sigwait(&set, &sig) != 0) continue;
      std::function<void()> handler;
      {
        absl::MutexLock lock(&interrupt_mu);
        handler = interrupt_handler;
      }
      if (handler) {
        handler();
      } else {
        (void)!::write(STDERR_FILENO, "\n", 1);
        ::_exit(kExitInterrupted);
      }
    }
  }).detach();
}

void SetInterruptHandler(std::function<void()> handler) {
  absl::MutexLock lock(&interrupt_mu);
  interrupt_handler = std::move(handler);
}

absl::StatusOr<DaemonConnection> ConnectToDaemon(const std::string& state_dir) {
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
  DaemonConnection c;
  c.channel = grpc::CreateChannel(absl::StrCat("unix:", socket),
                                  grpc::InsecureChannelCredentials());
  if (!c.channel->WaitForConnected(
          absl::ToChronoTime(absl::Now() + absl::Seconds(5)))) {
    return absl::UnavailableError(absl::StrCat(
        "the peer daemon for ", state_dir, " is not answering on ", socket,
        " (it may have exited; start it again)"));
  }
  c.stub = control::ControlService::NewStub(c.channel);
  return c;
}

int UsageError(const CliOptions& options, const std::string& verb,
               const std::string& message, std::ostream& out,
               std::ostream& err) {
  const std::string hint =
      absl::StrCat("run 'peer_client ", verb.empty() ? "" : verb + " ",
                   "--help' for help");
  if (options.json) {
    json e = ErrorJson(absl::InvalidArgumentError(message));
    e["hint"] = hint;
    out << JsonLine(e) << "\n";
    out.flush();
  }
  err << "peer_client" << (verb.empty() ? "" : " " + verb) << ": " << message
      << "\n"
      << absl::AsciiStrToUpper(hint.substr(0, 1)) << hint.substr(1) << ".\n";
  return kExitUsage;
}

int RunSearch(const CliOptions& options, const SearchQuery& query, bool links,
              int page, std::ostream& out, std::ostream& err) {
  absl::StatusOr<DaemonConnection> daemon = ConnectToDaemon(options.state_dir);
  if (!daemon.ok()) return Fail(options, daemon.status(), out, err, "search");
  // Page N follows the cursors of the pages before it, so that its hits
  // are numbered after theirs and `get NUMBER` finds any of them.
  std::vector<SearchHit> found;
  size_t shown_from = 0;
  SearchQuery q = query;
  control::ControlSearchResponse resp;
  bool partial = false;
  for (int p = 1; p <= page; ++p) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(options));
    resp.Clear();
    grpc::Status st = daemon->stub->Search(&ctx, q, &resp);
    if (!st.ok()) {
      return Fail(options, Explain(st, *daemon, options.state_dir), out, err,
                  "search");
    }
    partial = partial || resp.partial();
    shown_from = found.size();
    found.insert(found.end(), resp.hits().begin(), resp.hits().end());
    if (p < page && resp.next_cursor().empty()) {
      return UsageError(
          options, "search",
          absl::StrCat("there is no page ", page, ": the hits end on page ", p),
          out, err);
    }
    q.set_cursor(resp.next_cursor());
  }
  SaveLastSearch(options.state_dir, query.text(), found);
  const size_t shown = found.size() - shown_from;
  if (options.json) {
    json hits = json::array();
    for (size_t i = shown_from; i < found.size(); ++i) {
      hits.push_back(HitJson(found[i], static_cast<int>(i + 1)));
    }
    out << JsonLine({{"hits", hits},
                     {"partial", partial},
                     {"page", page},
                     {"next_cursor", resp.next_cursor()}})
        << "\n";
    return kExitOk;
  }
  if (shown == 0) {
    out << "No files found for \"" << query.text() << "\".\n";
  } else if (links) {
    for (size_t i = shown_from; i < found.size(); ++i) {
      const SearchHit& h = found[i];
      out << absl::StrFormat("%3d  %s\n", i + 1,
                             MakeTroveLink(h.cid(), h.name(), h.size()));
    }
  } else {
    out << absl::StrFormat("%3s  %10s  %7s  %-12s  %s\n", "#", "SIZE",
                           "SOURCES", "CID", "NAME");
    for (size_t i = shown_from; i < found.size(); ++i) {
      const SearchHit& h = found[i];
      out << absl::StrFormat("%3d  %10s  %7d  %-12s  %s\n", i + 1,
                             HumanBytes(h.size()), h.source_count(),
                             Short(h.cid()), h.name());
    }
  }
  if (shown > 0) {
    out << shown << (shown == 1 ? " file" : " files");
    if (page > 1) out << " on page " << page;
    out << ". Download one with: peer_client get NUMBER (or a cid, or its "
           "first digits)\n";
  }
  if (!resp.next_cursor().empty()) {
    out << "More on the next page: the same search with --page=" << page + 1
        << "\n";
  }
  if (partial) {
    out << "(Partial results: only part of the network answered.)\n";
  }
  return kExitOk;
}

int RunGet(const CliOptions& options, const GetArgs& args, std::ostream& out,
           std::ostream& err) {
  const std::string verb = args.wait ? "get" : "add";
  absl::StatusOr<DaemonConnection> daemon = ConnectToDaemon(options.state_dir);
  if (!daemon.ok()) return Fail(options, daemon.status(), out, err, verb);
  absl::StatusOr<Target> target = Resolve(options, *daemon, args.target);
  if (!target.ok()) {
    if (absl::IsInvalidArgument(target.status())) {
      return UsageError(options, verb, std::string(target.status().message()),
                        out, err);
    }
    return Fail(options, target.status(), out, err, verb);
  }
  control::GetRequest req;
  req.set_cid(target->cid);
  req.set_out_dir(args.out_dir);
  req.set_name(args.name);
  if (target->expected_size >= 0) req.set_expected_size(target->expected_size);
  req.set_expected_name(target->expected_name);
  req.set_paused(args.paused);
  if (!args.wait || args.paused) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(options));
    control::GetProgress p;
    grpc::Status st = daemon->stub->Add(&ctx, req, &p);
    if (!st.ok()) {
      return Fail(options, Explain(st, *daemon, options.state_dir), out, err,
                  verb, target->cid);
    }
    if (options.json) {
      json line = DownloadJson(p);
      line["event"] = p.done() ? "done" : "added";
      out << JsonLine(line) << "\n";
    } else if (p.done()) {
      out << "already there: " << p.path() << " (" << HumanBytes(p.size())
          << ")\n";
    } else {
      out << "added " << DescribeDownload(p) << " into " << p.out_dir() << ": "
          << StateText(p.state()) << "\n"
          << "Follow it with: peer_client watch " << Short(p.cid()) << "\n";
    }
    return kExitOk;
  }
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<control::GetProgress>> reader =
      daemon->stub->Get(&ctx, req);
  return Follow(options, *daemon, &ctx, reader.get(), target->cid, verb, out,
                err);
}

int RunList(const CliOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<DaemonConnection> daemon = ConnectToDaemon(options.state_dir);
  if (!daemon.ok()) return Fail(options, daemon.status(), out, err, "list");
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(options));
  control::ListResponse list;
  grpc::Status st = daemon->stub->List(&ctx, control::ListRequest(), &list);
  if (!st.ok()) {
    return Fail(options, Explain(st, *daemon, options.state_dir), out, err,
                "list");
  }
  if (options.json) {
    json downloads = json::array();
    for (const control::GetProgress& d : list.downloads()) {
      downloads.push_back(DownloadJson(d));
    }
    out << JsonLine({{"downloads", downloads}}) << "\n";
    return kExitOk;
  }
  if (list.downloads_size() == 0) {
    out << "No downloads.\n";
    return kExitOk;
  }
  out << absl::StrFormat("%-12s  %-19s  %4s  %10s  %11s  %7s  %3s  %s\n", "CID",
                         "STATE", "DONE", "SIZE", "RATE", "ETA", "SRC", "NAME");
  for (const control::GetProgress& d : list.downloads()) {
    const std::string pct =
        d.state() == "done" ? "100%"
        : d.size() > 0      ? absl::StrCat(d.done_bytes() * 100 / d.size(), "%")
                            : "";
    std::string eta;
    if (d.state() == "downloading" && d.bytes_per_second() > 0 &&
        d.size() >= d.done_bytes()) {
      eta = HumanDuration((d.size() - d.done_bytes()) / d.bytes_per_second());
    }
    out << absl::StrFormat(
        "%-12s  %-19s  %4s  %10s  %11s  %7s  %3d  %s\n", Short(d.cid()),
        StateText(d.state()), pct, d.size() > 0 ? HumanBytes(d.size()) : "?",
        d.state() == "downloading" ? HumanRate(d.bytes_per_second()) : "",
        eta, d.sources(), d.name().empty() ? "?" : d.name());
    if (d.state() == "done") {
      out << "              " << d.path() << "\n";
    } else if (!d.detail().empty()) {
      out << "              " << d.detail() << "\n";
    }
  }
  return kExitOk;
}

int RunWatch(const CliOptions& options, const std::vector<std::string>& targets,
             std::ostream& out, std::ostream& err) {
  if (targets.size() > 1) {
    return UsageError(options, "watch", "give one download, or none for all",
                      out, err);
  }
  absl::StatusOr<DaemonConnection> daemon = ConnectToDaemon(options.state_dir);
  if (!daemon.ok()) return Fail(options, daemon.status(), out, err, "watch");
  if (targets.size() == 1) {
    absl::StatusOr<Target> target = Resolve(options, *daemon, targets[0]);
    if (!target.ok()) {
      if (absl::IsInvalidArgument(target.status())) {
        return UsageError(options, "watch",
                          std::string(target.status().message()), out, err);
      }
      return Fail(options, target.status(), out, err, "watch");
    }
    grpc::ClientContext ctx;
    control::DownloadRef ref;
    ref.set_cid(target->cid);
    std::unique_ptr<grpc::ClientReader<control::GetProgress>> reader =
        daemon->stub->Watch(&ctx, ref);
    return Follow(options, *daemon, &ctx, reader.get(), target->cid, "watch",
                  out, err);
  }
  // Every download, until none is active.
  std::atomic<bool> interrupted{false};
  ScopedInterruptHandler on_interrupt([&] { interrupted = true; });
  int drawn_lines = 0;
  absl::Time last_plain = absl::InfinitePast();
  const absl::Duration every = absl::Seconds(1);
  while (!interrupted) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(options));
    control::ListResponse list;
    grpc::Status st = daemon->stub->List(&ctx, control::ListRequest(), &list);
    if (!st.ok()) {
      return Fail(options, Explain(st, *daemon, options.state_dir), out, err,
                  "watch");
    }
    bool active = false;
    for (const control::GetProgress& d : list.downloads()) {
      active = active || IsActive(d.state());
    }
    if (options.json) {
      json downloads = json::array();
      for (const control::GetProgress& d : list.downloads()) {
        downloads.push_back(DownloadJson(d));
      }
      out << JsonLine({{"downloads", downloads}}) << "\n";
      out.flush();
    } else if (options.tty) {
      // Redraw the block in place: up to its first line, then each line.
      if (drawn_lines > 0) err << "\x1b[" << drawn_lines << "A";
      const int width = TerminalWidth(options) - 1;
      int lines = 0;
      for (const control::GetProgress& d : list.downloads()) {
        err << "\r" << ProgressLine(ViewOf(d), width) << "\x1b[K\n";
        ++lines;
      }
      if (lines == 0) {
        err << "\rNo downloads.\x1b[K\n";
        lines = 1;
      }
      for (int i = lines; i < drawn_lines; ++i) err << "\x1b[K\n";
      if (drawn_lines > lines) err << "\x1b[" << (drawn_lines - lines) << "A";
      drawn_lines = lines;
      err.flush();
    } else if (!active ||
               absl::Now() - last_plain >= options.plain_progress_every) {
      for (const control::GetProgress& d : list.downloads()) {
        err << ProgressLine(ViewOf(d)) << "\n";
      }
      if (list.downloads_size() == 0) err << "No downloads.\n";
      err.flush();
      last_plain = absl::Now();
    }
    if (!active) return kExitOk;
    const absl::Time until = absl::Now() + every;
    while (!interrupted && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
  err << "stopped watching; the downloads go on in the daemon\n";
  return kExitInterrupted;
}

int RunPause(const CliOptions& options, const std::vector<std::string>& targets,
             bool all, std::ostream& out, std::ostream& err) {
  return OnEach(
      options, targets, all, "pause",
      [](const control::GetProgress& d) { return IsActive(d.state()); },
      [](control::ControlService::Stub* stub, grpc::ClientContext* ctx,
         const control::DownloadRef& ref, control::GetProgress* p) {
        return stub->Pause(ctx, ref, p);
      },
      "paused", out, err);
}

int RunResume(const CliOptions& options,
              const std::vector<std::string>& targets, bool all,
              std::ostream& out, std::ostream& err) {
  return OnEach(
      options, targets, all, "resume",
      [](const control::GetProgress& d) {
        return d.state() == "paused" || d.state() == "failed";
      },
      [](control::ControlService::Stub* stub, grpc::ClientContext* ctx,
         const control::DownloadRef& ref, control::GetProgress* p) {
        return stub->Resume(ctx, ref, p);
      },
      "resumed", out, err);
}

int RunCancel(const CliOptions& options,
              const std::vector<std::string>& targets, bool yes,
              std::istream& in, std::ostream& out, std::ostream& err) {
  if (targets.empty()) {
    return UsageError(options, "cancel",
                      "name the downloads to cancel (CID, prefix or number)",
                      out, err);
  }
  absl::StatusOr<DaemonConnection> daemon = ConnectToDaemon(options.state_dir);
  if (!daemon.ok()) return Fail(options, daemon.status(), out, err, "cancel");
  // Every target first: nothing is cancelled when one is wrong.
  std::vector<control::GetProgress> downloads;
  for (const std::string& t : targets) {
    absl::StatusOr<Target> target = Resolve(options, *daemon, t);
    if (!target.ok()) {
      if (absl::IsInvalidArgument(target.status())) {
        return UsageError(options, "cancel",
                          std::string(target.status().message()), out, err);
      }
      return Fail(options, target.status(), out, err, "cancel");
    }
    absl::StatusOr<control::GetProgress> d =
        FindDownload(options, *daemon, target->cid);
    if (!d.ok()) return Fail(options, d.status(), out, err, "cancel", target->cid);
    downloads.push_back(*d);
  }
  // Verified data is deleted only when the user says so.
  for (const control::GetProgress& d : downloads) {
    if (yes || d.state() == "done" || d.done_bytes() == 0) continue;
    const std::string what = absl::StrCat(
        "cancel ", DescribeDownload(d), " and delete the ",
        HumanBytes(d.done_bytes()), " verified so far");
    if (!options.interactive || options.json) {
      return UsageError(options, "cancel",
                        absl::StrCat("this would ", what,
                                     ": confirm with --yes"),
                        out, err);
    }
    err << absl::AsciiStrToUpper(what.substr(0, 1)) << what.substr(1)
        << "? [y/N] ";
    err.flush();
    std::string answer;
    if (!std::getline(in, answer)) answer.clear();
    answer = absl::AsciiStrToLower(absl::StripAsciiWhitespace(answer));
    if (answer != "y" && answer != "yes") {
      out << "not cancelled: " << DescribeDownload(d) << "\n";
      return kExitFailure;
    }
  }
  json results = json::array();
  int exit = kExitOk;
  for (const control::GetProgress& d : downloads) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(options));
    control::DownloadRef ref;
    ref.set_cid(d.cid());
    control::GetProgress p;
    grpc::Status st = daemon->stub->Cancel(&ctx, ref, &p);
    if (!st.ok()) {
      Fail(options, Explain(st, *daemon, options.state_dir), out, err, "cancel",
           d.cid());
      exit = kExitFailure;
      continue;
    }
    if (options.json) {
      results.push_back(DownloadJson(p));
    } else if (d.state() == "done") {
      out << "forgot " << DescribeDownload(d) << " (the file stays at "
          << d.path() << ")\n";
    } else {
      out << "cancelled " << DescribeDownload(d)
          << (d.done_bytes() > 0
                  ? absl::StrCat(": deleted the ", HumanBytes(d.done_bytes()),
                                 " downloaded")
                  : std::string())
          << "\n";
    }
  }
  if (options.json) out << JsonLine({{"downloads", results}}) << "\n";
  return exit;
}

int RunStatus(const CliOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<DaemonConnection> daemon = ConnectToDaemon(options.state_dir);
  if (!daemon.ok()) return Fail(options, daemon.status(), out, err, "status");
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(options));
  control::StatusResponse r;
  grpc::Status st = daemon->stub->Status(&ctx, control::StatusRequest(), &r);
  if (!st.ok()) {
    return Fail(options, Explain(st, *daemon, options.state_dir), out, err,
                "status");
  }
  if (options.json) {
    out << JsonLine(StatusJson(r)) << "\n";
    return kExitOk;
  }
  out << "peer id     " << r.peer_id() << "\n";
  out << "supernode   "
      << (r.supernode().empty()
              ? "not joined: " +
                    (r.join_status().empty() ? std::string("joining")
                                             : r.join_status())
              : r.supernode())
      << "\n";
  if (!r.backup().empty()) out << "backup      " << r.backup() << "\n";
  out << "serving on  " << r.listen_address() << "\n";
  if (!r.role().empty()) {
    out << "role        " << r.role();
    if (!r.hosted_supernode().empty()) {
      out << " on " << r.hosted_supernode() << ", " << r.hosted_leaves()
          << (r.hosted_leaves() == 1 ? " leaf" : " leaves");
    }
    out << "\n";
  }
  if (!r.web_address().empty()) {
    absl::StatusOr<std::string> token =
        ReadFile(absl::StrCat(options.state_dir, "/web_token"));
    out << "web page    " << r.web_address()
        << (token.ok() ? "#token=" + std::string(absl::StripAsciiWhitespace(*token))
                       : std::string())
        << "\n";
  }
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
        << Short(u.cid()) << " to peer " << Short(u.peer_id()) << "\n";
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
          << "  " << StateText(t.state()) << "  " << t.sources()
          << (t.sources() == 1 ? " source" : " sources")
          << (t.queue_position() > 0
                  ? absl::StrCat("  queued #", t.queue_position())
                  : std::string())
          << "\n";
      if (!t.detail().empty()) out << "    " << t.detail() << "\n";
      for (const control::SourceTraffic& f : t.received()) {
        out << "    " << HumanBytes(f.bytes()) << " from peer "
            << Short(f.peer_id()) << " at " << f.address()
            << (f.partial() ? " (downloading too)" : " (complete)") << "\n";
      }
    }
  }
  return kExitOk;
}

int RunRescan(const CliOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<DaemonConnection> daemon = ConnectToDaemon(options.state_dir);
  if (!daemon.ok()) return Fail(options, daemon.status(), out, err, "rescan");
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(options));
  control::RescanResponse r;
  grpc::Status st = daemon->stub->Rescan(&ctx, control::RescanRequest(), &r);
  if (!st.ok()) {
    return Fail(options, Explain(st, *daemon, options.state_dir), out, err,
                "rescan");
  }
  if (options.json) {
    out << JsonLine({{"added", r.added()}, {"removed", r.removed()}}) << "\n";
  } else {
    out << "rescanned: " << r.added() << " added, " << r.removed()
        << " removed\n";
  }
  return kExitOk;
}

int RunConfig(const CliOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<DaemonConnection> daemon = ConnectToDaemon(options.state_dir);
  if (!daemon.ok()) return Fail(options, daemon.status(), out, err, "config");
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(options));
  control::ConfigResponse r;
  grpc::Status st =
      daemon->stub->GetConfig(&ctx, control::ConfigRequest(), &r);
  if (!st.ok()) {
    return Fail(options, Explain(st, *daemon, options.state_dir), out, err,
                "config");
  }
  if (options.json) {
    json settings = json::object();
    for (const control::Setting& s : r.settings()) settings[s.name()] = s.value();
    out << JsonLine({{"settings", settings}}) << "\n";
  } else {
    out << r.text();
  }
  return kExitOk;
}

int RunLimits(const CliOptions& options, const control::LimitsRequest& request,
              std::ostream& out, std::ostream& err) {
  absl::StatusOr<DaemonConnection> daemon = ConnectToDaemon(options.state_dir);
  if (!daemon.ok()) return Fail(options, daemon.status(), out, err, "limits");
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(options));
  control::Limits l;
  grpc::Status st = daemon->stub->SetLimits(&ctx, request, &l);
  if (!st.ok()) {
    return Fail(options, Explain(st, *daemon, options.state_dir), out, err,
                "limits");
  }
  if (options.json) {
    out << JsonLine(LimitsJson(l)) << "\n";
    return kExitOk;
  }
  auto rate = [](int64_t r) {
    return r > 0 ? HumanRate(static_cast<double>(r)) : std::string("unlimited");
  };
  out << "upload      " << rate(l.max_upload_rate()) << " (per peer "
      << rate(l.max_upload_rate_per_peer()) << ")\n"
      << "download    " << rate(l.max_download_rate()) << " (per peer "
      << rate(l.max_download_rate_per_peer()) << ")\n"
      << "slots       " << l.max_uploads() << " peers served at once\n";
  return kExitOk;
}

}  // namespace trove
