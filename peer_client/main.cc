// peer_client: the Trove peer. `peer_client daemon` shares folders, serves
// them and runs downloads; the other verbs (search, get, list, watch,
// pause, resume, cancel, status, ...) talk to the daemon through its Unix
// socket in the state folder. The daemon's flags are here; the verbs' are in
// cli_flags.cc.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "common/community_ca.h"
#include "common/community_files.h"
#include "common/community_link.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/server_util.h"
#include "common/startup.h"
#include "common/search/kinds.h"
#include "common/tls_credentials.h"
#include "common/tls_flags.h"
#include "common/validation.h"
#include "peer_client/cli.h"
#include "peer_client/cli_flags.h"
#include "peer_client/cli_format.h"
#include "peer_client/daemon.h"

// Shared by every verb.
ABSL_FLAG(std::string, state, "",
          "state folder of the daemon (identity, hash cache, control socket); "
          "default $HOME/.trove");

// daemon
ABSL_FLAG(std::string, supernode, "",
          "supernode(s) to join, host:port[,host:port...] (first is primary)");
ABSL_FLAG(std::string, index, "",
          "index server host:port to ask for a supernode (instead of "
          "--supernode, or as a fallback)");
ABSL_FLAG(std::string, join, "",
          "daemon: the community's link, trove://HOST:PORT?ca=FINGERPRINT: the "
          "index to ask for a supernode and the CA to trust (learned from the "
          "index once and kept in STATE/community_ca.pem)");
ABSL_FLAG(int, join_timeout_ms, 30000,
          "daemon: at the first start with --join, how long to try the index "
          "to learn the community CA");
ABSL_FLAG(std::vector<std::string>, share, {},
          "folders to share, comma-separated (recursively)");
ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "host:port for serving files to other peers (port 0: a free port)");
ABSL_FLAG(std::string, advertise, "",
          "host:port to announce to the network instead of the bound address");
ABSL_FLAG(std::string, ready_file, "",
          "write the serving address here once the daemon is ready");
ABSL_FLAG(int, rescan_interval_ms, 5000, "how often shared folders are rescanned");
ABSL_FLAG(std::string, download_dir, "",
          "daemon: where downloads are saved (default STATE/downloads)");
ABSL_FLAG(bool, share_downloads, true,
          "daemon: share the download folder (--noshare_downloads: do not)");
ABSL_FLAG(int, extent_chunks, 4,
          "daemon: chunks per extent of the random chunk order among equally "
          "rare chunks");
ABSL_FLAG(bool, initial_seeding, true,
          "daemon: while a crowd downloads a file held in full, send each "
          "chunk to one downloader until every chunk went out once");
ABSL_FLAG(int, max_uploads, 32,
          "peers served at once (upload slots); more wait in a queue");
ABSL_FLAG(int, slot_idle_ms, 2000,
          "free an upload slot after this long without a request from its peer");
ABSL_FLAG(int, slot_retry_after_ms, 1000,
          "how soon a queued peer is told to ask again");
ABSL_FLAG(int, queue_stale_ms, 3000,
          "drop a queued peer that has not asked again for this long");
ABSL_FLAG(int, max_upload_queue, 1000, "most peers waiting for an upload slot");
ABSL_FLAG(int, slot_turn_ms, 5000,
          "while others wait, a peer keeps an upload slot this long at most, "
          "then queues again (0: no limit)");
ABSL_FLAG(int, max_streams_per_peer, 16,
          "chunk streams served to one peer at once");
ABSL_FLAG(int, upload_stall_ms, 60000,
          "a chunk stream whose peer takes no data for this long is cancelled "
          "and the peer loses its upload slot for as long (0: never)");
ABSL_FLAG(std::string, max_upload_rate, "0",
          "upload limit, bytes/s over all peers (10M, 512k...; 0: unlimited)");
ABSL_FLAG(std::string, max_upload_rate_per_peer, "0",
          "upload limit per peer, bytes/s (0: unlimited)");
ABSL_FLAG(std::string, max_download_rate, "0",
          "download limit, bytes/s over all sources (0: unlimited)");
ABSL_FLAG(std::string, max_download_rate_per_peer, "0",
          "download limit per source, bytes/s (0: unlimited)");
ABSL_FLAG(bool, testonly_corrupt_chunks, false,
          "FOR TESTS ONLY: flip a byte in every chunk served (a hostile source)");
ABSL_FLAG(int, max_indexes_per_request, 4096,
          "most chunks another peer may ask for in one request");
ABSL_FLAG(int, chunks_per_request, 8, "most chunks asked of a source per request");
ABSL_FLAG(int, streams_per_source, 4,
          "requests in flight per source (most chunks in flight at one source: "
          "chunks_per_request * streams_per_source)");
ABSL_FLAG(int, connections_per_source, 1,
          "connections per source the requests are spread over (over TLS, "
          "more than one lets more than one core encrypt and decrypt)");
ABSL_FLAG(int, max_sources, 16, "most sources used at once per download");
ABSL_FLAG(int, max_requests_per_download, 8,
          "most requests in flight per download, over all its sources");
ABSL_FLAG(int, relocate_interval_ms, 5000,
          "how often a running download asks for new sources");
ABSL_FLAG(int, source_retry_ms, 30000,
          "try a source that failed again after this long (if still listed)");
ABSL_FLAG(int, relocate_backoff_max_ms, 30000,
          "while a download has no usable source, look for sources again "
          "after 1s, then twice as long each time, up to this");
ABSL_FLAG(int, journal_batch_chunks, 16,
          "resume journal: a record (after a data sync) every N chunks...");
ABSL_FLAG(int, journal_max_delay_ms, 500, "... or after this delay");
ABSL_FLAG(int, stall_timeout_ms, 30000,
          "drop a source that sends nothing for this long");
ABSL_FLAG(int, manifest_timeout_ms, 10000, "time allowed for a manifest");
ABSL_FLAG(int, progress_interval_ms, 250, "how often download progress is sent");
ABSL_FLAG(int, rpc_timeout_ms, 10000, "deadline of calls to the supernode/index");
ABSL_FLAG(int, min_backoff_ms, 500, "first retry delay after a failure");
ABSL_FLAG(int, max_backoff_ms, 30000, "longest retry delay after failures");
ABSL_FLAG(int, publish_batch, 5000, "most files per publish message");
ABSL_FLAG(int, first_publish_wait_ms, 10000,
          "how long start-up waits for the first publish before being ready");
ABSL_FLAG(int64_t, hash_progress_bytes, int64_t{256} << 20,
          "log hashing progress for files at least this big");
ABSL_FLAG(int64_t, upload_bytes_per_second, 0,
          "upload bandwidth offered, reported for supernode election (0: unknown)");
ABSL_FLAG(bool, reachable, false,
          "report that other peers can connect to this one (for election)");
ABSL_FLAG(bool, election, true,
          "daemon: with an index, report capacity to it and serve as a "
          "supernode when it promotes this peer (--noelection: never)");
ABSL_FLAG(std::string, supernode_listen, "",
          "daemon: host:port a promoted supernode listens on (default: the "
          "host of --listen, a free port)");
ABSL_FLAG(std::string, supernode_advertise, "",
          "daemon: host:port to announce for a promoted supernode instead of "
          "the bound address");
ABSL_FLAG(int, supernode_heartbeat_interval_ms, 30000,
          "daemon: heartbeat interval a promoted supernode asks of its leaves");
ABSL_FLAG(int, supernode_session_timeout_ms, 90000,
          "daemon: a promoted supernode drops a leaf silent this long");
ABSL_FLAG(int, supernode_max_leaves, 1000,
          "daemon: most leaves a promoted supernode takes");
ABSL_FLAG(int, supernode_join_work_bits,
          trove::supernode::kDefaultJoinWorkBits,
          "daemon: proof of work a promoted supernode asks of each join "
          "(leading zero bits of a SHA-256; 0: none)");
ABSL_FLAG(int64_t, supernode_max_files, 500000,
          "daemon: memory budget of a promoted supernode, files over all its "
          "leaves");
ABSL_FLAG(int64_t, supernode_max_name_bytes, 48 << 20,
          "daemon: memory budget of a promoted supernode, bytes of file names "
          "over all its leaves");
ABSL_FLAG(std::string, supernode_leaf_search_rate, "20:60",
          "daemon: searches per leaf a promoted supernode answers (RATE or "
          "RATE:BURST a second, 0 for no limit)");
ABSL_FLAG(std::string, supernode_leaf_locate_rate, "50:150",
          "daemon: look-ups per leaf a promoted supernode answers");
ABSL_FLAG(std::string, supernode_leaf_publish_rate, "20:100",
          "daemon: publishes per leaf a promoted supernode takes");
ABSL_FLAG(std::string, supernode_leaf_join_rate, "10:50",
          "daemon: Challenge and Join calls per address a promoted supernode "
          "takes");
ABSL_FLAG(int, shutdown_timeout_ms, 5000, "grace period for calls at shutdown");
ABSL_FLAG(std::string, on_complete, "",
          "run this program when a download completes, with the file's path "
          "as its last argument and TROVE_PATH, TROVE_NAME, TROVE_CID, "
          "TROVE_SIZE, TROVE_DIR in its environment (no shell)");
ABSL_FLAG(std::string, web, "",
          "serve the local web page on this loopback host:port (e.g. "
          "127.0.0.1:8080; off when empty); its token is in STATE/web_token");

namespace {

constexpr char kUsage[] =
    R"HELP(peer_client: share folders and fetch files on a Trove network.

Usage:
  peer_client daemon --join=trove://HOST:PORT?ca=FP --share=DIR[,DIR...] [flags]
  peer_client search WORDS... [-word] ['"a phrase"'] [--kind=audio]
                     [--ext=mp3,flac] [--min_size=SIZE] [--max_size=SIZE]
                     [--sort=sources|size|name] [--limit=N] [--page=N]
                     [--links]
  peer_client get WHAT [-o DIR] [--name=NAME] [--wait=false]
  peer_client add WHAT [-o DIR] [--name=NAME] [--paused]
  peer_client list
  peer_client watch [WHAT]
  peer_client pause WHAT... | --all       peer_client resume WHAT... | --all
  peer_client cancel WHAT... [--yes]
  peer_client status | rescan | config
  peer_client limits [--up=RATE] [--down=RATE] [--slots=N]

WHAT names a file: a cid, a trove: link, a number N (the N-th hit of the
last search), or the first digits (4 or more) of a cid that the last search
or the downloads know. Downloads belong to the daemon: they go on when the
command that started them ends.

Every verb takes --state=DIR (default $HOME/.trove), the daemon's state
folder, and --json (machine-readable output, errors included). Exit codes:
0 done, 1 failed, 2 usage error, 130 interrupted (a download goes on).

Run 'peer_client VERB --help' for a verb's flags, --helpfull for all flags.
)HELP";

constexpr char kDaemonHelp[] =
    R"HELP(peer_client daemon: share folders, serve them to other peers, and run
downloads for the other verbs. Runs until SIGINT/SIGTERM.

  --join=LINK                  the community's link, trove://HOST:PORT?ca=FP
                               (index_server init prints it): the index to
                               ask for a supernode, and the CA to trust
  --supernode=HOST:PORT[,...]  supernode to join (first is the primary)
  --index=HOST:PORT            or: ask this index server for a supernode
  --share=DIR[,DIR...]         folders to share, recursively (hidden files,
                               temp files and symlinks are skipped); a
                               folder that does not exist is an error
  --download_dir=DIR           where `get` saves by default (default
                               STATE/downloads); shared, and each completed
                               download announced at once, unless
                               --noshare_downloads
  --state=DIR                  state folder (default $HOME/.trove)
  --listen=HOST:PORT           where to serve files (default 127.0.0.1:0)
  --advertise=HOST:PORT        address to announce instead of the bound one
  --ready_file=PATH            write the serving address there when ready
  --web=127.0.0.1:PORT         serve the local web page there (off unless
                               set; the address with its token is in
                               `peer_client status`)
  --on_complete=COMMAND        run COMMAND with the completed file's path as
                               its last argument (no shell; TROVE_PATH,
                               TROVE_NAME, TROVE_CID, TROVE_SIZE, TROVE_DIR
                               in its environment)
  --rescan_interval_ms=N       rescan shares every N ms (default 5000)
  --max_uploads=N              peers served at once (default 32); others
                               wait in a queue and are told their place
  --slot_idle_ms=N, --slot_retry_after_ms=N, --queue_stale_ms=N,
  --max_upload_queue=N         upload slot and queue tuning
  --slot_turn_ms=N             while others wait, a peer keeps a slot this
                               long at most (default 5000), then queues
  --max_streams_per_peer=N     chunk streams served to one peer at once
                               (default 16)
  --upload_stall_ms=N          a peer that takes no data for N ms (default
                               60000) loses its streams and upload slot
  --noinitial_seeding          serve any chunk to anyone even while a crowd
                               downloads a file this peer holds in full
  --max_upload_rate=RATE, --max_upload_rate_per_peer=RATE,
  --max_download_rate=RATE, --max_download_rate_per_peer=RATE
                               bandwidth limits in bytes/s (10M, 512k;
                               default 0: unlimited); change them while it
                               runs with `peer_client limits`
  --chunks_per_request=N, --streams_per_source=N, --connections_per_source=N,
  --stall_timeout_ms=N,
  --manifest_timeout_ms=N, --max_sources=N, --max_requests_per_download=N,
  --relocate_interval_ms=N, --relocate_backoff_max_ms=N, --extent_chunks=N,
  --source_retry_ms=N          download tuning
  --journal_batch_chunks=N, --journal_max_delay_ms=N
                               resume journal batching (STATE/transfers)
  --rpc_timeout_ms=N, --min_backoff_ms=N, --max_backoff_ms=N,
  --publish_batch=N, --first_publish_wait_ms=N
                               supernode session tuning
  --upload_bytes_per_second=N  upload bandwidth reported for the supernode
                               election (the upload limit when one is set)
  --noelection                 never serve as a supernode (with an index, the
                               daemon reports its capacity and, once the index
                               promotes it, runs a supernode in-process)
  --supernode_listen=HOST:PORT, --supernode_advertise=HOST:PORT
                               where a promoted supernode listens and what it
                               announces (default: --listen's host, a free port)
  --supernode_heartbeat_interval_ms=N, --supernode_session_timeout_ms=N,
  --supernode_max_leaves=N     a promoted supernode's leaf sessions
  --supernode_join_work_bits=N a promoted supernode's proof of work per join
  --supernode_max_files=N, --supernode_max_name_bytes=N
                               a promoted supernode's memory budget (files
                               and bytes of names over all its leaves)
  --supernode_leaf_search_rate=R, --supernode_leaf_locate_rate=R,
  --supernode_leaf_publish_rate=R, --supernode_leaf_join_rate=R
                               a promoted supernode's flood control: RATE or
                               RATE:BURST calls a second per leaf (joins per
                               address), 0 for no limit
  --tls_ca=FILE                the community CA (instead of learning it
                               through --join)
  --insecure                   plaintext, no certificates (tests only). TLS
                               is on without it: this peer serves with a
                               certificate made from its identity key and
                               accepts another peer only with the key of the
                               id the supernode named
  --join_timeout_ms=N          first start: how long to try the index for
                               the CA (default 30000)
  --config=FILE                read settings from FILE (`name = value` lines;
                               default STATE/config when it exists); a flag
                               on the command line wins
  --dump_config                print the effective settings as a config file
  --log_format=text|json, --log_level=debug|info|warning|error,
  --log_file=PATH              how, what and where to log (default: text,
                               info, stderr)
  --metrics_listen=HOST:PORT   serve Prometheus metrics at /metrics (off
                               when empty; port 0 picks a free port)
)HELP";

constexpr char kSearchHelp[] =
    R"HELP(peer_client search WORDS...: search the network through the daemon.
Every word must match a part of the name (misspellings are forgiven);
'"two words"' in quotes must occur together, as written; -word leaves out
names holding that word. Hits are numbered: `peer_client get 3` fetches
the third of the last search.

  --kind=KIND                        audio, video, image, document, archive
                                     or software (with --ext: either matches)
  --ext=mp3,flac                     only these extensions
  --min_size=SIZE, --max_size=SIZE   size bounds (1234, 10k, 700M, 1.5G)
  --sort=ORDER                       relevance (default), sources, size, name
  --reverse                          that order reversed
  --limit=N                          hits per page (0: the network's default)
  --page=N                           show page N (numbered after the pages
                                     before it; the order is stable)
  --cursor=C                         continue after the page whose
                                     next_cursor (--json) is C
  --links                            print each hit as a trove: link
  --json                             {"hits":[{"number","cid","name","size",
                                     "source_count","link"}],"partial":bool,
                                     "page":N,"next_cursor":C}
  --state=DIR                        the daemon's state folder
)HELP";

constexpr char kGetHelp[] =
    R"HELP(peer_client get WHAT: have the daemon download a file (verifying every
chunk) and follow its progress until it is saved. Ctrl-C (or a closed
terminal) only stops following: the download goes on in the daemon.
WHAT: a cid, a trove:CID?name=..&size=.. link (refused when the network
disagrees with its size or name), a hit number of the last search, or the
first digits of a cid. A file already in the folder is not fetched again,
and an existing file is never overwritten ("NAME (1)" is used instead).

  -o DIR         folder to save into (default: the daemon's download
                 folder, see `status`)
  --name=NAME    file name to use (default: the link's or the source's)
  --wait=false   add the download and return at once (as `add`)
  --json         one JSON object per line: {"event":"progress",...} while
                 it runs, then {"event":"done",...,"path"} or
                 {"event":"error","code","message"}; {"event":"detached"}
                 when interrupted
  --state=DIR    the daemon's state folder
)HELP";

constexpr char kAddHelp[] =
    R"HELP(peer_client add WHAT: add a download to the daemon and return at once
(as `get --wait=false`). WHAT as for `get`.

  -o DIR, --name=NAME   as for `get`
  --paused              add it paused (start it with `resume`)
  --json                {"event":"added",...} (or "done" when the file is
                        there already)
  --state=DIR           the daemon's state folder
)HELP";

constexpr char kListHelp[] =
    R"HELP(peer_client list: every download the daemon knows, with its state
(waiting for the network, looking for sources, waiting for sources, queued,
downloading, paused, done, failed), progress, rate, ETA and sources, and
why it waits or failed.

  --json         {"downloads":[{"cid","name","state","detail","out_dir",
                  "done_bytes","size","sources","bytes_per_second",
                  "eta_seconds",...,"path"}]}
  --state=DIR    the daemon's state folder
)HELP";

constexpr char kWatchHelp[] =
    R"HELP(peer_client watch [WHAT]: follow one download until it ends (exit 0 when
it is saved, 1 when it failed or was cancelled), or, without WHAT, every
download until none is active. Ctrl-C stops watching only.

  --json         as `get --json` for one download; a {"downloads":[...]}
                 line each second for all
  --state=DIR    the daemon's state folder
)HELP";

constexpr char kPauseHelp[] =
    R"HELP(peer_client pause WHAT... | --all: stop downloads, keeping what they
have; they stay paused across daemon restarts until `resume`.
peer_client resume WHAT... | --all: start paused (or failed) downloads again.

  --all          every active (pause) or paused and failed (resume) download
  --json         {"downloads":[...]}
  --state=DIR    the daemon's state folder
)HELP";

constexpr char kCancelHelp[] =
    R"HELP(peer_client cancel WHAT...: stop downloads and delete what they
fetched (their unfinished files and saved state). Asks first when verified
data would be deleted; without a terminal to ask on, refuses unless --yes.
A finished download is only forgotten: its file stays.

  --yes          delete without asking
  --json         {"downloads":[...]}
  --state=DIR    the daemon's state folder
)HELP";

constexpr char kStatusHelp[] =
    R"HELP(peer_client status: what the daemon is doing: its supernode (or why
it is not joined, and when it tries again), shares, uploads, downloads and
the web page's address.

  --json         {"peer_id","supernode","join_status","listen_address",
                  "shares":[...],"shared_files","shared_bytes","hashing",
                  "uploads_active","uploads_queued","uploads":[...],
                  "download_dir","downloads_shared","web","transfers":[...]}
  --state=DIR    the daemon's state folder
)HELP";

constexpr char kRescanHelp[] =
    R"HELP(peer_client rescan: rescan the shared folders now and publish changes.

  --json         {"added":N,"removed":N}
  --state=DIR    the daemon's state folder
)HELP";

constexpr char kConfigHelp[] =
    R"HELP(peer_client config: the running daemon's effective settings, as a
config file (the format of STATE/config), limits changed at run time
included.

  --json         {"settings":{"NAME":"VALUE",...}}
  --state=DIR    the daemon's state folder
)HELP";

constexpr char kLimitsHelp[] =
    R"HELP(peer_client limits: show or change the running daemon's bandwidth
limits and upload slots, without stopping transfers (until it restarts;
put them in STATE/config to keep them).

  --up=RATE, --down=RATE       total upload / download limit in bytes/s
                               (2M, 512k; 0: unlimited)
  --up_per_peer=RATE, --down_per_peer=RATE
                               the same per peer
  --slots=N                    peers served at once
  --json                       {"max_upload_rate","max_upload_rate_per_peer",
                                "max_download_rate",
                                "max_download_rate_per_peer","max_uploads"}
  --state=DIR                  the daemon's state folder
)HELP";

// The daemon's settings: its flags (main.cc) and the shared ones (common/),
// not the verbs' (cli_flags.cc).
bool OwnsDaemonFlag(absl::string_view file) {
  return (absl::StrContains(file, "peer_client/") &&
          !absl::StrContains(file, "cli_flags")) ||
         absl::StrContains(file, "common/");
}

std::string StateDir() {
  std::string state = absl::GetFlag(FLAGS_state);
  if (state.empty()) {
    const char* home = std::getenv("HOME");
    state = absl::StrCat(home != nullptr ? home : ".", "/.trove");
  }
  if (state[0] != '/') {
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof(cwd)) != nullptr) state = absl::StrCat(cwd, "/", state);
  }
  return state;
}

trove::CliOptions CliOpts() {
  trove::CliOptions o;
  o.state_dir = StateDir();
  o.json = absl::GetFlag(FLAGS_json);
  o.timeout = absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms));
  o.tty = ::isatty(STDERR_FILENO) == 1;
  o.interactive = ::isatty(STDIN_FILENO) == 1 && o.tty;
  return o;
}

int Usage(const std::string& verb, const std::string& message) {
  return trove::UsageError(CliOpts(), verb, message, std::cout, std::cerr);
}

int RunDaemon() {
  trove::SetLogTag("peer");
  // Keep freed memory instead of unmapping it: chunks arrive in large
  // receive buffers, and with glibc's defaults many of them are fresh
  // mappings that cost a page fault and zeroing per page (measured: about
  // 15% of a download's CPU on loopback).
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
  std::vector<std::string> supernodes;
  for (absl::string_view s :
       absl::StrSplit(absl::GetFlag(FLAGS_supernode), ',', absl::SkipEmpty())) {
    supernodes.emplace_back(s);
  }
  std::string index = absl::GetFlag(FLAGS_index);
  std::optional<trove::CommunityLink> link;
  if (!absl::GetFlag(FLAGS_join).empty()) {
    absl::StatusOr<trove::CommunityLink> parsed =
        trove::ParseCommunityLink(absl::GetFlag(FLAGS_join));
    if (!parsed.ok()) {
      return Usage("daemon", absl::StrCat("--join: ", parsed.status().message()));
    }
    link = *parsed;
    if (index.empty()) index = link->address();
  }
  if (supernodes.empty() && index.empty()) {
    return Usage("daemon",
                 "give --join=LINK (the community's link), "
                 "--supernode=HOST:PORT or --index=HOST:PORT");
  }
  for (const std::string& a : supernodes) {
    if (!trove::ValidateAddress(a).ok()) {
      return Usage("daemon", absl::StrCat("bad --supernode address '", a, "'"));
    }
  }
  if (!index.empty() && !trove::ValidateAddress(index).ok()) {
    return Usage("daemon", absl::StrCat("bad --index address '", index, "'"));
  }

  if (absl::Status s = trove::metrics::StartMetricsFromFlags().status(); !s.ok()) {
    std::cerr << "peer_client daemon: " << s.message() << "\n";
    return s.code() == absl::StatusCode::kInvalidArgument ? trove::kExitUsage
                                                          : trove::kExitFailure;
  }

  trove::DaemonOptions o;
  o.state_dir = StateDir();
  const trove::TlsFlags tls = trove::GetTlsFlags();
  if (!tls.cert.empty() || !tls.key.empty()) {
    return Usage("daemon",
                 "--tls_cert and --tls_key are for servers with a "
                 "CA-issued certificate; a peer's certificate is made "
                 "from its identity key (give --join or --tls_ca only)");
  }
  o.use_tls = !tls.insecure;
  if (tls.insecure) {
    TROVE_LOG(WARNING) << "--insecure: plaintext, no certificates (for tests "
                          "only)";
  } else {
    // The CA is learned with a throw-away client certificate: the index
    // asks for one, and the identity is the daemon's to load (under its
    // lock).
    absl::StatusOr<std::shared_ptr<const trove::TlsContext>> client =
        trove::TlsContext::Ephemeral("");
    absl::Status made = trove::MakeDirs(o.state_dir, 0700);
    if (!client.ok() || !made.ok()) {
      std::cerr << "peer_client daemon: "
                << (made.ok() ? client.status() : made).message() << "\n";
      return 1;
    }
    absl::StatusOr<std::string> ca = trove::ResolveCommunityCa(
        tls.ca, link ? &*link : nullptr,
        absl::StrCat(o.state_dir, "/", trove::kCommunityCaFile), **client,
        absl::Milliseconds(absl::GetFlag(FLAGS_join_timeout_ms)));
    if (!ca.ok()) {
      std::cerr << "peer_client daemon: " << ca.status().message() << "\n";
      return absl::IsInvalidArgument(ca.status()) ? trove::kExitUsage : 1;
    }
    o.tls_ca_pem = *ca;
  }
  o.shares = absl::GetFlag(FLAGS_share);
  o.download_dir = absl::GetFlag(FLAGS_download_dir);
  o.share_downloads = absl::GetFlag(FLAGS_share_downloads);
  o.peer.initial_seeding = absl::GetFlag(FLAGS_initial_seeding);
  o.download.extent_chunks = std::max(1, absl::GetFlag(FLAGS_extent_chunks));
  o.listen = absl::GetFlag(FLAGS_listen);
  o.advertise = absl::GetFlag(FLAGS_advertise);
  o.rescan_interval = absl::Milliseconds(absl::GetFlag(FLAGS_rescan_interval_ms));
  o.first_publish_wait =
      absl::Milliseconds(absl::GetFlag(FLAGS_first_publish_wait_ms));
  o.hash_progress_bytes = absl::GetFlag(FLAGS_hash_progress_bytes);
  o.peer.max_uploads = std::max(0, absl::GetFlag(FLAGS_max_uploads));
  o.peer.slot_idle = absl::Milliseconds(absl::GetFlag(FLAGS_slot_idle_ms));
  o.peer.retry_after =
      absl::Milliseconds(absl::GetFlag(FLAGS_slot_retry_after_ms));
  o.peer.queue_stale = absl::Milliseconds(absl::GetFlag(FLAGS_queue_stale_ms));
  o.peer.max_queue = std::max(0, absl::GetFlag(FLAGS_max_upload_queue));
  o.peer.slot_turn =
      absl::Milliseconds(std::max(0, absl::GetFlag(FLAGS_slot_turn_ms)));
  o.peer.max_streams_per_peer =
      std::max(1, absl::GetFlag(FLAGS_max_streams_per_peer));
  o.peer.upload_stall =
      absl::Milliseconds(std::max(0, absl::GetFlag(FLAGS_upload_stall_ms)));
  o.peer.testonly_corrupt_chunks = absl::GetFlag(FLAGS_testonly_corrupt_chunks);
  for (auto [name, flag, field] : {
           std::make_tuple("max_upload_rate", &FLAGS_max_upload_rate,
                           &o.rates.max_upload_rate),
           std::make_tuple("max_upload_rate_per_peer",
                           &FLAGS_max_upload_rate_per_peer,
                           &o.rates.max_upload_rate_per_peer),
           std::make_tuple("max_download_rate", &FLAGS_max_download_rate,
                           &o.rates.max_download_rate),
           std::make_tuple("max_download_rate_per_peer",
                           &FLAGS_max_download_rate_per_peer,
                           &o.rates.max_download_rate_per_peer)}) {
    absl::StatusOr<int64_t> rate = trove::ParseSize(absl::GetFlag(*flag));
    if (!rate.ok()) {
      return Usage("daemon", absl::StrCat("bad --", name, ": ",
                                          rate.status().message()));
    }
    *field = *rate;
  }
  o.peer.max_indexes_per_request = absl::GetFlag(FLAGS_max_indexes_per_request);
  o.download.chunks_per_request =
      std::max(1, absl::GetFlag(FLAGS_chunks_per_request));
  o.download.streams_per_source =
      std::max(1, absl::GetFlag(FLAGS_streams_per_source));
  o.download.connections_per_source =
      std::max(1, absl::GetFlag(FLAGS_connections_per_source));
  o.download.max_sources = std::max(1, absl::GetFlag(FLAGS_max_sources));
  o.download.max_requests =
      std::max(1, absl::GetFlag(FLAGS_max_requests_per_download));
  o.download.relocate_interval =
      absl::Milliseconds(std::max(10, absl::GetFlag(FLAGS_relocate_interval_ms)));
  o.download.source_retry = absl::Milliseconds(absl::GetFlag(FLAGS_source_retry_ms));
  o.download.max_relocate_backoff =
      absl::Milliseconds(std::max(10, absl::GetFlag(FLAGS_relocate_backoff_max_ms)));
  o.download.journal_batch_chunks =
      std::max(1, absl::GetFlag(FLAGS_journal_batch_chunks));
  o.download.journal_max_delay =
      absl::Milliseconds(std::max(1, absl::GetFlag(FLAGS_journal_max_delay_ms)));
  o.download.stall_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_stall_timeout_ms));
  o.download.manifest_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_manifest_timeout_ms));
  o.download.progress_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_progress_interval_ms));
  o.on_complete = absl::GetFlag(FLAGS_on_complete);
  o.web_listen = absl::GetFlag(FLAGS_web);
  o.config = [] {
    trove::control::ConfigResponse r;
    r.set_text(trove::DumpConfig("peer_client daemon", OwnsDaemonFlag));
    for (const auto& [name, value] : trove::EffectiveSettings(OwnsDaemonFlag)) {
      trove::control::Setting* s = r.add_settings();
      s->set_name(name);
      s->set_value(value);
    }
    return r;
  };
  // Limits changed at run time show in `peer_client config`.
  o.limits_changed = [](const trove::control::Limits& l) {
    absl::SetFlag(&FLAGS_max_upload_rate, absl::StrCat(l.max_upload_rate()));
    absl::SetFlag(&FLAGS_max_upload_rate_per_peer,
                  absl::StrCat(l.max_upload_rate_per_peer()));
    absl::SetFlag(&FLAGS_max_download_rate, absl::StrCat(l.max_download_rate()));
    absl::SetFlag(&FLAGS_max_download_rate_per_peer,
                  absl::StrCat(l.max_download_rate_per_peer()));
    absl::SetFlag(&FLAGS_max_uploads, l.max_uploads());
  };
  o.session.supernodes = supernodes;
  o.session.index_address = index;
  o.session.rpc_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_rpc_timeout_ms));
  o.session.min_backoff = absl::Milliseconds(absl::GetFlag(FLAGS_min_backoff_ms));
  o.session.max_backoff = absl::Milliseconds(absl::GetFlag(FLAGS_max_backoff_ms));
  o.session.publish_batch = std::max(1, absl::GetFlag(FLAGS_publish_batch));
  o.session.capacity.set_upload_bytes_per_second(
      absl::GetFlag(FLAGS_upload_bytes_per_second));
  o.session.capacity.set_reachable(absl::GetFlag(FLAGS_reachable));
  o.election = absl::GetFlag(FLAGS_election);
  o.host.listen = absl::GetFlag(FLAGS_supernode_listen);
  o.host.advertise = absl::GetFlag(FLAGS_supernode_advertise);
  o.host.supernode.heartbeat_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_supernode_heartbeat_interval_ms));
  o.host.supernode.session_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_supernode_session_timeout_ms));
  o.host.supernode.max_leaves = absl::GetFlag(FLAGS_supernode_max_leaves);
  o.host.supernode.max_files = absl::GetFlag(FLAGS_supernode_max_files);
  o.host.supernode.join_work_bits =
      absl::GetFlag(FLAGS_supernode_join_work_bits);
  o.host.supernode.max_name_bytes =
      absl::GetFlag(FLAGS_supernode_max_name_bytes);
  {
    trove::supernode::LeafLimitFlags limits;
    limits.search = absl::GetFlag(FLAGS_supernode_leaf_search_rate);
    limits.locate = absl::GetFlag(FLAGS_supernode_leaf_locate_rate);
    limits.publish = absl::GetFlag(FLAGS_supernode_leaf_publish_rate);
    limits.join = absl::GetFlag(FLAGS_supernode_leaf_join_rate);
    if (absl::Status s = trove::supernode::SetLeafLimits(
            limits, "supernode_", &o.host.supernode);
        !s.ok()) {
      return Usage("daemon", std::string(s.message()));
    }
  }
  if (o.election) {
    trove::supernode::SupernodeOptions check = o.host.supernode;
    check.index_address = "127.0.0.1:1";
    if (absl::Status s = trove::supernode::ValidateSupernodeOptions(check);
        !s.ok()) {
      return Usage("daemon", absl::StrCat("--supernode_*: ", s.message()));
    }
  }

  absl::StatusOr<std::unique_ptr<trove::PeerDaemon>> daemon =
      trove::PeerDaemon::Start(o);
  if (!daemon.ok()) {
    std::cerr << "peer_client daemon: " << daemon.status().message() << "\n";
    return absl::IsInvalidArgument(daemon.status()) ? trove::kExitUsage
                                                    : trove::kExitFailure;
  }
  absl::Status ready =
      trove::WriteReadyFile(absl::GetFlag(FLAGS_ready_file),
                            (*daemon)->listen_address());
  if (!ready.ok()) {
    std::cerr << "peer_client daemon: cannot write --ready_file: "
              << ready.message() << "\n";
    (*daemon)->Shutdown(absl::Seconds(1));
    return 1;
  }
  trove::SetLogField("peer", (*daemon)->peer_id());
  TROVE_LOG(INFO) << "ready: serving on " << (*daemon)->listen_address()
                  << ", control at " << (*daemon)->control_address();
  int sig = trove::WaitForShutdownSignal();
  TROVE_LOG(INFO) << "signal " << sig << ": shutting down";
  (*daemon)->Shutdown(absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_timeout_ms)));
  TROVE_LOG(INFO) << "stopped";
  return 0;
}

// Pages past this are reached with --cursor (each page before the one shown
// is fetched to number its hits).
constexpr int kMaxSearchPage = 100;

// For `search`: arguments like -word (not a flag) exclude that word. They
// are moved behind "--", so that flag parsing leaves them to the query.
std::vector<char*> ExclusionsAsWords(int argc, char** argv) {
  std::vector<char*> flags, words;
  bool rest = false;
  for (int i = 0; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (rest || i == 0) {
      (rest ? words : flags).push_back(argv[i]);
      continue;
    }
    if (a == "--") {
      rest = true;
      continue;
    }
    if (a.size() >= 2 && a[0] == '-' && a[1] != '-') {
      absl::string_view name = a.substr(1, a.find('=') - 1);
      const bool bool_negation =
          absl::StartsWith(name, "no") &&
          absl::FindCommandLineFlag(name.substr(2)) != nullptr;
      if (absl::FindCommandLineFlag(name) == nullptr && !bool_negation &&
          name != "h" && name != "help" && name != "helpfull") {
        words.push_back(argv[i]);
        continue;
      }
    }
    flags.push_back(argv[i]);
  }
  if (!words.empty()) {
    static char kDashes[] = "--";
    flags.push_back(kDashes);
    flags.insert(flags.end(), words.begin(), words.end());
  }
  return flags;
}

int RunSearchVerb(const std::vector<std::string>& args) {
  if (args.empty()) return Usage("search", "give the words to search for");
  trove::SearchQuery q;
  q.set_text(absl::StrJoin(args, " "));
  for (auto [flag, setter] :
       {std::make_pair(absl::GetFlag(FLAGS_min_size), &trove::SearchQuery::set_min_size),
        std::make_pair(absl::GetFlag(FLAGS_max_size), &trove::SearchQuery::set_max_size)}) {
    if (flag.empty()) continue;
    absl::StatusOr<int64_t> v = trove::ParseSize(flag);
    if (!v.ok()) return Usage("search", std::string(v.status().message()));
    (q.*setter)(*v);
  }
  for (const std::string& e : absl::GetFlag(FLAGS_ext)) {
    std::string ext = e;
    if (!ext.empty() && ext[0] == '.') ext.erase(0, 1);
    if (!ext.empty()) q.add_extensions(ext);
  }
  if (absl::GetFlag(FLAGS_limit) < 0) {
    return Usage("search", "--limit must not be negative");
  }
  q.set_limit(absl::GetFlag(FLAGS_limit));
  if (const std::string kind = absl::GetFlag(FLAGS_kind); !kind.empty()) {
    std::optional<trove::FileKind> k = trove::search::ParseKind(kind);
    if (!k.has_value()) {
      return Usage("search", absl::StrCat("unknown --kind '", kind,
                                          "' (audio, video, image, document, "
                                          "archive or software)"));
    }
    q.set_kind(*k);
  }
  const std::string sort = absl::AsciiStrToLower(absl::GetFlag(FLAGS_sort));
  if (sort == "relevance" || sort.empty()) {
    q.set_sort(trove::SEARCH_SORT_RELEVANCE);
  } else if (sort == "sources") {
    q.set_sort(trove::SEARCH_SORT_SOURCES);
  } else if (sort == "size") {
    q.set_sort(trove::SEARCH_SORT_SIZE);
  } else if (sort == "name") {
    q.set_sort(trove::SEARCH_SORT_NAME);
  } else {
    return Usage("search", absl::StrCat("unknown --sort '", sort,
                                        "' (relevance, sources, size or name)"));
  }
  q.set_reverse(absl::GetFlag(FLAGS_reverse));
  const int page = absl::GetFlag(FLAGS_page);
  if (page < 1 || page > kMaxSearchPage) {
    return Usage("search", absl::StrCat("--page must be 1 to ", kMaxSearchPage));
  }
  q.set_cursor(absl::GetFlag(FLAGS_cursor));
  if (!q.cursor().empty() && page != 1) {
    return Usage("search", "give --page or --cursor, not both");
  }
  absl::Status valid = trove::ValidateSearchQuery(q);
  if (!valid.ok()) return Usage("search", std::string(valid.message()));
  return trove::RunSearch(CliOpts(), q, absl::GetFlag(FLAGS_links), page,
                          std::cout, std::cerr);
}

int RunGetVerb(const std::string& verb, const std::vector<std::string>& args) {
  if (args.size() != 1) {
    return Usage(verb,
                 "give exactly one file: a cid, a trove: link, a hit number "
                 "or the first digits of a cid");
  }
  trove::GetArgs a;
  a.target = args[0];
  a.name = absl::GetFlag(FLAGS_name);
  if (!a.name.empty()) {
    absl::Status valid = trove::ValidateFileName(a.name);
    if (!valid.ok()) return Usage(verb, std::string(valid.message()));
  }
  // Empty: the daemon's download folder.
  std::string out = absl::GetFlag(FLAGS_o);
  char real[PATH_MAX];
  if (out.empty()) {
  } else if (::realpath(out.c_str(), real) != nullptr) {
    out = real;
  } else if (out[0] != '/') {
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof(cwd)) != nullptr) out = absl::StrCat(cwd, "/", out);
  }
  a.out_dir = out;
  a.wait = verb == "get" && absl::GetFlag(FLAGS_wait);
  a.paused = absl::GetFlag(FLAGS_paused);
  if (a.paused && verb == "get" && absl::GetFlag(FLAGS_wait)) {
    return Usage(verb, "--paused adds without following: use add --paused");
  }
  return trove::RunGet(CliOpts(), a, std::cout, std::cerr);
}

int RunLimitsVerb(const std::vector<std::string>& args) {
  if (!args.empty()) return Usage("limits", "unexpected argument " + args[0]);
  trove::control::LimitsRequest req;
  for (auto [flag, name, setter] :
       {std::make_tuple(absl::GetFlag(FLAGS_up), "up",
                        &trove::control::LimitsRequest::set_max_upload_rate),
        std::make_tuple(absl::GetFlag(FLAGS_down), "down",
                        &trove::control::LimitsRequest::set_max_download_rate),
        std::make_tuple(
            absl::GetFlag(FLAGS_up_per_peer), "up_per_peer",
            &trove::control::LimitsRequest::set_max_upload_rate_per_peer),
        std::make_tuple(
            absl::GetFlag(FLAGS_down_per_peer), "down_per_peer",
            &trove::control::LimitsRequest::set_max_download_rate_per_peer)}) {
    if (flag.empty()) continue;
    absl::StatusOr<int64_t> rate = trove::ParseSize(flag);
    if (!rate.ok()) {
      return Usage("limits", absl::StrCat("bad --", name, ": ",
                                          rate.status().message()));
    }
    (req.*setter)(*rate);
  }
  const int slots = absl::GetFlag(FLAGS_slots);
  if (slots < -1) return Usage("limits", "--slots must not be negative");
  if (slots >= 0) req.set_max_uploads(slots);
  return trove::RunLimits(CliOpts(), req, std::cout, std::cerr);
}

const char* VerbHelp(const std::string& verb) {
  if (verb == "daemon") return kDaemonHelp;
  if (verb == "search") return kSearchHelp;
  if (verb == "get") return kGetHelp;
  if (verb == "add") return kAddHelp;
  if (verb == "list") return kListHelp;
  if (verb == "watch") return kWatchHelp;
  if (verb == "pause" || verb == "resume") return kPauseHelp;
  if (verb == "cancel") return kCancelHelp;
  if (verb == "status") return kStatusHelp;
  if (verb == "rescan") return kRescanHelp;
  if (verb == "config") return kConfigHelp;
  if (verb == "limits") return kLimitsHelp;
  return nullptr;
}

// The first problem with the flags in argv (an unknown flag, a value the
// flag refuses, a missing value), or "" when there is none: checked before
// absl parses them, so that a usage error exits 2 with a hint (and as JSON
// with --json).
std::string CheckFlags(int argc, char** argv) {
  static const char* const kBuiltin[] = {
      "help",   "helpfull", "helpshort", "helppackage", "helpmatch",
      "version", "flagfile", "fromenv",  "tryfromenv",  "undefok",
      "only_check_args"};
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (a == "--") break;
    if (a.size() < 2 || a[0] != '-') continue;
    a.remove_prefix(a[1] == '-' ? 2 : 1);
    const size_t eq = a.find('=');
    absl::string_view name = a.substr(0, eq);
    const bool has_value = eq != absl::string_view::npos;
    if (std::find(std::begin(kBuiltin), std::end(kBuiltin), name) !=
        std::end(kBuiltin)) {
      continue;
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && absl::StartsWith(name, "no")) {
      absl::CommandLineFlag* positive = absl::FindCommandLineFlag(name.substr(2));
      if (positive != nullptr && positive->IsOfType<bool>() && !has_value) {
        continue;
      }
    }
    if (flag == nullptr) return absl::StrCat("unknown flag --", name);
    std::string value;
    if (has_value) {
      value = std::string(a.substr(eq + 1));
    } else if (flag->IsOfType<bool>()) {
      continue;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::StrCat("--", name, " needs a value");
    }
    // Parsed into a scratch copy of nothing: ParseFrom sets the flag, to the
    // value absl would set it to anyway.
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::StrCat("bad value '", value, "' for --", name, ": ", error);
    }
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  // For --help: the verb is the first argument that is not a flag.
  std::string verb;
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] != '-') {
      verb = argv[i];
      break;
    }
  }
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-help" || a == "-h" || a == "--helpshort") {
      const char* help = VerbHelp(verb);
      std::cout << (help != nullptr ? help : kUsage);
      return 0;
    }
    if (a == "--json" || a == "-json" || a == "--json=true") json = true;
  }
  std::vector<char*> reordered;
  if (verb == "search") {
    reordered = ExclusionsAsWords(argc, argv);
    argc = static_cast<int>(reordered.size());
    argv = reordered.data();
  }
  if (std::string problem = CheckFlags(argc, argv); !problem.empty()) {
    trove::CliOptions o;
    o.json = json;
    return trove::UsageError(o, VerbHelp(verb) != nullptr ? verb : "", problem,
                             std::cout, std::cerr);
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  // The daemon also reads STATE/config when it exists (--config wins).
  const bool daemon = positional.size() >= 2 && std::string(positional[1]) == "daemon";
  if (std::optional<int> exit = trove::Startup(
          argc, argv,
          {"peer", OwnsDaemonFlag, daemon ? StateDir() + "/config" : ""})) {
    return *exit;
  }
  if (positional.size() < 2) {
    return Usage("", "give a verb (daemon, search, get, list, ...)");
  }
  std::vector<std::string> args(positional.begin() + 2, positional.end());
  verb = positional[1];
  if (verb == "help") {
    const char* help = args.empty() ? nullptr : VerbHelp(args[0]);
    std::cout << (help != nullptr ? help : kUsage);
    return 0;
  }
  if (verb == "daemon") {
    if (!args.empty()) return Usage(verb, "unexpected argument " + args[0]);
    // Before any thread starts (flag parsing starts none), so that every
    // thread inherits the mask and SIGINT/SIGTERM reach WaitForShutdownSignal.
    trove::BlockShutdownSignals();
    return RunDaemon();
  }
  if (VerbHelp(verb) == nullptr) {
    return Usage("", absl::StrCat("unknown verb '", verb, "'"));
  }
  // Ctrl-C, a closed terminal, SIGTERM: handled on a thread of their own
  // (get and watch detach from the download and say so).
  trove::InstallInterruptThread();
  const trove::CliOptions options = CliOpts();
  if (verb == "search") return RunSearchVerb(args);
  if (verb == "get" || verb == "add") return RunGetVerb(verb, args);
  if (verb == "limits") return RunLimitsVerb(args);
  if (verb == "watch") return trove::RunWatch(options, args, std::cout, std::cerr);
  if (verb == "pause") {
    return trove::RunPause(options, args, absl::GetFlag(FLAGS_all), std::cout,
                           std::cerr);
  }
  if (verb == "resume") {
    return trove::RunResume(options, args, absl::GetFlag(FLAGS_all), std::cout,
                            std::cerr);
  }
  if (verb == "cancel") {
    return trove::RunCancel(options, args, absl::GetFlag(FLAGS_yes), std::cin,
                            std::cout, std::cerr);
  }
  if (!args.empty()) return Usage(verb, "unexpected argument " + args[0]);
  if (verb == "list") return trove::RunList(options, std::cout, std::cerr);
  if (verb == "status") return trove::RunStatus(options, std::cout, std::cerr);
  if (verb == "rescan") return trove::RunRescan(options, std::cout, std::cerr);
  if (verb == "config") return trove::RunConfig(options, std::cout, std::cerr);
  return Usage("", absl::StrCat("unknown verb '", verb, "'"));
}
