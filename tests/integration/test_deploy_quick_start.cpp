// The README's quick start, as a new user runs it: `scripts/run.sh` in a
// fresh clone, with no Redis running (on free ports rather than 6379/8080,
// so nothing already there can make it pass). It installs the run set of
// packages (present already where the tests run), builds the daemon into
// build-run/ (ccache makes that quick after the suite's own build), starts
// its own redis-server and the gateway with the demo. Then Ctrl-C, as a
// person stops it: SIGINT to the whole process group.
//
// Hidden from the default run ([.]): tests/CMakeLists.txt gives it a ctest
// entry of its own with room for a build.
#include <signal.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "helpers.hpp"

using namespace wsrelay::test;

namespace {

bool answers_ping(std::uint16_t port) {
  try {
    RedisSync redis(port, 500ms);
    return redis.command({"PING"}).str == "PONG";
  } catch (const std::exception&) {
    return false;
  }
}

// Kills the whole group (the script, its redis-server and wsrelay, a build
// still running) by the group's id, whatever the test's outcome.
struct GroupKiller {
  pid_t group;
  ~GroupKiller() { ::kill(-group, SIGKILL); }
};

}  // namespace

TEST_CASE("quick start: scripts/run.sh from a fresh clone serves, relays and stops cleanly",
          "[.quickstart]") {
  TempDir dir{"wsrelay-quickstart"};
  const std::string clone = dir.file("clone");
  {
    Process git({"git", "clone", "--quiet", "--no-hardlinks", WSRELAY_SOURCE_DIR, clone},
                dir.file("git.log"));
    INFO(git.log_contents());
    REQUIRE(git.wait_exit(120s) == 0);
  }
  const std::uint16_t redis_port = free_port();
  const std::uint16_t http_port = free_port();
  REQUIRE_FALSE(answers_ping(redis_port));

  // setsid: the script leads a process group of its own, as in a terminal.
  Process run({"setsid", "bash", clone + "/scripts/run.sh", "--listen",
               "127.0.0.1:" + std::to_string(http_port)},
              dir.file("run.log"), {"REDIS_PORT=" + std::to_string(redis_port)}, {"WSRELAY_"});
  GroupKiller killer{run.pid()};

  const std::string demo_line =
      "run: demo: http://127.0.0.1:" + std::to_string(http_port) + "/demo/";
  const bool printed = wait_until(
      [&] { return run.log_contents().find(demo_line) != std::string::npos || !run.running(); },
      840s, 100ms);
  {
    INFO(run.log_contents());
    REQUIRE(printed);
    REQUIRE(run.running());
  }
  std::smatch redis_pid;
  const std::string log = run.log_contents();
  REQUIRE(std::regex_search(log, redis_pid,
                            std::regex("started redis-server on 127.0.0.1:" +
                                       std::to_string(redis_port) + " \\(pid ([0-9]+)\\)")));
  REQUIRE(answers_ping(redis_port));

  auto readyz = [&] {
    try {
      return http_get(http_port, "/readyz", {}, 2s).status;
    } catch (const std::exception&) {
      return 0;
    }
  };
  REQUIRE(wait_until([&] { return readyz() == 200; }, 10s, 20ms));
  CHECK(http_get(http_port, "/demo/").status == 200);

  // What the demo page does, and the line the script prints.
  WsClient client;
  const std::string origin = "http://127.0.0.1:" + std::to_string(http_port);
  REQUIRE(client
              .connect(http_port, "/ws/demo?subscribe-broadcast&publish-broadcast",
                       {{"Origin", origin}})
              .status == 101);
  RedisSync redis(redis_port);
  sync_subscriptions(redis, {&client}, "broadcast:demo");
  redis.publish("broadcast:demo", "hello");
  auto got = client.read(5s);
  REQUIRE(got);
  CHECK(got->data == "hello");
  RedisSubscriberProbe probe(redis_port, {"broadcast:demo"});
  REQUIRE(client.send_text("hi"));
  // The run command gives the demo facility a history: the page's message
  // goes out through the history script, marked with its stream id.
  const std::regex marked(std::string("\0wsrelay-history\0", 17) + "[0-9]+-[0-9]+ hi");
  const auto published = probe.next_message(5s);
  REQUIRE(published);
  CHECK(std::regex_match(*published, marked));
  CHECK(redis.command({"XLEN", "history:broadcast:demo"}).integer == 1);

  // Ctrl-C: every process of the group gets SIGINT.
  ::kill(-run.pid(), SIGINT);
  CHECK(client.wait_close(15s) == 1001);
  CHECK(run.wait_exit(30s) == 0);
  const std::string end = run.log_contents();
  INFO(end);
  CHECK_THAT(end, Catch::Contains("wsrelay stopped (exit code 0)"));
  // Nothing of the group is left: not redis-server, not wsrelay.
  CHECK(wait_until([&] { return ::kill(-run.pid(), 0) != 0; }, 10s, 20ms));
  CHECK(::kill(std::stoi(redis_pid[1]), 0) != 0);
  CHECK_FALSE(answers_ping(redis_port));
}
