// The `init`, `enrol-supernode` and `renew-index` commands of index_server (community.h
// does the work; this reads their flags and prints the outcome).
#ifndef TROVE_INDEX_SERVER_COMMUNITY_MAIN_H_
#define TROVE_INDEX_SERVER_COMMUNITY_MAIN_H_

#include <functional>
#include <string>
#include <vector>

#include "common/config.h"

namespace trove {
namespace index_server {

// True for the flags only these commands use (kept out of config files).
bool IsCommunityCommandFlag(absl::string_view filename);

// `index_server init DIR [--listen=HOST:PORT] [--advertise=HOST:PORT]
// [--postgres=DSN]`; `args` are the words after "init". `listen` and
// `postgres` are the server's own flags, written into the config file;
// `config_flags` says which flags the config file lists. Returns the exit
// code (0, 1 on failure, 2 on a usage error).
int RunInit(const std::vector<std::string>& args, const std::string& listen,
            const std::string& postgres, const FlagFilter& config_flags);

// `index_server enrol-supernode DIR (--public_key=HEX | --key_file=PEM |
// --out=STATE_DIR) [--out=STATE_DIR] [--cert_hosts=...]`. `record`, when
// set, is also given the supernode's raw public key once its certificate
// is made (to enrol it in the index's database); its failure fails the
// command.
int RunEnrolSupernode(
    const std::vector<std::string>& args,
    const std::function<absl::Status(const std::string& public_key)>& record =
        nullptr);

// `index_server renew-index DIR [--cert_days=N]`: a new certificate for the
// index's key, written over DIR/index.pem.
int RunRenewIndex(const std::vector<std::string>& args);

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_COMMUNITY_MAIN_H_
