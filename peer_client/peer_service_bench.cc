// Measures GetChunks throughput over loopback: serves one file with
// PeerServiceImpl (as the daemon does) and fetches all its chunks with
// --streams concurrent GetChunks calls of --chunks_per_request chunks each,
// optionally hashing each chunk (--verify) and writing it (--out).
//
//   bazel run -c opt //peer_client:peer_service_bench -- --file=/tmp/big.bin
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/clock.h"
#include "common/merkle.h"
#include "common/server_util.h"
#include "peer_client/peer_service.h"
#include "peer_client/share_scanner.h"

ABSL_FLAG(std::string, file, "", "the file to serve (its folder is scanned)");
ABSL_FLAG(int, streams, 2, "GetChunks calls in flight");
ABSL_FLAG(int, chunks_per_request, 8, "chunks per GetChunks call");
ABSL_FLAG(bool, verify, false, "SHA-256 each chunk against the manifest");
ABSL_FLAG(std::string, out, "", "pwrite the chunks into this file");
ABSL_FLAG(int, runs, 3, "fetches of the whole file");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("GetChunks throughput over loopback");
  absl::ParseCommandLine(argc, argv);
  const std::string path = absl::GetFlag(FLAGS_file);
  if (path.empty()) {
    std::cerr << "give --file=PATH\n";
    return 2;
  }
  trove::ShareScanner::Options so;
  so.roots = {path.substr(0, path.rfind('/'))};
  trove::ShareScanner scanner(so, nullptr);
  scanner.Scan();
  std::vector<trove::FileEntry> files = scanner.Files();
  std::string cid;
  int64_t size = 0;
  const std::string name = path.substr(path.rfind('/') + 1);
  for (const trove::FileEntry& f : files) {
    if (f.name() == name) {
      cid = f.cid();
      size = f.size();
    }
  }
  if (cid.empty()) {
    std::cerr << "not shared: " << path << "\n";
    return 1;
  }
  std::shared_ptr<const trove::SharedFile> shared = scanner.FindByCid(cid);
  absl::StatusOr<std::unique_ptr<trove::Identity>> identity =
      trove::Identity::Generate();
  if (!identity.ok()) {
    std::cerr << identity.status() << "\n";
    return 1;
  }
  trove::PeerServiceImpl service(&scanner, identity->get(),
                                 trove::PeerServiceImpl::Options());
  absl::StatusOr<trove::RunningServer> server =
      trove::StartServer("127.0.0.1:0", {&service},
                         grpc::InsecureServerCredentials());
  if (!server.ok()) {
    std::cerr << server.status() << "\n";
    return 1;
  }
  auto stub =
      trove::peer::PeerService::NewStub(trove::MakeChannel(server->address));
  const int64_t chunks = trove::ChunkCount(size);
  const int per = absl::GetFlag(FLAGS_chunks_per_request);
  const bool verify = absl::GetFlag(FLAGS_verify);
  const std::string out = absl::GetFlag(FLAGS_out);

  for (int run = 0; run < absl::GetFlag(FLAGS_runs); ++run) {
    int out_fd = -1;
    if (!out.empty()) {
      out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    }
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> bad{0};
    std::atomic<int64_t> bytes{0};
    absl::Time start = absl::Now();
    std::vector<std::thread> threads;
    for (int s = 0; s < absl::GetFlag(FLAGS_streams); ++s) {
      threads.emplace_back([&, s] {
        const std::string requester(64, static_cast<char>('a' + s % 6));
        while (true) {
          int64_t first = next.fetch_add(per);
          if (first >= chunks) return;
          trove::peer::GetChunksRequest req;
          req.set_cid(cid);
          req.set_requester_id(requester);
          for (int64_t i = first; i < std::min(chunks, first + per); ++i) {
            req.add_indexes(static_cast<uint32_t>(i));
          }
          grpc::ClientContext ctx;
          auto reader = stub->GetChunks(&ctx, req);
          trove::peer::Chunk c;
          while (reader->Read(&c)) {
            bytes.fetch_add(c.data().size());
            if (verify && trove::Sha256(c.data()) !=
                              shared->chunk_hashes[c.index()]) {
              bad.fetch_add(1);
            }
            if (out_fd >= 0) {
              ::pwrite(out_fd, c.data().data(), c.data().size(),
                       static_cast<int64_t>(c.index()) * trove::kChunkSize);
            }
          }
          grpc::Status st = reader->Finish();
          if (!st.ok()) {
            std::cerr << "GetChunks: " << st.error_message() << "\n";
            bad.fetch_add(1);
            return;
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
    if (out_fd >= 0) {
      ::fsync(out_fd);
      ::close(out_fd);
    }
    double secs = absl::ToDoubleSeconds(absl::Now() - start);
    std::printf("run %d: %lld bytes in %.3f s = %.1f MB/s%s\n", run,
                static_cast<long long>(bytes.load()), secs,
                bytes.load() / secs / 1e6,
                bad.load() ? " (ERRORS)" : "");
  }
  server->server->Shutdown();
  return 0;
}
