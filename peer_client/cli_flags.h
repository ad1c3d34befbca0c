// The flags of the command line's verbs (search, get, list, cancel,
// limits...), apart from the daemon's (main.cc): they are not daemon
// settings, so they are left out of STATE/config and `peer_client config`.
#ifndef TROVE_PEER_CLIENT_CLI_FLAGS_H_
#define TROVE_PEER_CLIENT_CLI_FLAGS_H_

#include <string>
#include <vector>

#include "absl/flags/declare.h"

ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(int, timeout_ms);
// search
ABSL_DECLARE_FLAG(std::string, min_size);
ABSL_DECLARE_FLAG(std::string, max_size);
ABSL_DECLARE_FLAG(std::vector<std::string>, ext);
ABSL_DECLARE_FLAG(int, limit);
ABSL_DECLARE_FLAG(bool, links);
ABSL_DECLARE_FLAG(std::string, kind);
ABSL_DECLARE_FLAG(std::string, sort);
ABSL_DECLARE_FLAG(bool, reverse);
ABSL_DECLARE_FLAG(int, page);
ABSL_DECLARE_FLAG(std::string, cursor);
// get, add
ABSL_DECLARE_FLAG(std::string, o);
ABSL_DECLARE_FLAG(std::string, name);
ABSL_DECLARE_FLAG(bool, wait);
ABSL_DECLARE_FLAG(bool, paused);
// pause, resume, cancel
ABSL_DECLARE_FLAG(bool, all);
ABSL_DECLARE_FLAG(bool, yes);
// limits
ABSL_DECLARE_FLAG(std::string, up);
ABSL_DECLARE_FLAG(std::string, down);
ABSL_DECLARE_FLAG(std::string, up_per_peer);
ABSL_DECLARE_FLAG(std::string, down_per_peer);
ABSL_DECLARE_FLAG(int, slots);

#endif  // TROVE_PEER_CLIENT_CLI_FLAGS_H_
