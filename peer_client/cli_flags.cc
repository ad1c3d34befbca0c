#include "peer_client/cli_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(bool, json, false, "machine-readable JSON output");
ABSL_FLAG(int, timeout_ms, 30000,
          "deadline of the verbs that answer at once (not get or watch)");

ABSL_FLAG(std::string, min_size, "", "search: smallest size (e.g. 10M)");
ABSL_FLAG(std::string, max_size, "", "search: largest size (e.g. 2G)");
ABSL_FLAG(std::vector<std::string>, ext, {},
          "search: only these extensions, e.g. mp3,flac");
ABSL_FLAG(int, limit, 0, "search: most results (0: the supernode's default)");
ABSL_FLAG(bool, links, false, "search: print each hit as a trove: link");
ABSL_FLAG(std::string, kind, "",
          "search: only files of this kind: audio, video, image, document, "
          "archive, software");
ABSL_FLAG(std::string, sort, "relevance",
          "search: order of the hits: relevance, sources, size, name");
ABSL_FLAG(bool, reverse, false, "search: the order of --sort reversed");
ABSL_FLAG(int, page, 1, "search: which page of --limit hits to show (1: the first)");
ABSL_FLAG(std::string, cursor, "",
          "search: continue after the page whose next_cursor this is (--json)");

ABSL_FLAG(std::string, o, "",
          "get: folder to save into (default: the daemon's download folder)");
ABSL_FLAG(std::string, name, "", "get: file name to save as");
ABSL_FLAG(bool, wait, true,
          "get: follow the download until it is done (--wait=false: add it "
          "and return)");
ABSL_FLAG(bool, paused, false, "add: add the download paused");

ABSL_FLAG(bool, all, false, "pause, resume: every download");
ABSL_FLAG(bool, yes, false,
          "cancel: delete verified data without asking");

ABSL_FLAG(std::string, up, "",
          "limits: upload limit over all peers (2M, 512k; 0: unlimited)");
ABSL_FLAG(std::string, down, "",
          "limits: download limit over all sources (0: unlimited)");
ABSL_FLAG(std::string, up_per_peer, "", "limits: upload limit per peer");
ABSL_FLAG(std::string, down_per_peer, "", "limits: download limit per source");
ABSL_FLAG(int, slots, -1, "limits: peers served at once (upload slots)");
