// Small socket helpers shared by the servers.
#ifndef TROVE_COMMON_NET_UTIL_H_
#define TROVE_COMMON_NET_UTIL_H_

#include <string>

namespace trove {

// True when `listen` (HOST:PORT, port not 0) cannot be bound because another
// socket holds it. Servers ask after failing to listen, to say why.
// Thread-safe.
bool AddressInUse(const std::string& listen);

}  // namespace trove

#endif  // TROVE_COMMON_NET_UTIL_H_
