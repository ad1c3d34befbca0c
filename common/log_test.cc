#include "common/log.h"

#include <grpc/support/log.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace trove {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/trove-log-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/trove.log";
    SetLogTag("test_role");
  }
  void TearDown() override {
    LogOptions back;
    ASSERT_TRUE(InitLogging(back).ok());
    SetLogField("supernode", "");
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }

  void Init(LogFormat format, LogSeverity level = LogSeverity::kInfo) {
    LogOptions o;
    o.format = format;
    o.min_severity = level;
    o.file = path_;
    absl::Status s = InitLogging(o);
    ASSERT_TRUE(s.ok()) << s;
  }

  std::vector<std::string> Lines() {
    std::ifstream in(path_);
    std::stringstream all;
    all << in.rdbuf();
    std::vector<std::string> lines =
        absl::StrSplit(all.str(), '\n', absl::SkipEmpty());
    return lines;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(LogTest, TextLineHasTimeLevelRoleSourceAndFields) {
  Init(LogFormat::kText);
  TROVE_LOG(WARNING).With("peer", "ab12").With("n", 7) << "joined " << 42;
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  const std::string& l = lines[0];
  // 2026-11-27T15:20:01.123Z W test_role log_test.cc:NN] joined 42 peer=ab12 n=7
  EXPECT_EQ(l.size() > 25 && l[4] == '-' && l[10] == 'T' && l[23] == 'Z', true)
      << l;
  EXPECT_NE(l.find("Z W test_role log_test.cc:"), std::string::npos) << l;
  EXPECT_NE(l.find("] joined 42 peer=ab12 n=7"), std::string::npos) << l;
}

TEST_F(LogTest, HostileTextCannotForgeALine) {
  Init(LogFormat::kText);
  const std::string name =
      "x\n2026-01-01T00:00:00.000Z E index_server main.cc:1] forged\r"
      "\x1b[2J\xc2\x9b" "31m\xe2\x80\xae" "3pm.exe";
  TROVE_LOG(INFO).With("name", name) << "file " << name;
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 1u) << "a newline in a value split the line";
  const std::string& l = lines[0];
  EXPECT_EQ(l.find('\x1b'), std::string::npos);
  EXPECT_EQ(l.find('\r'), std::string::npos);
  EXPECT_EQ(l.find("\xc2\x9b"), std::string::npos);
  EXPECT_EQ(l.find("\xe2\x80\xae"), std::string::npos);
  EXPECT_NE(l.find("file x\\n2026-01-01T00:00:00.000Z E index_server"),
            std::string::npos)
      << l;
  EXPECT_NE(l.find("\\x1b[2J\\u009b31m\\u202e3pm.exe"), std::string::npos) << l;
  // A field value with spaces is quoted, so it cannot pose as another field.
  EXPECT_NE(l.find(" name=\"x\\n2026"), std::string::npos) << l;
}

TEST_F(LogTest, JsonLinesParseAndCarryFields) {
  Init(LogFormat::kJson);
  SetLogField("supernode", "5n1d");
  TROVE_LOG(ERROR).With("peer", "p\"1\n") << "bad \"chunk\"\n\xe2\x81\xa6x";
  TROVE_LOG(INFO) << "second";
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  nlohmann::json j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["role"], "test_role");
  EXPECT_EQ(j["msg"], "bad \"chunk\"\n\xe2\x81\xa6x");  // exact after decoding
  EXPECT_EQ(j["peer"], "p\"1\n");
  EXPECT_EQ(j["supernode"], "5n1d");
  EXPECT_TRUE(j["src"].get<std::string>().rfind("log_test.cc:", 0) == 0);
  EXPECT_EQ(j["time"].get<std::string>().size(), 24u) << j["time"];
  // The raw line holds no control or bidi character.
  EXPECT_EQ(lines[0].find("\xe2\x81\xa6"), std::string::npos);
  nlohmann::json k = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(k["level"], "info");
  EXPECT_EQ(k["supernode"], "5n1d");
  EXPECT_FALSE(k.contains("peer"));
}

TEST_F(LogTest, LineFieldOverridesProcessField) {
  Init(LogFormat::kJson);
  SetLogField("supernode", "process");
  TROVE_LOG(INFO).With("supernode", "line") << "x";
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["supernode"], "line");
  EXPECT_EQ(lines[0].find("process"), std::string::npos);
}

int evaluations = 0;
int Counted() { return ++evaluations; }

TEST_F(LogTest, LevelFiltersAndSkipsFormatting) {
  Init(LogFormat::kText, LogSeverity::kWarning);
  evaluations = 0;
  TROVE_LOG(DEBUG) << "d" << Counted();
  TROVE_LOG(INFO) << "i" << Counted();
  TROVE_LOG(WARNING) << "w" << Counted();
  EXPECT_EQ(evaluations, 1);
  EXPECT_FALSE(LogEnabled(LogSeverity::kInfo));
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(" W test_role"), std::string::npos);

  Init(LogFormat::kText, LogSeverity::kDebug);
  TROVE_LOG(DEBUG) << "now debug";
  lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find(" D test_role"), std::string::npos) << lines[1];
}

TEST_F(LogTest, GrpcLinesGoThroughTheSameLogger) {
  Init(LogFormat::kJson);
  gpr_log(GPR_ERROR, "grpc says %s", "bad\nthing");
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  nlohmann::json j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["from"], "grpc");
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["msg"], "grpc says bad\nthing");
}

TEST_F(LogTest, UnopenableFileIsAnError) {
  // A path under a regular file can never be opened (spdlog makes missing
  // folders itself).
  { std::ofstream(path_) << "not a folder"; }
  LogOptions o;
  o.file = path_ + "/x.log";
  absl::Status s = InitLogging(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("trove.log/x.log"), std::string::npos) << s;
}

TEST(ParseLogSeverityTest, Names) {
  LogSeverity s;
  ASSERT_TRUE(ParseLogSeverity("DEBUG", &s).ok());
  EXPECT_EQ(s, LogSeverity::kDebug);
  ASSERT_TRUE(ParseLogSeverity("warn", &s).ok());
  EXPECT_EQ(s, LogSeverity::kWarning);
  ASSERT_TRUE(ParseLogSeverity("error", &s).ok());
  EXPECT_EQ(s, LogSeverity::kError);
  EXPECT_EQ(ParseLogSeverity("loud", &s).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace trove
