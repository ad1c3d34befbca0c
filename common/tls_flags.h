// The TLS flags every Trove binary shares, and reading what they name:
//   --tls_cert, --tls_key   this server's certificate (chain) and key
//   --tls_ca                the community CA certificate to trust
//   --insecure              plaintext everywhere (tests; never on a network)
// TLS is on unless --insecure is given; each binary decides where its key,
// certificate and CA come from when the flags are empty (see its --help).
#ifndef TROVE_COMMON_TLS_FLAGS_H_
#define TROVE_COMMON_TLS_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trove {

struct TlsFlags {
  std::string cert;
  std::string key;
  std::string ca;
  bool insecure = false;
};

// The flags' values now.
TlsFlags GetTlsFlags();

// The contents of the PEM file `path` given as --`flag`. INVALID_ARGUMENT
// ("--tls_ca: cannot read PATH: ...") when it cannot be read or holds no
// PEM block.
absl::StatusOr<std::string> ReadPemFlag(absl::string_view flag,
                                        const std::string& path);

}  // namespace trove

#endif  // TROVE_COMMON_TLS_FLAGS_H_
