// File descriptors: the soft RLIMIT_NOFILE is raised to the hard one at
// start, a configuration that cannot fit is warned about, and a gateway out
// of descriptors keeps serving: its clients go on, new connections are
// answered at once (503, or 200 for /healthz), and the log says so at most
// once a second.
#include <fstream>
#include <sstream>

#include "helpers.hpp"
#include "probe_helpers.hpp"
#include "support/silent_ws_socket.hpp"

using namespace wsrelay::test;

namespace {

// The "Max open files" soft and hard limits of `pid`, from /proc.
std::pair<long, long> open_file_limits(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream fields(line.substr(14));
    long soft = 0;
    long hard = 0;
    fields >> soft >> hard;
    return {soft, hard};
  }
  return {0, 0};
}

}  // namespace

TEST_CASE("the soft open-file limit is raised to the hard one at start", "[gateway][descriptors]") {
  SECTION("more connections allowed than descriptors: a warning") {
    TestGateway gateway({}, {}, {"prlimit", "--nofile=256:4096"});
    CHECK(open_file_limits(gateway.pid()) == std::pair<long, long>{4096, 4096});
    const std::string log = gateway.log();
    CHECK(count_lines(log, "open-file limit raised from 256 to 4096") == 1);
    // max_connections and max_handshakes: 100000 + 1024.
    CHECK(count_lines(log, "the open-file limit (4096) is lower than the 101024 connections") == 1);
  }
  SECTION("a configuration that fits: no warning") {
    TestGateway gateway({"--set", "server.max_connections=1000"}, {},
                        {"prlimit", "--nofile=256:4096"});
    CHECK(open_file_limits(gateway.pid()).first == 4096);
    CHECK(count_lines(gateway.log(), "open-file limit (") == 0);
  }
}

TEST_CASE("out of file descriptors, the gateway answers new clients at once and keeps serving",
          "[gateway][descriptors]") {
  TestGateway gateway(
      {"--set", "server.max_connections=1000", "--set", "server.handshake_timeout_seconds=60"}, {},
      {"prlimit", "--nofile=64"});
  CHECK(count_lines(gateway.log(), "the open-file limit (64) is lower") == 1);
  auto before = open_ws(gateway, "/ws/room?subscribe-broadcast&publish-broadcast&echo");
  // One round trip before the descriptors run out. Also because UBSan checks
  // a virtual call's type the first time it sees it by writing memory into a
  // pipe, which it cannot open then, and would report a false "invalid vptr".
  REQUIRE(before->send_text("warm"));
  auto warm = before->read(5s);
  REQUIRE(warm);
  CHECK(warm->data == "warm");

  // Silent connections take every descriptor left (a few dozen).
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<SilentWsSocket>> held;
  for (int i = 0; i < 100; ++i) {
    held.push_back(std::make_unique<SilentWsSocket>());
    held.back()->open(gateway.port());
  }

  // A new client is answered 503 at once, never left hanging.
  for (int i = 0; i < 20; ++i) {
    SilentWsSocket client;
    const auto asked = std::chrono::steady_clock::now();
    const int status = client.connect(gateway.port(), "/ws/room?subscribe-broadcast", 0, 3s);
    CHECK(status == 503);
    CHECK(std::chrono::steady_clock::now() - asked < 1s);
  }
  // A health probe is answered 200: the process still serves.
  CHECK(wait_until([&] { return get_status(gateway, "/healthz") == 200; }, 5s, 10ms));
  // The client that was there before goes on as if nothing happened.
  REQUIRE(before->send_text("still here"));
  auto echoed = before->read(5s);
  REQUIRE(echoed);
  CHECK(echoed->data == "still here");

  // At most one line a second, however many connections were refused.
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
  const std::size_t lines = count_lines(gateway.log(), "out of file descriptors");
  CHECK(lines >= 1);
  CHECK(lines <= static_cast<std::size_t>(seconds.count()) + 1);
  CHECK(count_lines(gateway.log(), "accept failed") == 0);

  // Once descriptors are free again, new clients get in.
  held.clear();
  CHECK(wait_until(
      [&] {
        WsClient again;
        return again.connect(gateway.port(), "/ws/room?subscribe-broadcast").status == 101;
      },
      5s, 20ms));
  const auto refused = metric_value(gateway, "wsrelay_connections_refused_no_descriptor_total");
  REQUIRE(refused);
  CHECK(*refused >= 20);
}
