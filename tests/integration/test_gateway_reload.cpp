// SIGHUP reload (README "Reloading the configuration"): limits change on
// connections that stay open, a bad file is refused whole, the log level
// follows, and keys that only apply at start are named in a warning.
#include <csignal>
#include <fstream>

#include "probe_helpers.hpp"
#include "support/temp_dir.hpp"

using namespace wsrelay::test;

namespace {

// A one-shard gateway (the snapshot is posted to the shard that also runs
// the reload) reading `file`, with a reader on broadcast:room and a client
// that publishes there.
struct RoomWithFile {
  RedisServer redis;
  TempDir dir;
  std::string file = dir.file("wsrelay.toml");
  std::unique_ptr<TestGateway> gateway;
  std::unique_ptr<RedisSync> sync;
  std::unique_ptr<WsClient> reader;
  std::unique_ptr<WsClient> talker;

  explicit RoomWithFile(const std::string& text) {
    write_file(file, text);
    gateway =
        std::make_unique<TestGateway>(with_redis(redis, {"--threads", "1", "--config", file}));
    sync = std::make_unique<RedisSync>(redis.port());
    reader = open_ws(*gateway, "/ws/room?subscribe-broadcast");
    sync_subscription(*sync, *reader, "broadcast:room");
    talker = open_ws(*gateway, "/ws/room?publish-broadcast");
  }

  // `sender` publishes `text`; the reader gets it.
  void round_trip(WsClient& sender, const std::string& text) {
    REQUIRE(sender.send_text(text));
    auto m = reader->read(5s);
    REQUIRE(m);
    CHECK(m->data == text);
  }
};

// Sends SIGHUP and waits for `metric` to reach `value`.
void reload(TestGateway& gateway, const std::string& metric, long long value) {
  gateway.signal(SIGHUP);
  INFO("waiting for " << metric << " == " << value);
  REQUIRE(wait_until([&] { return metric_value(gateway, metric) == value; }, 5s, 10ms));
}

}  // namespace

TEST_CASE("SIGHUP: a lower max_message_bytes applies to a connection that stays open",
          "[gateway][reload]") {
  RoomWithFile room("[websocket]\nmax_message_bytes = 65536\n");
  auto& gateway = *room.gateway;
  const std::string& file = room.file;
  const std::string big(2000, 'b');
  room.round_trip(*room.talker, big);

  write_file(file, "[websocket]\nmax_message_bytes = 1000\n");
  reload(gateway, "wsrelay_config_reloads_total", 1);
  CHECK(metric_value(gateway, "wsrelay_config_reload_failures_total") == 0);
  CHECK(gateway.log().find("changed: websocket.max_message_bytes") != std::string::npos);

  // The same connection: still open, small messages pass, a big one is 1009.
  REQUIRE(room.talker->is_open());
  room.round_trip(*room.talker, "small after reload");
  REQUIRE(room.talker->send_text(big));
  CHECK(room.talker->wait_close(5s) == 1009);
  CHECK(room.reader->expect_no_message());
  CHECK(room.reader->is_open());
}

TEST_CASE("SIGHUP: a bad configuration is refused and the running one kept", "[gateway][reload]") {
  RoomWithFile room("[websocket]\nmax_message_bytes = 65536\n");
  auto& gateway = *room.gateway;
  const std::string& file = room.file;

  // Valid on its own but not with the rest (soft over hard), then a typo,
  // then TOML that does not parse: each is refused whole.
  write_file(file,
             "[websocket]\nmax_message_bytes = 1000\nsoft_queue_bytes = 99999999\n"
             "max_queue_bytes = 65536\n");
  reload(gateway, "wsrelay_config_reload_failures_total", 1);
  write_file(file, "[websocket]\nmax_mesage_bytes = 1000\n");
  reload(gateway, "wsrelay_config_reload_failures_total", 2);
  write_file(file, "[websocket\nmax_message_bytes = 1000\n");
  reload(gateway, "wsrelay_config_reload_failures_total", 3);
  CHECK(metric_value(gateway, "wsrelay_config_reloads_total") == 0);
  const std::string log = gateway.log();
  CHECK(log.find("configuration rejected, keeping the running one: websocket.soft_queue_bytes") !=
        std::string::npos);
  CHECK(log.find("websocket.max_mesage_bytes: unknown key") != std::string::npos);
  CHECK(log.find("TOML syntax error") != std::string::npos);

  // Old values in force: a 2000-byte message still passes, on the old
  // connection and on a new one.
  const std::string big(2000, 'b');
  room.round_trip(*room.talker, big);
  auto late = open_ws(gateway, "/ws/room?publish-broadcast");
  room.round_trip(*late, big + "!");
  CHECK(gateway.running());
}

TEST_CASE("SIGHUP: the log level follows, start-only keys are kept with a warning",
          "[gateway][reload]") {
  RedisServer redis;
  TempDir dir;
  const std::string file = dir.file("wsrelay.toml");
  write_file(file, "[log]\nlevel = \"info\"\n");
  TestGateway gateway(with_redis(redis, {"--threads", "1", "--config", file}));
  RedisSync sync(redis.port());
  // Session opens are logged at debug level only.
  auto before = open_ws(gateway, "/ws/before?subscribe-broadcast");
  sync_subscription(sync, *before, "broadcast:before");
  CHECK(gateway.log().find(": open /before") == std::string::npos);

  write_file(file, "[log]\nlevel = \"debug\"\n[redis]\nprefix = \"other\"\n");
  reload(gateway, "wsrelay_config_reloads_total", 1);
  auto after = open_ws(gateway, "/ws/after?subscribe-broadcast");
  CHECK(wait_until([&] { return gateway.log().find(": open /after") != std::string::npos; }, 5s,
                   10ms));
  CHECK(gateway.log().find("redis.prefix cannot change while running") != std::string::npos);
  // The prefix in force is still the empty one.
  sync_subscription(sync, *after, "broadcast:after");
  CHECK(before->is_open());

  // And back: debug lines stop.
  write_file(file, "[log]\nlevel = \"warn\"\n");
  reload(gateway, "wsrelay_config_reloads_total", 2);
  auto quiet = open_ws(gateway, "/ws/quiet?subscribe-broadcast");
  sync_subscription(sync, *quiet, "broadcast:quiet");
  CHECK(gateway.log().find(": open /quiet") == std::string::npos);
}
