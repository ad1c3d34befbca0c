// The system libraries as Bazel wraps them (third_party/system_library.bzl):
// the compile flags pkg-config gives reach the targets that use them, so
// the headers agree with the compiled libraries.
#include <libpq-fe.h>  // found only through libpq's -I/usr/include/postgresql

#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "httplib.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "spdlog/logger.h"
#include "spdlog/sinks/ostream_sink.h"

// The -D flags of `pkg-config --cflags` arrive here, in a target that only
// depends on the wrappers.
#if !defined(SPDLOG_COMPILED_LIB) || !defined(SPDLOG_FMT_EXTERNAL) || \
    !defined(SPDLOG_SHARED_LIB)
#error "spdlog's defines did not reach this target"
#endif
#if !defined(CPPHTTPLIB_OPENSSL_SUPPORT) || !defined(CPPHTTPLIB_ZLIB_SUPPORT) || \
    !defined(CPPHTTPLIB_BROTLI_SUPPORT)
#error "cpp-httplib's defines did not reach this target"
#endif

namespace {

TEST(SystemLibraryTest, HttplibClientAndServerAgreeWithTheLibrary) {
  // With other defines than Debian's build, httplib::ClientImpl has another
  // layout than in libcpp-httplib.so and this round trip crashes.
  httplib::Server server;
  server.Get("/hello", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("hi there", "text/plain");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread t([&] { server.listen_after_bind(); });
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  httplib::Result res = client.Get("/hello");
  server.stop();
  t.join();
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "hi there");
}

TEST(SystemLibraryTest, SpdlogFormatsThroughExternalFmt) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("t", sink);
  logger.set_pattern("%l %v");
  logger.info("{} + {} = {}", 2, 3, 5);
  logger.flush();
  EXPECT_EQ(out.str(), "info 2 + 3 = 5\n");
}

TEST(SystemLibraryTest, PrometheusCoreSerializes) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter()
                     .Name("things_total")
                     .Help("things")
                     .Register(registry);
  family.Add({{"kind", "a"}}).Increment(3);
  std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  EXPECT_NE(text.find("things_total{kind=\"a\"} 3"), std::string::npos) << text;
}

TEST(SystemLibraryTest, LibpqHeadersFromItsOwnIncludeDir) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse("host=x port=5432", &err);
  ASSERT_NE(opts, nullptr);
  PQconninfoFree(opts);
  EXPECT_GE(PQlibVersion(), 130000);
}

}  // namespace
