// A GoogleTest fixture with a fresh Cluster (cluster.h) for each test, its
// client TLS context installed as the process's default (so MakeChannel
// reaches the cluster's servers); when the test failed, the tails of every
// log are printed.
#ifndef TROVE_TESTS_HARNESS_CLUSTER_FIXTURE_H_
#define TROVE_TESTS_HARNESS_CLUSTER_FIXTURE_H_

#include <iostream>
#include <memory>

#include "common/server_util.h"
#include "gtest/gtest.h"
#include "tests/harness/cluster.h"

namespace trove {
namespace testutil {

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Create();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    SetDefaultTls(cluster_->client_tls());
  }
  void TearDown() override {
    if (HasFailure() && cluster_ != nullptr) std::cerr << cluster_->LogTails();
    SetDefaultTls(nullptr);
  }

  std::unique_ptr<Cluster> cluster_;
};

}  // namespace testutil
}  // namespace trove

#endif  // TROVE_TESTS_HARNESS_CLUSTER_FIXTURE_H_
