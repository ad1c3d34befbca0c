// The files of a community, by name: what `index_server init` writes into
// the community's folder, and what a supernode's state folder holds. Shared
// by the binaries that write and read them.
#ifndef TROVE_COMMON_COMMUNITY_FILES_H_
#define TROVE_COMMON_COMMUNITY_FILES_H_

namespace trove {

// The community folder (`index_server init DIR`, mode 0700).
inline constexpr char kCaKeyFile[] = "ca.key";          // 0600
inline constexpr char kCaCertFile[] = "ca.pem";
inline constexpr char kIndexKeyFile[] = "index.key";    // 0600
inline constexpr char kIndexCertFile[] = "index.pem";   // index, then CA
inline constexpr char kIndexConfigFile[] = "config";    // 0600
inline constexpr char kAdminTokenFile[] = "admin_token";  // 0600
inline constexpr char kLinkFile[] = "link";             // the community link

// A supernode's state folder (--state_dir).
inline constexpr char kSupernodeKeyFile[] = "supernode_key.pem";   // 0600
inline constexpr char kSupernodeCertFile[] = "supernode_cert.pem";

// The community CA as learned through a link (peers: in STATE, supernodes:
// in their state folder).
inline constexpr char kCommunityCaFile[] = "community_ca.pem";

}  // namespace trove

#endif  // TROVE_COMMON_COMMUNITY_FILES_H_
