#include "index_server/migrations.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace trove {
namespace index_server {

absl::StatusOr<std::vector<Migration>> OrderMigrations(
    const std::vector<MigrationFile>& files) {
  std::vector<Migration> out;
  for (const MigrationFile& f : files) {
    size_t underscore = f.file_name.find('_');
    int version = 0;
    if (underscore == std::string::npos || underscore == 0 ||
        !absl::SimpleAtoi(f.file_name.substr(0, underscore), &version) ||
        version <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "migration file name must be NNNN_name.sql: ", f.file_name));
    }
    out.push_back(Migration{version, f.file_name, f.sql});
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) {
              return a.version < b.version;
            });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].version == out[i - 1].version) {
      return absl::InvalidArgumentError(
          absl::StrCat("migrations ", out[i - 1].name, " and ", out[i].name,
                       " share version ", out[i].version));
    }
  }
  return out;
}

}  // namespace index_server
}  // namespace trove
