#include "index_server/migrations.h"

#include "gtest/gtest.h"

namespace trove {
namespace index_server {
namespace {

TEST(MigrationsTest, EmbeddedFilesAreOrderedAndStartWithTheSchema) {
  absl::StatusOr<std::vector<Migration>> m =
      OrderMigrations(EmbeddedMigrationFiles());
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_FALSE(m->empty());
  EXPECT_EQ((*m)[0].version, 1);
  EXPECT_EQ((*m)[0].name, "0001_init.sql");
  EXPECT_NE((*m)[0].sql.find("CREATE EXTENSION IF NOT EXISTS pg_trgm"),
            std::string::npos);
}

TEST(MigrationsTest, SortsByNumber) {
  absl::StatusOr<std::vector<Migration>> m =
      OrderMigrations({{"0010_b.sql", "b"}, {"0002_a.sql", "a"}});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)[0].version, 2);
  EXPECT_EQ((*m)[1].version, 10);
}

TEST(MigrationsTest, RejectsBadNamesAndDuplicates) {
  EXPECT_EQ(OrderMigrations({{"init.sql", ""}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OrderMigrations({{"0000_zero.sql", ""}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OrderMigrations({{"0001_a.sql", ""}, {"01_b.sql", ""}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace index_server
}  // namespace trove
