#include "common/tls_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"

ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate (chain) this server presents (index_server: the "
          "file `index_server init` made; supernode: default "
          "STATE_DIR/supernode_cert.pem)");
ABSL_FLAG(std::string, tls_key, "",
          "PEM private key of --tls_cert (supernode: default "
          "STATE_DIR/supernode_key.pem)");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM certificate of the community CA to trust (instead of learning "
          "it through --join)");
ABSL_FLAG(bool, insecure, false,
          "plaintext connections, no certificates: for tests on one machine "
          "only; TLS is on without it");

namespace trove {

TlsFlags GetTlsFlags() {
  TlsFlags f;
  f.cert = absl::GetFlag(FLAGS_tls_cert);
  f.key = absl::GetFlag(FLAGS_tls_key);
  f.ca = absl::GetFlag(FLAGS_tls_ca);
  f.insecure = absl::GetFlag(FLAGS_insecure);
  return f;
}

absl::StatusOr<std::string> ReadPemFlag(absl::string_view flag,
                                        const std::string& path) {
  absl::StatusOr<std::string> data = ReadFile(path);
  if (!data.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, ": cannot read ", path, ": ", data.status().message()));
  }
  if (!absl::StrContains(*data, "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": ", path, " holds no PEM data"));
  }
  return data;
}

}  // namespace trove
