// Fuzz target: reading a download's resume journal from disk
// (DecodeJournal), which a crash may have left torn and a disk may have
// damaged. Besides not crashing: the good prefix is no longer than the
// input, and encoding the records read gives back exactly that prefix.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "peer_client/transfer/resume_journal.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  size_t valid = 0;
  std::vector<trove::JournalRecord> records =
      trove::DecodeJournal(bytes, &valid);
  Check(valid <= size);
  std::string encoded;
  for (const trove::JournalRecord& r : records) {
    encoded += trove::EncodeJournalRecord(r);
  }
  Check(encoded == bytes.substr(0, valid));
  return 0;
}
