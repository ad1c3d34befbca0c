// Conversion between absl::Status and grpc::Status: the one place where the
// two meet. Service classes call these at their edges.
#ifndef TROVE_COMMON_GRPC_STATUS_H_
#define TROVE_COMMON_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace trove {

// Same code, same message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Same code, same message.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace trove

#endif  // TROVE_COMMON_GRPC_STATUS_H_
