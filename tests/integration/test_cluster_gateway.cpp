// Redis Cluster (redis+cluster:// URLs) against a real cluster on loopback:
// three masters and their replicas (cluster_set.hpp). The gateway asks the
// slot map of a seed, relays PUBLISHes made on any node, stores each last
// message on the master of its slot, follows -ASK during a migration and
// -MOVED after it, and a master's failover, without refusing or losing a
// client publish.
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster_helpers.hpp"
#include "helpers.hpp"
#include "probe_helpers.hpp"
#include "support/cluster_set.hpp"

using namespace wsrelay::test;

namespace {

using clock_type = std::chrono::steady_clock;

std::vector<std::string> cluster_args(const ClusterSet& set) {
  return {"--redis", set.url(),
          "--set",   "redis.reconnect_min_ms=20",
          "--set",   "redis.reconnect_max_ms=200"};
}

bool log_has(const Gateway& gateway, const std::string& text) {
  return gateway.log().find(text) != std::string::npos;
}

// The gateway's subscriber connection went up on node `port` (its log says so).
void wait_subscriber_on(const Gateway& gateway, std::uint16_t port) {
  REQUIRE(wait_until(
      [&] {
        return log_has(gateway, "redis subscriber: connected to 127.0.0.1:" + std::to_string(port));
      },
      5s, 20ms));
}

}  // namespace

TEST_CASE(
    "cluster: PUBLISH on every master reaches clients, and last messages live on their "
    "slot's owner",
    "[gateway][cluster][redis]") {
  ClusterSet set;
  TestGateway gateway(cluster_args(set));
  {
    const bool ready = wait_readyz(gateway, 200, 15s);
    INFO(gateway.log());
    REQUIRE(ready);
  }
  CHECK(log_has(gateway, "redis cluster: 3 master(s) serve 16384 of 16384 slots"));

  // One facility on each master, a client on each (its own publishes echoed).
  const auto masters = set.master_ports();
  REQUIRE(masters.size() == 3);
  ShardClients clients;
  auto& [facility, client] = clients;
  RedisSync any(masters[0]);
  for (const auto master : masters) {
    facility[master] = facility_on(set, master);
    client[master] =
        open_ws(gateway, "/ws/" + facility[master] + "?subscribe-broadcast&publish-broadcast&echo");
    sync_subscription(any, *client[master], "broadcast:" + facility[master]);
  }

  // A PUBLISH made on any node reaches the gateway (the cluster bus carries it).
  for (const auto from : masters) {
    RedisSync node(from);
    for (const auto master : masters)
      node.publish("broadcast:" + facility[master], "from-" + std::to_string(from));
  }
  // (In any order: two PUBLISHes made on two nodes go their own ways.)
  std::multiset<std::string> expected;
  for (const auto from : masters) expected.insert("from-" + std::to_string(from));
  for (const auto master : masters) {
    std::multiset<std::string> got;
    for (std::size_t i = 0; i < masters.size(); ++i) {
      auto m = client[master]->read(5s);
      REQUIRE(m);
      got.insert(m->data);
    }
    CHECK(got == expected);
  }

  // A client's publish is relayed and stored on the master of its key's slot.
  publish_on_every_master(clients, masters);
  // ... and replayed to the next client from there.
  for (const auto master : masters) {
    auto late = open_ws(gateway, "/ws/" + facility[master] + "?subscribe-broadcast");
    auto m = late->read(5s);
    REQUIRE(m);
    CHECK(m->data == "mine-" + facility[master]);
  }
  CHECK(metric_value(gateway, "wsrelay_redis_command_up") == 1);
}

TEST_CASE("cluster: a slot migration is followed, -ASK during it and -MOVED after it",
          "[gateway][cluster][redis]") {
  ClusterSet set;
  TestGateway gateway(cluster_args(set));
  REQUIRE(wait_readyz(gateway, 200, 15s));
  const auto masters = set.master_ports();
  const std::string facility = facility_on(set, masters[0]);
  const std::string key = "broadcast:" + facility;
  const int slot = ClusterSet::key_slot(key);
  const std::uint16_t source = masters[0];
  const std::uint16_t target = masters[1];
  RedisSync on_source(source);
  RedisSync on_target(target);

  auto client = open_ws(gateway, "/ws/" + facility + "?subscribe-broadcast&publish-broadcast&echo");
  sync_subscription(on_source, *client, key);
  REQUIRE(client->send_text("m-1"));
  REQUIRE(wait_stored(on_source, key, "m-1"));

  // Mid-migration: the key is on the target, the source answers -ASK.
  set.begin_migration(slot, target);
  set.move_keys(slot);
  REQUIRE(client->send_text("m-2"));
  // The target serves the importing slot only to a client that says ASKING.
  CHECK(wait_until(
      [&] {
        on_target.command({"ASKING"});
        return on_target.command({"GET", key}).str == "m-2";
      },
      5s, 5ms));

  // Migrated: the gateway's map still names the source, which answers -MOVED.
  set.finish_migration(slot);
  REQUIRE(client->send_text("m-3"));
  CHECK(wait_stored(on_target, key, "m-3"));
  const auto got = read_through(*client, "m-", 3);
  CHECK(in_order_through(got, "m-") == 3);
  CHECK(metric_value(gateway, "wsrelay_redis_cluster_redirects_total").value_or(0) >= 2);

  // A burst across a migration back: every publish relayed in order, none
  // refused, and the last one is the one stored.
  constexpr int kBurst = 200;
  for (int i = 1; i <= kBurst / 2; ++i) REQUIRE(client->send_text("b-" + std::to_string(i)));
  set.migrate_slot(slot, source);
  for (int i = kBurst / 2 + 1; i <= kBurst; ++i)
    REQUIRE(client->send_text("b-" + std::to_string(i)));
  const auto burst = read_through(*client, "b-", kBurst);
  CHECK(in_order_through(burst, "b-") == kBurst);
  CHECK(wait_stored(on_source, key, "b-" + std::to_string(kBurst)));
  CHECK(client->is_open());
  CHECK(metric_value(gateway, "wsrelay_redis_publish_refused_total") == 0);

  auto late = open_ws(gateway, "/ws/" + facility + "?subscribe-broadcast");
  auto m = late->read(5s);
  REQUIRE(m);
  CHECK(m->data == "b-" + std::to_string(kBurst));
}

TEST_CASE(
    "cluster: a killed master is failed over, and publishes held meanwhile are delivered "
    "and stored on the new master",
    "[gateway][cluster][redis]") {
  ClusterSet set;
  TestGateway gateway(cluster_args(set));
  REQUIRE(wait_readyz(gateway, 200, 15s));
  // The subscriber is on the first seed; the key's master is another one,
  // so the subscription lives through the kill.
  const std::uint16_t seed = set.port(0);
  wait_subscriber_on(gateway, seed);
  const std::string facility = facility_on(set, seed, true);
  const std::string key = "broadcast:" + facility;
  const std::uint16_t old_master = set.owner_port(key);

  auto client = open_ws(gateway, "/ws/" + facility + "?subscribe-broadcast&publish-broadcast&echo");
  {
    RedisSync on_seed(seed);
    sync_subscription(on_seed, *client, key);
  }
  // Delivered before the kill: a PUBLISH that a master answers and is
  // killed right after may not have reached the other nodes (Redis answers
  // before its cluster bus carries the message), a loss of Redis's own.
  constexpr int kPublishes = 100;
  for (int i = 1; i <= kPublishes / 2; ++i) REQUIRE(client->send_text("p-" + std::to_string(i)));
  auto got = read_through(*client, "p-", kPublishes / 2);
  REQUIRE(in_order_through(got, "p-") == kPublishes / 2);
  const auto killed_at = clock_type::now();
  set.kill(old_master);
  for (int i = kPublishes / 2 + 1; i <= kPublishes; ++i)
    REQUIRE(client->send_text("p-" + std::to_string(i)));
  // Not ready while a master is missing: its slots' writes would fail.
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
  const auto ready_at = clock_type::now();
  WARN("master killed: the gateway was ready again on the promoted replica after "
       << std::chrono::duration_cast<std::chrono::milliseconds>(ready_at - killed_at).count()
       << " ms");
  read_more(*client, "p-", kPublishes, got);
  INFO(got.size() << " client publishes received");
  CHECK(in_order_through(got, "p-") == kPublishes);
  RedisSync on_new(new_master);
  CHECK(wait_stored(on_new, key, "p-" + std::to_string(kPublishes)));
  CHECK(metric_value(gateway, "wsrelay_redis_publish_refused_total") == 0);

  // A PUBLISH on the new master reaches the client.
  sync_subscription(on_new, *client, key);
}

TEST_CASE("cluster: when the subscriber's node dies it re-subscribes through another seed",
          "[gateway][cluster][redis]") {
  ClusterSet set;
  TestGateway gateway(cluster_args(set));
  REQUIRE(wait_readyz(gateway, 200, 15s));
  const std::uint16_t seed = set.port(0);
  wait_subscriber_on(gateway, seed);
  auto client = open_ws(gateway, "/ws/k?subscribe-broadcast");
  set.kill(seed);
  set.wait_promoted(seed);
  REQUIRE(wait_readyz(gateway, 200, 20s));
  CHECK(
      log_has(gateway, "redis subscriber: connected to 127.0.0.1:" + std::to_string(set.port(1))));
  RedisSync other(set.port(2));
  sync_subscription(other, *client, "broadcast:k");
}

TEST_CASE("cluster: no seed answers: not ready, and the log says why",
          "[gateway][cluster][redis]") {
  const std::string url = "redis+cluster://127.0.0.1:" + std::to_string(free_port()) +
                          ",127.0.0.1:" + std::to_string(free_port());
  TestGateway gateway({"--redis", url});
  REQUIRE(wait_until(
      [&] {
        return log_has(gateway, "redis cluster: connect to 127.0.0.1:") &&
               log_has(gateway, "Connection refused");
      },
      10s, 20ms));
  CHECK(get_status(gateway, "/readyz") == 503);
  CHECK(get_status(gateway, "/healthz") == 200);
  CHECK(gateway.running());
}

TEST_CASE("cluster: wsrelay-publish publishes through a seed and stores on the slot's owner",
          "[publish][cluster][redis]") {
  ClusterSet set;
  // A facility whose key lives on another master than the first seed: the
  // SET is answered -MOVED and sent again there.
  const std::string facility = facility_on(set, set.port(0), true);
  const std::string key = "broadcast:" + facility;
  RedisSubscriberProbe probe(set.port(2), {key});
  auto run = [&](std::vector<std::string> extra) {
    TempDir dir("wsrelay-publish");
    std::vector<std::string> args{WSRELAY_PUBLISH_BINARY, "--redis", set.url(), "-f", facility,
                                  "--timeout-ms",         "3000",    "-b"};
    args.insert(args.end(), extra.begin(), extra.end());
    Process process(args, dir.file("log"), {}, {"WSRELAY_"});
    const auto code = process.wait_exit(20s);
    INFO(process.log_contents());
    REQUIRE(code);
    return std::make_pair(*code, process.log_contents());
  };
  const auto [code, output] = run({"hello"});
  INFO(output);
  CHECK(code == 0);
  CHECK(probe.next_message(5s) == "hello");
  RedisSync owner(set.owner_port(key));
  CHECK(owner.get(key) == "hello");
  const auto [fetch_code, fetched] = run({"--fetch"});
  CHECK(fetch_code == 0);
  CHECK(fetched.find("hello") != std::string::npos);
  // History needs one clock key for every channel: refused, saying why.
  const auto [history_code, history_output] = run({"--history", "10", "x"});
  CHECK(history_code != 0);
  CHECK(history_output.find("not supported with redis+cluster://") != std::string::npos);
  CHECK(owner.get(key) == "hello");
}

TEST_CASE("cluster: the command channel sends each command to the master of its first key",
          "[gateway][cluster][command][redis]") {
  ClusterSet set;
  auto args = cluster_args(set);
  for (const char* setting :
       {"command_channel.enabled=true", "auth.backends=proxy", "auth.trusted_proxies=127.0.0.1",
        "command_channel.allowed=GET,SET,INCR,MGET"}) {
    args.push_back("--set");
    args.push_back(setting);
  }
  TestGateway gateway(args);
  REQUIRE(wait_readyz(gateway, 200, 15s));
  auto alice = open_ws(gateway, "/cmd", {{"X-WsRelay-User", "alice"}});
  auto run = [&](const std::string& command) {
    REQUIRE(alice->send_text(nlohmann::json{{"command", command}}.dump()));
    auto answer = alice->read(5s);
    REQUIRE(answer);
    INFO(answer->data);
    return nlohmann::json::parse(answer->data);
  };
  // Keys on every master.
  std::map<std::uint16_t, int> per_master;
  for (int i = 0; i < 12; ++i) {
    const std::string key = "k" + std::to_string(i);
    CHECK(run("SET " + key + " v" + std::to_string(i))["result"] == "OK");
    CHECK(run("INCR n" + std::to_string(i))["result"] == 1);
    const std::uint16_t owner = set.owner_port("cmd:alice:" + key);
    ++per_master[owner];
    RedisSync on_owner(owner);
    CHECK(on_owner.get("cmd:alice:" + key) == "v" + std::to_string(i));
    CHECK(run("GET " + key)["result"] == "v" + std::to_string(i));
  }
  CHECK(per_master.size() == 3);
  // Keys of several slots in one command: Redis's own refusal, as an error object.
  const auto cross = run("MGET k0 k1 k2 k3 k4 k5");
  CHECK(cross["ok"] == false);
  CHECK(cross["error"]["code"] == "redis_error");
  CHECK(cross.dump().find("CROSSSLOT") != std::string::npos);
}
