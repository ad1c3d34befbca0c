#include "index_server/peer_pages.h"

#include <deque>
#include <string>
#include <vector>

#include "common/search/query.h"
#include "gtest/gtest.h"

namespace trove {
namespace index_server {
namespace {

std::string Hex(int i) {
  char buf[65];
  snprintf(buf, sizeof(buf), "%064x", i);
  return buf;
}

std::string Raw(int i) {
  std::string raw;
  search::HexToRaw(Hex(i), &raw);
  return raw;
}

// A file for a PeerChange, which points to its files: they live as long
// as the test binary.
const FileEntry* File(int i, const std::string& name, int64_t size = 10) {
  static auto* files = new std::deque<FileEntry>;
  FileEntry& f = files->emplace_back();
  f.set_cid(Hex(i));
  f.set_name(name);
  f.set_size(size);
  return &f;
}

// A page of entries i in [from, to), named "n<i>".
PeerPage Page(int page, int from, int to) {
  PeerPage p;
  p.page = page;
  for (int i = from; i < to; ++i) {
    p.entries.push_back({Raw(i), "n" + std::to_string(i), 10, false});
  }
  return p;
}

TEST(PeerPagesTest, ParsesArrays) {
  std::vector<std::string> names;
  ASSERT_TRUE(ParsePgTextArray(R"({a,"b c","q\"uote","back\\slash","NULL",""})",
                               &names)
                  .ok());
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b c", "q\"uote",
                                             "back\\slash", "NULL", ""}));
  ASSERT_TRUE(ParsePgTextArray("{}", &names).ok());
  EXPECT_TRUE(names.empty());
  EXPECT_FALSE(ParsePgTextArray("{a,NULL}", &names).ok());
  EXPECT_FALSE(ParsePgTextArray("{\"open}", &names).ok());
  EXPECT_FALSE(ParsePgTextArray("a,b", &names).ok());

  std::vector<int64_t> sizes;
  ASSERT_TRUE(ParsePgBigintArray("{1,-2,9000000000}", &sizes).ok());
  EXPECT_EQ(sizes, (std::vector<int64_t>{1, -2, 9000000000}));
  EXPECT_FALSE(ParsePgBigintArray("{1,x}", &sizes).ok());

  std::vector<bool> partial;
  ASSERT_TRUE(ParsePgBoolArray("{t,f,t}", &partial).ok());
  EXPECT_EQ(partial, (std::vector<bool>{true, false, true}));
  EXPECT_FALSE(ParsePgBoolArray("{t,x}", &partial).ok());
}

TEST(PeerPagesTest, ParsePageChecksLengths) {
  PeerPage page;
  const std::string cids = Raw(1) + Raw(2);
  ASSERT_TRUE(ParsePage(3, cids, "{a,b}", "{1,2}", "{f,t}", &page).ok());
  EXPECT_EQ(page.page, 3);
  ASSERT_EQ(page.entries.size(), 2u);
  EXPECT_EQ(page.entries[1].cid, Raw(2));
  EXPECT_EQ(page.entries[1].name, "b");
  EXPECT_EQ(page.entries[1].size, 2);
  EXPECT_TRUE(page.entries[1].partial);
  EXPECT_FALSE(ParsePage(0, cids, "{a}", "{1,2}", "{f,t}", &page).ok());
  EXPECT_FALSE(ParsePage(0, Raw(1), "{a,b}", "{1,2}", "{f,t}", &page).ok());
}

TEST(PeerPagesTest, NewPeerFillsPagesInOrder) {
  PeerChange change;
  change.replace = true;
  for (int i = 0; i < kPageEntries + 5; ++i) {
    change.upserts.push_back(File(i, "f" + std::to_string(i), i));
  }
  change.partials.push_back(File(100000, "partial"));
  // Removals of what a new peer never stored change nothing.
  change.removals.push_back(Hex(7));
  PageEdit edit = EditPeerPages({}, change);
  ASSERT_EQ(edit.write.size(), 2u);
  EXPECT_EQ(edit.write[0].page, 0);
  ASSERT_EQ(edit.write[0].entries.size(), static_cast<size_t>(kPageEntries));
  for (int i = 0; i < kPageEntries; i += 511) {
    const PageEntry& e = edit.write[0].entries[i];
    EXPECT_EQ(e.cid, Raw(i));
    EXPECT_EQ(e.name, "f" + std::to_string(i));
    EXPECT_EQ(e.size, i);
    EXPECT_FALSE(e.partial);
  }
  EXPECT_EQ(edit.write[1].page, 1);
  ASSERT_EQ(edit.write[1].entries.size(), 6u);
  EXPECT_EQ(edit.write[1].entries[4].cid, Raw(kPageEntries + 4));
  EXPECT_FALSE(edit.write[1].entries[4].partial);
  EXPECT_EQ(edit.write[1].entries.back().cid, Raw(100000));
  EXPECT_EQ(edit.write[1].entries.back().name, "partial");
  EXPECT_TRUE(edit.write[1].entries.back().partial);
  EXPECT_TRUE(edit.remove.empty());
  EXPECT_EQ(edit.added, kPageEntries + 6);
  EXPECT_EQ(edit.removed, 0);
}

TEST(PeerPagesTest, DeltaRewritesOnlyThePagesItTouches) {
  // Pages 0 and 1 full, page 2 with room.
  std::vector<PeerPage> pages = {Page(0, 0, kPageEntries),
                                 Page(1, kPageEntries, 2 * kPageEntries),
                                 Page(2, 2 * kPageEntries, 2 * kPageEntries + 3)};
  PeerChange change;
  change.removals.push_back(Hex(5));                     // page 0
  change.upserts.push_back(File(7, "n7"));               // unchanged
  change.partials.push_back(File(2 * kPageEntries + 1, "renamed"));  // page 2
  change.upserts.push_back(File(999999, "new"));         // appended to page 2
  PageEdit edit = EditPeerPages(pages, change);
  EXPECT_EQ(edit.removed, 1);
  EXPECT_EQ(edit.added, 2);
  ASSERT_EQ(edit.write.size(), 2u);
  EXPECT_EQ(edit.write[0].page, 0);
  EXPECT_EQ(edit.write[0].entries.size(), static_cast<size_t>(kPageEntries - 1));
  EXPECT_EQ(edit.write[1].page, 2);
  ASSERT_EQ(edit.write[1].entries.size(), 4u);
  EXPECT_EQ(edit.write[1].entries[1].name, "renamed");
  EXPECT_TRUE(edit.write[1].entries[1].partial);
  EXPECT_EQ(edit.write[1].entries[3].cid, Raw(999999));
  EXPECT_TRUE(edit.remove.empty());
}

TEST(PeerPagesTest, EmptiedPageIsDeletedAndFullLastPageGetsASuccessor) {
  std::vector<PeerPage> pages = {Page(0, 0, 1), Page(4, 10, 10 + kPageEntries)};
  PeerChange change;
  change.removals.push_back(Hex(0));
  change.upserts.push_back(File(50000, "x"));
  PageEdit edit = EditPeerPages(pages, change);
  EXPECT_EQ(edit.remove, std::vector<int>{0});
  ASSERT_EQ(edit.write.size(), 1u);
  EXPECT_EQ(edit.write[0].page, 5);
  EXPECT_EQ(edit.write[0].entries.size(), 1u);
}

TEST(PeerPagesTest, ReplaceKeepsWhatItReannouncesAndSkipsUnchanged) {
  std::vector<PeerPage> pages = {Page(0, 0, 3)};
  PeerChange same;
  same.replace = true;
  for (int i = 0; i < 3; ++i) same.upserts.push_back(File(i, "n" + std::to_string(i)));
  PageEdit edit = EditPeerPages(pages, same);
  EXPECT_TRUE(edit.write.empty());
  EXPECT_TRUE(edit.remove.empty());
  EXPECT_EQ(edit.added, 0);

  PeerChange other;
  other.replace = true;
  other.upserts.push_back(File(1, "n1"));
  other.upserts.push_back(File(9, "n9"));
  edit = EditPeerPages(pages, other);
  EXPECT_EQ(edit.removed, 2);
  EXPECT_EQ(edit.added, 1);
  ASSERT_EQ(edit.write.size(), 1u);
  ASSERT_EQ(edit.write[0].entries.size(), 2u);
  EXPECT_EQ(edit.write[0].entries[0].cid, Raw(1));
  EXPECT_EQ(edit.write[0].entries[1].cid, Raw(9));
}

TEST(PeerPagesTest, SparseReplaceIsRepacked) {
  std::vector<PeerPage> pages;
  for (int p = 0; p < 6; ++p) pages.push_back(Page(p * 2, p * 10, p * 10 + 2));
  PeerChange change;
  change.replace = true;
  for (int p = 0; p < 6; ++p) change.upserts.push_back(File(p * 10, "n" + std::to_string(p * 10)));
  PageEdit edit = EditPeerPages(pages, change);
  ASSERT_EQ(edit.write.size(), 1u);
  EXPECT_EQ(edit.write[0].page, 0);
  EXPECT_EQ(edit.write[0].entries.size(), 6u);
  EXPECT_EQ(edit.remove, (std::vector<int>{2, 4, 6, 8, 10}));
  EXPECT_EQ(edit.removed, 6);
}

TEST(PeerPagesTest, RemoveCid) {
  PageEdit edit = RemoveCidFromPages({Page(0, 0, 2), Page(1, 5, 6)}, Raw(5));
  EXPECT_EQ(edit.removed, 1);
  EXPECT_TRUE(edit.write.empty());
  EXPECT_EQ(edit.remove, std::vector<int>{1});
}

}  // namespace
}  // namespace index_server
}  // namespace trove
