// Sharded pub/sub (redis.sharded = true with redis+cluster://) against a
// real cluster on loopback (cluster_set.hpp): one subscriber connection per
// master, each channel SSUBSCRIBEd on the master of its slot, client
// publishes sent as SPUBLISH; a resharding moves a subscription to the new
// owner (the old one's sunsubscribe), and a killed master's channels come
// back on its promoted replica.
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "cluster_helpers.hpp"
#include "helpers.hpp"
#include "probe_helpers.hpp"
#include "support/cluster_set.hpp"

using namespace wsrelay::test;

namespace {

using clock_type = std::chrono::steady_clock;

std::vector<std::string> sharded_args(const ClusterSet& set) {
  return {"--redis", set.url(),
          "--set",   "redis.sharded=true",
          "--set",   "redis.reconnect_min_ms=20",
          "--set",   "redis.reconnect_max_ms=200"};
}

// The clients of `port` subscribed to shard channels (CLIENT LIST's ssub).
int shard_subscribers(std::uint16_t port) {
  RedisSync node(port);
  const std::string list = node.command({"CLIENT", "LIST", "TYPE", "pubsub"}).str;
  int count = 0;
  for (std::size_t at = list.find(" ssub="); at != std::string::npos;
       at = list.find(" ssub=", at + 1))
    count += list.compare(at, 8, " ssub=0 ") != 0 ? 1 : 0;
  return count;
}

// SPUBLISHes sync markers on `port` until the client reads one (messages
// that are not markers fail the test).
void sync_sharded(std::uint16_t port, WsClient& client, const std::string& channel,
                  std::chrono::milliseconds timeout = 15s) {
  static int round = 0;
  const std::string tag = "sync-" + std::to_string(++round) + "-";
  const auto deadline = clock_type::now() + timeout;
  int sent = 0;
  bool got = false;
  while (!got && clock_type::now() < deadline) {
    RedisSync node(port);
    node.command({"SPUBLISH", channel, tag + std::to_string(++sent)});
    if (auto m = client.read(50ms)) {
      INFO("unexpected message while syncing on " << channel << ": " << m->data);
      REQUIRE(m->data.rfind("sync-", 0) == 0);
      got = m->data.rfind(tag, 0) == 0;
    }
  }
  INFO("no sync message on " << channel);
  REQUIRE(got);
  while (client.read(100ms)) {
  }
}

void require_ready(TestGateway& gateway) {
  const bool ready = wait_readyz(gateway, 200, 15s);
  INFO(gateway.log());
  REQUIRE(ready);
}

}  // namespace

TEST_CASE(
    "sharded: each channel is subscribed on its slot's master, one subscriber per master, "
    "and client publishes go out as SPUBLISH",
    "[gateway][cluster][sharded][redis]") {
  ClusterSet set;
  TestGateway gateway(sharded_args(set));
  require_ready(gateway);
  const auto masters = set.master_ports();
  REQUIRE(masters.size() == 3);

  // Open means subscribed: an SPUBLISH made right after the open reaches
  // the client, on every shard.
  auto clients = open_on_every_master(gateway, set, masters);
  auto& [facility, client] = clients;
  // One subscriber connection on each master, none on the replicas.
  for (const auto master : masters) {
    CHECK(shard_subscribers(master) == 1);
    for (const auto replica : set.replica_ports(master)) CHECK(shard_subscribers(replica) == 0);
  }
  CHECK(metric_value(gateway, "wsrelay_redis_subscriber_up") == 1);
  CHECK(metric_value(gateway, "wsrelay_redis_channels") == 3);

  // A client's publish: SPUBLISH on its shard (the gateway hears it only
  // through its SSUBSCRIBE) and SET on the same master.
  publish_on_every_master(clients, masters);
  // wsrelay-publish --sharded, through a seed that is not the channel's owner.
  const std::uint16_t far = masters[1];
  {
    TempDir dir("wsrelay-publish");
    Process process({WSRELAY_PUBLISH_BINARY, "--redis", set.url(), "--sharded", "-f", facility[far],
                     "-b", "--timeout-ms", "3000", "from-cli"},
                    dir.file("log"), {}, {"WSRELAY_"});
    const auto code = process.wait_exit(20s);
    INFO(process.log_contents());
    REQUIRE(code);
    CHECK(*code == 0);
  }
  auto m = client[far]->read(5s);
  REQUIRE(m);
  CHECK(m->data == "from-cli");
  RedisSync owner(far);
  CHECK(owner.get("broadcast:" + facility[far]) == "from-cli");
  // A later client gets the stored message, read from its slot's master.
  auto late = open_ws(gateway, "/ws/" + facility[far] + "?subscribe-broadcast");
  m = late->read(5s);
  REQUIRE(m);
  CHECK(m->data == "from-cli");
}

TEST_CASE("sharded: a resharding moves the subscription to the slot's new master",
          "[gateway][cluster][sharded][redis]") {
  ClusterSet set;
  TestGateway gateway(sharded_args(set));
  require_ready(gateway);
  const auto masters = set.master_ports();
  const std::uint16_t source = masters[0];
  const std::uint16_t target = masters[1];
  const std::string facility = facility_on(set, source);
  const std::string key = "broadcast:" + facility;
  const int slot = ClusterSet::key_slot(key);

  auto client = open_ws(gateway, "/ws/" + facility + "?subscribe-broadcast&publish-broadcast&echo");
  REQUIRE(client->send_text("before"));
  auto m = client->read(5s);
  REQUIRE(m);
  CHECK(m->data == "before");
  RedisSync on_source(source);
  REQUIRE(wait_stored(on_source, key, "before"));

  set.migrate_slot(slot, target);
  // An application publishing (and storing) on the new owner at once: the
  // client gets it live, or from the store when its subscription is back.
  RedisSync on_target(target);
  on_target.command({"SET", key, "during", "EX", "60"});
  on_target.command({"SPUBLISH", key, "during"});
  m = client->read(10s);
  {
    INFO(gateway.log());
    REQUIRE(m);
  }
  CHECK(m->data == "during");
  // (Both ways is allowed: at least once.)
  while (auto again = client->read(200ms)) CHECK(again->data == "during");
  // Subscribed on the target now, and only there.
  sync_sharded(target, *client, key);
  CHECK(wait_until([&] { return shard_subscribers(source) == 0; }, 5s, 20ms));
  CHECK(shard_subscribers(target) == 1);
  // Client publishes follow the slot too (SPUBLISH answered -MOVED, sent again).
  REQUIRE(client->send_text("after"));
  m = client->read(5s);
  REQUIRE(m);
  CHECK(m->data == "after");
  CHECK(wait_stored(on_target, key, "after"));
  CHECK(client->is_open());
  CHECK(metric_value(gateway, "wsrelay_redis_publish_refused_total") == 0);
  CHECK(wait_readyz(gateway, 200, 5s));
}

TEST_CASE(
    "sharded: a killed master's channels are subscribed again on its promoted replica, and "
    "publishes held meanwhile are delivered",
    "[gateway][cluster][sharded][redis]") {
  ClusterSet set;
  TestGateway gateway(sharded_args(set));
  require_ready(gateway);
  const auto masters = set.master_ports();
  const std::uint16_t old_master = masters[0];
  const std::uint16_t other = masters[2];
  const std::string facility = facility_on(set, old_master);
  const std::string key = "broadcast:" + facility;
  const std::string other_facility = facility_on(set, other);

  auto client = open_ws(gateway, "/ws/" + facility + "?subscribe-broadcast&publish-broadcast&echo");
  auto bystander = open_ws(gateway, "/ws/" + other_facility + "?subscribe-broadcast");
  constexpr int kPublishes = 40;
  for (int i = 1; i <= kPublishes / 2; ++i) REQUIRE(client->send_text("p-" + std::to_string(i)));
  std::vector<std::string> got;
  read_more(*client, "p-", kPublishes / 2, got);
  REQUIRE(in_order_through(got, "p-") == kPublishes / 2);

  const auto killed_at = clock_type::now();
  set.kill(old_master);
  for (int i = kPublishes / 2 + 1; i <= kPublishes; ++i)
    REQUIRE(client->send_text("p-" + std::to_string(i)));
  CHECK(wait_readyz(gateway, 503, 5s));
  std::uint16_t new_master = 0;
  {
    INFO(set.logs());
    new_master = set.wait_promoted(old_master);
  }
  {
    const bool ready = wait_readyz(gateway, 200, 20s);
    INFO(gateway.log());
    REQUIRE(ready);
  }
  WARN("master killed: sharded subscriptions were back on the promoted replica after "
       << std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - killed_at)
              .count()
       << " ms");
  read_more(*client, "p-", kPublishes, got);
  INFO(got.size() << " client publishes received");
  CHECK(in_order_through(got, "p-") == kPublishes);
  RedisSync on_new(new_master);
  CHECK(wait_stored(on_new, key, "p-" + std::to_string(kPublishes)));
  CHECK(metric_value(gateway, "wsrelay_redis_publish_refused_total") == 0);
  // Both shards deliver: the promoted one and the one that never moved.
  sync_sharded(new_master, *client, key);
  CHECK(spublish(other, "broadcast:" + other_facility, "still-here") == 1);
  auto m = bystander->read(5s);
  REQUIRE(m);
  CHECK(m->data == "still-here");
  CHECK(shard_subscribers(new_master) == 1);
}

TEST_CASE("sharded: refused without redis+cluster://, by the gateway and by wsrelay-publish",
          "[gateway][sharded][config]") {
  TempDir dir("wsrelay-sharded");
  Process gateway({WSRELAY_BINARY, "--redis", "redis://127.0.0.1:1", "--set", "redis.sharded=true",
                   "--check-config"},
                  dir.file("gateway.log"), {}, {"WSRELAY_"});
  const auto gateway_code = gateway.wait_exit(20s);
  REQUIRE(gateway_code);
  CHECK(*gateway_code != 0);
  CHECK(gateway.log_contents().find("redis.sharded: only with a redis+cluster:// redis.url") !=
        std::string::npos);
  Process publish({WSRELAY_PUBLISH_BINARY, "--redis", "redis://127.0.0.1:1", "--sharded", "-f",
                   "chat", "-b", "x"},
                  dir.file("publish.log"), {}, {"WSRELAY_"});
  const auto publish_code = publish.wait_exit(20s);
  REQUIRE(publish_code);
  CHECK(*publish_code == 2);
  CHECK(publish.log_contents().find("--sharded: only with a redis+cluster:// URL") !=
        std::string::npos);
}
