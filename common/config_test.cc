#include "common/config.h"

#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(std::string, cfgtest_listen, "127.0.0.1:7400", "where to listen");
ABSL_FLAG(int, cfgtest_slots, 32, "upload slots");
ABSL_FLAG(bool, cfgtest_reachable, false, "reachable from outside");
ABSL_FLAG(std::vector<std::string>, cfgtest_share, {}, "folders to share");
ABSL_FLAG(std::string, cfgtest_dsn, "", "a PostgreSQL connection string");

namespace trove {
namespace {

using ::testing::HasSubstr;

bool OwnedByThisTest(absl::string_view file) {
  return absl::StrContains(file, "config_test.cc") ||
         absl::StrContains(file, "common/config.cc");
}

class ConfigTest : public ::testing::Test {
 protected:
  absl::FlagSaver saver_;  // every test starts from the defaults
};

TEST_F(ConfigTest, ParsesNamesValuesCommentsAndQuotes) {
  absl::StatusOr<std::vector<ConfigSetting>> s = ParseConfig(
      "# a comment\n"
      "\n"
      "  listen = 0.0.0.0:7400   \n"
      "dsn = \"host=db  user=trove # not a comment\"  # a comment\n"
      "slots=64 # inline comment\n"
      "empty = \"\"\n"
      "bare =\n"
      "path = /srv/music#1\n"
      "esc = \"a\\\"b\\\\c\\nd\\te\"\r\n"
      "\t# indented comment\n",
      "x.conf");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 7u);
  EXPECT_EQ((*s)[0].name, "listen");
  EXPECT_EQ((*s)[0].value, "0.0.0.0:7400");
  EXPECT_EQ((*s)[0].line, 3);
  EXPECT_EQ((*s)[1].value, "host=db  user=trove # not a comment");
  EXPECT_EQ((*s)[2].value, "64");
  EXPECT_EQ((*s)[3].value, "");
  EXPECT_EQ((*s)[4].value, "");
  EXPECT_EQ((*s)[5].value, "/srv/music#1");
  EXPECT_EQ((*s)[6].value, "a\"b\\c\nd\te");
  EXPECT_EQ((*s)[6].line, 9);
}

TEST_F(ConfigTest, SyntaxErrorsNameFileAndLine) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           Case{"a = 1\nno equals sign\n", "my.conf:2: expected `name = value`"},
           Case{"= 3\n", "my.conf:1: no name before '='"},
           Case{"--listen = x\n", "my.conf:1: write setting names without dashes"},
           Case{"max uploads = 3\n", "my.conf:1: bad setting name \"max uploads\""},
           Case{"a = \"open\n", "my.conf:1: a: quoted value has no closing quote"},
           Case{"a = \"x\" y\n", "my.conf:1: a: unexpected text after the closing quote"},
           Case{"a = \"\\q\"\n", "my.conf:1: a: unknown escape \\q"},
           Case{"a = 1\n\na = 2\n", "my.conf:3: a is already set on line 1"},
       }) {
    absl::StatusOr<std::vector<ConfigSetting>> s = ParseConfig(c.text, "my.conf");
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(c.message));
  }
}

TEST_F(ConfigTest, HostileTextInErrorsIsEscaped) {
  absl::StatusOr<std::vector<ConfigSetting>> s =
      ParseConfig("\x1b[2J\xe2\x80\xae junk\n", "my.conf");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("\\x1b[2J\\u202e"));
}

TEST_F(ConfigTest, FormatReadsBackTheSameValue) {
  for (const std::string v :
       {"plain", "", " lead", "trail ", "a # b", "#x", "\"quoted\"", "a\"b",
        "back\\slash", "two\nlines", "tab\there", "host=db user=trove",
        "caf\xc3\xa9"}) {
    std::string line = "x = " + FormatConfigValue(v) + "\n";
    absl::StatusOr<std::vector<ConfigSetting>> s = ParseConfig(line, "f");
    ASSERT_TRUE(s.ok()) << line << s.status();
    ASSERT_EQ(s->size(), 1u);
    EXPECT_EQ((*s)[0].value, v) << line;
  }
  EXPECT_EQ(FormatConfigValue("0.0.0.0:7400"), "0.0.0.0:7400");
  EXPECT_EQ(FormatConfigValue(""), "\"\"");
}

TEST_F(ConfigTest, ApplySetsFlagsButTheCommandLineWins) {
  absl::StatusOr<std::vector<ConfigSetting>> s = ParseConfig(
      "cfgtest_listen = 0.0.0.0:9\ncfgtest_slots = 5\ncfgtest_reachable = "
      "true\ncfgtest_share = /a,/b\n",
      "f");
  ASSERT_TRUE(s.ok());
  absl::Status applied = ApplyConfig(*s, "f", OwnedByThisTest, {"cfgtest_slots"});
  ASSERT_TRUE(applied.ok()) << applied;
  EXPECT_EQ(absl::GetFlag(FLAGS_cfgtest_listen), "0.0.0.0:9");
  EXPECT_EQ(absl::GetFlag(FLAGS_cfgtest_slots), 32);  // kept
  EXPECT_TRUE(absl::GetFlag(FLAGS_cfgtest_reachable));
  EXPECT_EQ(absl::GetFlag(FLAGS_cfgtest_share),
            (std::vector<std::string>{"/a", "/b"}));
}

TEST_F(ConfigTest, ApplyRefusesUnknownForeignAndBadValues) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           Case{"cfgtest_slots = 3\nnope = 1\n",
                "f.conf:2: unknown setting \"nope\""},
           // A flag of another part of the program (absl's own) is unknown.
           Case{"flagfile = /etc/x\n", "f.conf:1: unknown setting \"flagfile\""},
           Case{"cfgtest_slots = many\n", "f.conf:1: bad value for cfgtest_slots"},
           Case{"cfgtest_reachable = perhaps\n",
                "f.conf:1: bad value for cfgtest_reachable"},
           Case{"config = other.conf\n",
                "f.conf:1: config can only be given on the command line"},
       }) {
    absl::StatusOr<std::vector<ConfigSetting>> s = ParseConfig(c.text, "f.conf");
    ASSERT_TRUE(s.ok()) << c.text;
    absl::Status applied = ApplyConfig(*s, "f.conf", OwnedByThisTest, {});
    EXPECT_EQ(applied.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(applied.message()), HasSubstr(c.message));
  }
}

TEST_F(ConfigTest, FlagsOnCommandLine) {
  const char* argv[] = {"prog",           "--cfgtest_slots=3", "-cfgtest_listen",
                        "x:1",            "--nocfgtest_reachable", "verb",
                        "--unknown_flag", "--",                "--cfgtest_dsn=x"};
  std::set<std::string> names =
      FlagsOnCommandLine(9, const_cast<char* const*>(argv));
  EXPECT_EQ(names, (std::set<std::string>{"cfgtest_slots", "cfgtest_listen",
                                          "cfgtest_reachable"}));
}

TEST_F(ConfigTest, DumpIsAConfigFileOfTheCurrentValues) {
  absl::SetFlag(&FLAGS_cfgtest_dsn, "host=db user=trove # x");
  absl::SetFlag(&FLAGS_cfgtest_slots, 7);
  std::string dump = DumpConfig("testprog", OwnedByThisTest);
  EXPECT_THAT(dump, HasSubstr("# Settings of testprog"));
  EXPECT_THAT(dump, HasSubstr("# upload slots\n# default: 32\ncfgtest_slots = 7\n"));
  EXPECT_THAT(dump, HasSubstr("# where to listen\ncfgtest_listen = 127.0.0.1:7400\n"));
  EXPECT_THAT(dump, ::testing::Not(HasSubstr("dump_config =")));
  EXPECT_THAT(dump, ::testing::Not(HasSubstr("\nconfig =")));

  // Read back into defaults, the dump restores the same values.
  absl::StatusOr<std::vector<ConfigSetting>> s = ParseConfig(dump, "dump");
  ASSERT_TRUE(s.ok()) << s.status();
  absl::SetFlag(&FLAGS_cfgtest_dsn, "");
  absl::SetFlag(&FLAGS_cfgtest_slots, 32);
  ASSERT_TRUE(ApplyConfig(*s, "dump", OwnedByThisTest, {}).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_cfgtest_dsn), "host=db user=trove # x");
  EXPECT_EQ(absl::GetFlag(FLAGS_cfgtest_slots), 7);
}

TEST_F(ConfigTest, TemplateSetsSomeAndCommentsOutTheRest) {
  std::string text = ConfigTemplate("A new community.", OwnedByThisTest,
                                    {{"cfgtest_listen", "0.0.0.0:7400"},
                                     {"cfgtest_dsn", "host=db # not a comment"}});
  EXPECT_THAT(text, HasSubstr("# A new community.\n"));
  EXPECT_THAT(text, HasSubstr("# where to listen\ncfgtest_listen = 0.0.0.0:7400\n"));
  EXPECT_THAT(text, HasSubstr("# upload slots\n# cfgtest_slots = 32\n"));
  // Read back: exactly the two settings, with their values.
  absl::StatusOr<std::vector<ConfigSetting>> s = ParseConfig(text, "t");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[0].name, "cfgtest_listen");
  EXPECT_EQ((*s)[1].value, "host=db # not a comment");
}

TEST_F(ConfigTest, LoadFromFlagsReadsTheFileOrTheDefault) {
  char tmpl[] = "/tmp/trove-config-test.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string path = dir + "/config";
  std::ofstream(path) << "cfgtest_slots = 9\n";
  ConfigOptions o;
  o.program = "t";
  o.owns_flag = OwnedByThisTest;
  o.default_path = path;
  const char* argv[] = {"prog"};
  absl::Status s = LoadConfigFromFlags(1, const_cast<char* const*>(argv), o);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(absl::GetFlag(FLAGS_cfgtest_slots), 9);

  // An explicit --config that does not exist is an error; a missing default
  // is not.
  absl::SetFlag(&FLAGS_cfgtest_slots, 32);
  o.default_path = dir + "/absent";
  EXPECT_TRUE(LoadConfigFromFlags(1, const_cast<char* const*>(argv), o).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_cfgtest_slots), 32);
  absl::CommandLineFlag* config = absl::FindCommandLineFlag("config");
  ASSERT_NE(config, nullptr);
  std::string err;
  ASSERT_TRUE(config->ParseFrom(dir + "/absent", &err));
  s = LoadConfigFromFlags(1, const_cast<char* const*>(argv), o);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("absent"));
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace trove
