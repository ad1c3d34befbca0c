#include "peer_client/transfer/resume_journal.h"

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "peer_client/test_util.h"

namespace trove {
namespace {

using testing::PathExists;
using testing::ReadTestFile;
using testing::TempDir;
using testing::WriteTestFile;

JournalRecord Record(int64_t mtime, std::vector<uint32_t> chunks) {
  JournalRecord r;
  r.stamp.size = 100;
  r.stamp.mtime_ns = mtime;
  r.stamp.inode = 7;
  r.chunks = std::move(chunks);
  return r;
}

std::string Chunks(const std::vector<JournalRecord>& records) {
  std::vector<std::string> parts;
  for (const JournalRecord& r : records) {
    parts.push_back(absl::StrJoin(r.chunks, ","));
  }
  return absl::StrJoin(parts, " | ");
}

TEST(JournalCodecTest, RecordsRoundTrip) {
  std::string bytes = EncodeJournalRecord(Record(1, {0, 1, 2})) +
                      EncodeJournalRecord(Record(2, {})) +
                      EncodeJournalRecord(Record(3, {4000000000u}));
  size_t valid = 0;
  std::vector<JournalRecord> records = DecodeJournal(bytes, &valid);
  EXPECT_EQ(valid, bytes.size());
  EXPECT_EQ(Chunks(records), "0,1,2 |  | 4000000000");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2].stamp.mtime_ns, 3);
  EXPECT_EQ(records[2].stamp.size, 100);
  EXPECT_EQ(records[2].stamp.inode, 7u);
}

TEST(JournalCodecTest, TornTailIsIgnoredWhereverTheCrashCut) {
  const std::string first = EncodeJournalRecord(Record(1, {0, 1}));
  const std::string second = EncodeJournalRecord(Record(2, {2, 3, 4}));
  for (size_t cut = 0; cut < second.size(); ++cut) {
    std::string bytes = first + second.substr(0, cut);
    size_t valid = 0;
    std::vector<JournalRecord> records = DecodeJournal(bytes, &valid);
    EXPECT_EQ(Chunks(records), "0,1") << "cut at " << cut;
    EXPECT_EQ(valid, first.size()) << "cut at " << cut;
  }
}

TEST(JournalCodecTest, DamagedRecordEndsTheJournal) {
  const std::string a = EncodeJournalRecord(Record(1, {0}));
  const std::string b = EncodeJournalRecord(Record(2, {1}));
  const std::string c = EncodeJournalRecord(Record(3, {2}));
  for (size_t i = 0; i < b.size(); ++i) {
    std::string damaged = b;
    damaged[i] ^= 0x10;
    EXPECT_EQ(Chunks(DecodeJournal(a + damaged + c)), "0") << "byte " << i;
  }
  // Zeros after a crash (a file extended but not written) are ignored too.
  EXPECT_EQ(Chunks(DecodeJournal(a + std::string(64, '\0'))), "0");
  EXPECT_EQ(Chunks(DecodeJournal("")), "");
}

// A fake part file and journal sharing one event log, to check the order
// of writes, syncs and records.
class EventLog {
 public:
  void Add(std::string e) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(e));
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> events_;
};

class FakeData : public SyncableFile {
 public:
  explicit FakeData(EventLog* log) : log_(log) {}
  absl::Status SyncData() override {
    log_->Add("sync");
    absl::MutexLock lock(&mu_);
    ++syncs_;
    return sync_error_;
  }
  absl::StatusOr<FileStamp> Stamp() override {
    absl::MutexLock lock(&mu_);
    FileStamp s;
    s.mtime_ns = syncs_;
    return s;
  }
  void FailSyncs() {
    absl::MutexLock lock(&mu_);
    sync_error_ = absl::DataLossError("EIO");
  }

 private:
  EventLog* const log_;
  absl::Mutex mu_;
  int syncs_ = 0;
  absl::Status sync_error_;
};

class FakeSink : public JournalSink {
 public:
  explicit FakeSink(EventLog* log) : log_(log) {}
  absl::Status Append(absl::string_view bytes) override {
    std::vector<JournalRecord> r = DecodeJournal(bytes);
    EXPECT_EQ(r.size(), 1u);
    log_->Add(absl::StrCat("record ", absl::StrJoin(r[0].chunks, ",")));
    absl::MutexLock lock(&mu_);
    bytes_ += std::string(bytes);
    if (appended_ != nullptr && !appended_->HasBeenNotified()) {
      appended_->Notify();
    }
    return absl::OkStatus();
  }
  absl::Status Sync() override {
    log_->Add("journal sync");
    return absl::OkStatus();
  }
  std::string bytes() {
    absl::MutexLock lock(&mu_);
    return bytes_;
  }
  void NotifyOnAppend(absl::Notification* n) {
    absl::MutexLock lock(&mu_);
    appended_ = n;
  }

 private:
  EventLog* const log_;
  absl::Mutex mu_;
  std::string bytes_;
  absl::Notification* appended_ = nullptr;
};

JournalWriter::Options Manual() {
  JournalWriter::Options o;
  o.background = false;
  return o;
}

TEST(JournalWriterTest, RecordComesAfterTheSyncOfItsChunks) {
  EventLog log;
  FakeData data(&log);
  FakeSink sink(&log);
  JournalWriter writer(&data, &sink, Manual());
  log.Add("write 3");
  writer.Add(3);
  log.Add("write 1");
  writer.Add(1);
  ASSERT_TRUE(writer.Flush().ok());
  ASSERT_TRUE(writer.Flush().ok());  // Nothing new: no sync, no record.
  log.Add("write 2");
  writer.Add(2);
  ASSERT_TRUE(writer.Close().ok());
  EXPECT_EQ(absl::StrJoin(log.events(), "; "),
            "write 3; write 1; sync; record 1,3; write 2; sync; record 2; "
            "journal sync");
  EXPECT_EQ(writer.recorded_count(), 3);
  std::vector<JournalRecord> records = DecodeJournal(sink.bytes());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].stamp.mtime_ns, 1);  // Stamped after its sync.
  EXPECT_EQ(records[1].stamp.mtime_ns, 2);
}

// Many writers and a background flusher: every chunk in a record was
// written before the sync that precedes the record.
TEST(JournalWriterTest, UnderConcurrencyNoRecordPrecedesItsDataSync) {
  EventLog log;
  FakeData data(&log);
  FakeSink sink(&log);
  JournalWriter::Options o;
  o.batch_chunks = 5;
  o.max_delay = absl::Milliseconds(1);
  JournalWriter writer(&data, &sink, o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint32_t i = t; i < 400; i += 4) {
        log.Add(absl::StrCat("write ", i));
        writer.Add(i);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(writer.Close().ok());

  std::set<std::string> written_before_last_sync;
  std::set<std::string> written;
  std::set<std::string> recorded;
  for (const std::string& e : log.events()) {
    if (e.rfind("write ", 0) == 0) {
      written.insert(e.substr(6));
    } else if (e == "sync") {
      written_before_last_sync = written;
    } else if (e.rfind("record ", 0) == 0) {
      for (absl::string_view c : absl::StrSplit(e.substr(7), ',')) {
        EXPECT_TRUE(written_before_last_sync.count(std::string(c)))
            << "chunk " << c << " recorded before a sync covered it";
        recorded.insert(std::string(c));
      }
    }
  }
  EXPECT_EQ(recorded.size(), 400u);  // Close flushed the rest.
  EXPECT_EQ(writer.recorded_count(), 400);
}

TEST(JournalWriterTest, BackgroundFlushStartsAtAFullBatch) {
  EventLog log;
  FakeData data(&log);
  FakeSink sink(&log);
  absl::Notification appended;
  sink.NotifyOnAppend(&appended);
  JournalWriter::Options o;
  o.batch_chunks = 3;
  o.max_delay = absl::Hours(1);  // Only the batch size can start it.
  JournalWriter writer(&data, &sink, o);
  writer.Add(0);
  writer.Add(1);
  writer.Add(2);
  appended.WaitForNotification();
  EXPECT_EQ(Chunks(DecodeJournal(sink.bytes())), "0,1,2");
}

TEST(JournalWriterTest, FailedSyncRecordsNothingAndStopsRecording) {
  EventLog log;
  FakeData data(&log);
  FakeSink sink(&log);
  JournalWriter writer(&data, &sink, Manual());
  data.FailSyncs();
  writer.Add(0);
  EXPECT_EQ(writer.Flush().code(), absl::StatusCode::kDataLoss);
  writer.Add(1);
  EXPECT_EQ(writer.Flush().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(sink.bytes(), "");
  EXPECT_EQ(writer.recorded_count(), 0);
}

peer::Manifest TestManifest(const std::string& cid) {
  peer::Manifest m;
  m.set_cid(cid);
  m.set_size(3 * kChunkSize);
  m.set_name("x.bin");
  return m;
}

TransferMeta Meta(const std::string& dir) {
  TransferMeta meta;
  meta.out_dir = dir;
  meta.name = "x \"odd\"\nname.bin";
  meta.part_path = dir + "/.x.bin.trove-part";
  return meta;
}

TEST(TransferStoreTest, SavesLoadsAndRemovesADownload) {
  TempDir dir;
  TransferStore store(dir.Sub("transfers"));
  const std::string cid(64, 'a');
  EXPECT_TRUE(store.List().empty());
  EXPECT_EQ(store.Load(cid).status().code(), absl::StatusCode::kNotFound);
  {
    absl::StatusOr<std::unique_ptr<JournalFile>> journal =
        store.Create(cid, TestManifest(cid), Meta(dir.path()));
    ASSERT_TRUE(journal.ok()) << journal.status();
    ASSERT_TRUE((*journal)->Append(EncodeJournalRecord(Record(5, {2, 0}))).ok());
    ASSERT_TRUE((*journal)->Append(EncodeJournalRecord(Record(6, {1, 2}))).ok());
  }
  EXPECT_EQ(store.List(), std::vector<std::string>{cid});
  absl::StatusOr<SavedTransfer> saved = store.Load(cid);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->manifest.name(), "x.bin");
  EXPECT_EQ(saved->meta.name, Meta(dir.path()).name);
  EXPECT_EQ(saved->meta.part_path, Meta(dir.path()).part_path);
  EXPECT_EQ(saved->chunks, (std::vector<uint32_t>{0, 1, 2}));
  ASSERT_TRUE(saved->last_stamp.has_value());
  EXPECT_EQ(saved->last_stamp->mtime_ns, 6);
  EXPECT_FALSE(saved->torn_tail);

  ASSERT_TRUE(store.Remove(cid).ok());
  EXPECT_FALSE(PathExists(store.Dir(cid)));
  EXPECT_TRUE(store.List().empty());
  EXPECT_TRUE(store.Remove(cid).ok());  // Twice is fine.
}

TEST(TransferStoreTest, TornTailIsCutOffBeforeAppendingAgain) {
  TempDir dir;
  TransferStore store(dir.Sub("transfers"));
  const std::string cid(64, 'b');
  ASSERT_TRUE(store.Create(cid, TestManifest(cid), Meta(dir.path())).ok());
  const std::string journal = store.Dir(cid) + "/journal";
  std::string torn = EncodeJournalRecord(Record(2, {2}));
  WriteTestFile(journal, EncodeJournalRecord(Record(1, {0, 1})) +
                             torn.substr(0, torn.size() - 3));
  absl::StatusOr<SavedTransfer> saved = store.Load(cid);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->chunks, (std::vector<uint32_t>{0, 1}));
  EXPECT_TRUE(saved->torn_tail);

  absl::StatusOr<std::unique_ptr<JournalFile>> reopened =
      store.Rewrite(cid, Record(3, saved->chunks));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  ASSERT_TRUE((*reopened)->Append(EncodeJournalRecord(Record(4, {2}))).ok());
  saved = store.Load(cid);
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(saved->chunks, (std::vector<uint32_t>{0, 1, 2}));  // 2 counts now.
  EXPECT_FALSE(saved->torn_tail);
  EXPECT_EQ(saved->last_stamp->mtime_ns, 4);
}

TEST(TransferStoreTest, UnreadableManifestOrMetaIsDataLoss) {
  TempDir dir;
  TransferStore store(dir.Sub("transfers"));
  const std::string cid(64, 'c');
  ASSERT_TRUE(store.Create(cid, TestManifest(cid), Meta(dir.path())).ok());
  WriteTestFile(store.Dir(cid) + "/meta", "garbage");
  EXPECT_EQ(store.Load(cid).status().code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(store.Create(cid, TestManifest(cid), Meta(dir.path())).ok());
  WriteTestFile(store.Dir(cid) + "/manifest", "\xff\xff\xff");
  EXPECT_EQ(store.Load(cid).status().code(), absl::StatusCode::kDataLoss);
}

TEST(TransferStoreTest, OnlyCidFoldersAreListed) {
  TempDir dir;
  TransferStore store(dir.Sub("transfers"));
  WriteTestFile(dir.Sub("transfers/notacid/x"), "");
  WriteTestFile(dir.Sub("transfers/" + std::string(64, 'd') + "/meta"), "");
  EXPECT_EQ(store.List(), std::vector<std::string>{std::string(64, 'd')});
}

TEST(ReverifyChunksTest, KeepsOnlyChunksThatStillMatch) {
  TempDir dir;
  std::string data = testing::RandomBytes(3 * kChunkSize + 10, 5);
  FileHashes hashes = HashBuffer(data);
  auto part = PartFile::Create(dir.path(), "v", static_cast<int64_t>(data.size()));
  ASSERT_TRUE(part.ok());
  ASSERT_TRUE((*part)->WriteAt(0, data).ok());
  // Chunk 1 is damaged; chunk 3 (the short last one) is fine.
  ASSERT_TRUE((*part)->WriteAt(kChunkSize + 5, "X").ok());
  EXPECT_EQ(ReverifyChunks(part->get(), hashes.chunk_hashes, hashes.size,
                           {0, 1, 2, 3}, 2),
            (std::vector<uint32_t>{0, 2, 3}));
  EXPECT_EQ(ReverifyChunks(part->get(), hashes.chunk_hashes, hashes.size,
                           {1, 99}, 1),
            std::vector<uint32_t>{});
}

}  // namespace
}  // namespace trove
