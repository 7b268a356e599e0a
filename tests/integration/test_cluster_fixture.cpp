// The Redis Cluster fixture (cluster_set.hpp) on its own, without the
// gateway: the cluster comes up with three masters owning every slot, the
// test-side hash slot agrees with CLUSTER KEYSLOT, slots migrate (with -ASK
// on the way), and masters fail over, by CLUSTER FAILOVER or by dying. Also
// pins down the Redis 7.0 pub/sub behaviour a cluster-aware gateway relies
// on.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "support/cluster_set.hpp"

using namespace wsrelay::test;

namespace {

std::string moved_to(int slot, std::uint16_t port) {
  return "MOVED " + std::to_string(slot) + " 127.0.0.1:" + std::to_string(port);
}

std::string ask_to(int slot, std::uint16_t port) {
  return "ASK " + std::to_string(slot) + " 127.0.0.1:" + std::to_string(port);
}

// A master other than `port`.
std::uint16_t other_master(const ClusterSet& cluster, std::uint16_t port) {
  for (const std::uint16_t master : cluster.master_ports())
    if (master != port) return master;
  FAIL("no other master");
  return 0;
}

}  // namespace

TEST_CASE("cluster fixture: three masters own every slot and a key is served by its owner only",
          "[cluster][redis]") {
  ClusterSet cluster;
  REQUIRE(cluster.size() == 6);
  const std::vector<std::uint16_t> masters = cluster.master_ports();
  REQUIRE(masters.size() == 3);
  // The first three nodes are the masters, and the URL's seeds.
  std::vector<std::uint16_t> first{cluster.port(0), cluster.port(1), cluster.port(2)};
  std::sort(first.begin(), first.end());
  CHECK(masters == first);
  CHECK(cluster.url() == "redis+cluster://127.0.0.1:" + std::to_string(cluster.port(0)) +
                             ",127.0.0.1:" + std::to_string(cluster.port(1)) +
                             ",127.0.0.1:" + std::to_string(cluster.port(2)));

  // Every node sees the same three masters, one replica each, over 0-16383.
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    const auto view = ClusterSet::slots_view(cluster.port(i));
    REQUIRE(view);
    int next = 0;
    for (const auto& range : *view) {
      CHECK(range.start == next);
      next = range.end + 1;
      CHECK(std::find(masters.begin(), masters.end(), range.master) != masters.end());
      CHECK(range.replicas.size() == 1);
    }
    CHECK(next == ClusterSet::kSlots);
  }
  for (const std::uint16_t master : masters) CHECK(cluster.replica_ports(master).size() == 1);

  // Known values, then CLUSTER KEYSLOT on a live node, hash tags included.
  CHECK(ClusterSet::key_slot("123456789") == 0x31c3);
  CHECK(ClusterSet::key_slot("foo") == 12182);
  CHECK(ClusterSet::key_slot("{user1000}.following") == ClusterSet::key_slot("user1000"));
  CHECK(ClusterSet::key_slot("{user1000}.followers") == ClusterSet::key_slot("user1000"));
  CHECK(ClusterSet::key_slot("foo{}{bar}") != ClusterSet::key_slot("bar"));
  CHECK(ClusterSet::key_slot("foo{{bar}}zap") == ClusterSet::key_slot("{bar"));
  CHECK(ClusterSet::key_slot("foo{bar}{zap}") == ClusterSet::key_slot("bar"));
  RedisSync any(cluster.port(3));
  for (const std::string key :
       {"", "foo", "hello", "123456789", "user:1000", "{user1000}.following", "foo{}{bar}",
        "foo{{bar}}zap", "foo{bar}{zap}", "{}", "}{", "broadcast:chat", "\xff\x01 binary"}) {
    INFO("key " << key);
    CHECK(ClusterSet::key_slot(key) == any.command({"CLUSTER", "KEYSLOT", key}).integer);
  }

  // The owner serves the key; another master and the owner's replica
  // redirect to it.
  const std::string key = "fixture-key";
  const int slot = ClusterSet::key_slot(key);
  const std::uint16_t owner = cluster.owner_port(key);
  CHECK(std::find(masters.begin(), masters.end(), owner) != masters.end());
  RedisSync on_owner(owner);
  CHECK(on_owner.command({"SET", key, "v1"}).str == "OK");
  RedisSync on_other(other_master(cluster, owner));
  const RedisValue moved = on_other.command({"SET", key, "v2"});
  CHECK(moved.is_error());
  CHECK(moved.str == moved_to(slot, owner));
  RedisSync on_replica(cluster.replica_ports(owner).at(0));
  CHECK(on_replica.command({"GET", key}).str == moved_to(slot, owner));
  CHECK(on_owner.get(key).value_or("(none)") == "v1");
}

TEST_CASE("cluster fixture: a migrated slot takes its keys along and -ASK is answered meanwhile",
          "[cluster][redis]") {
  ClusterSet cluster;
  const std::string key = "migrating-key";
  const std::string other_key = "{migrating-key}other";  // same slot, never written
  const int slot = ClusterSet::key_slot(key);
  const std::uint16_t source = cluster.owner_port(key);
  const std::uint16_t target = other_master(cluster, source);
  RedisSync on_source(source);
  RedisSync on_target(target);
  on_source.set(key, "value");

  cluster.begin_migration(slot, target);
  // Not moved yet: the source still serves it; a key it lacks is asked of
  // the target.
  CHECK(on_source.get(key).value_or("(none)") == "value");
  CHECK(on_source.command({"GET", other_key}).str == ask_to(slot, target));
  cluster.move_keys(slot);
  const RedisValue asked = on_source.command({"GET", key});
  CHECK(asked.is_error());
  CHECK(asked.str == ask_to(slot, target));
  // The target redirects a plain request back, and serves it after ASKING.
  CHECK(on_target.command({"GET", key}).str == moved_to(slot, source));
  CHECK(on_target.command({"ASKING"}).str == "OK");
  CHECK(on_target.get(key).value_or("(none)") == "value");
  // Other slots of the source are not affected.
  CHECK(cluster.slot_owner(slot) == source);

  cluster.finish_migration(slot);
  CHECK(cluster.owner_port(key) == target);
  CHECK(on_target.get(key).value_or("(none)") == "value");
  CHECK(on_source.command({"GET", key}).str == moved_to(slot, target));
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    const auto view = ClusterSet::slots_view(cluster.port(i));
    REQUIRE(view);
    const auto range = std::find_if(view->begin(), view->end(), [&](const auto& r) {
      return r.start <= slot && slot <= r.end;
    });
    REQUIRE(range != view->end());
    CHECK(range->master == target);
  }

  // And back in one call.
  cluster.migrate_slot(slot, source);
  CHECK(cluster.owner_port(key) == source);
  CHECK(on_source.get(key).value_or("(none)") == "value");
  CHECK(on_target.command({"GET", key}).str == moved_to(slot, source));
}

TEST_CASE("cluster fixture: CLUSTER FAILOVER makes the replica the owner", "[cluster][redis]") {
  ClusterSet cluster;
  const std::string key = "failover-key";
  const int slot = ClusterSet::key_slot(key);
  const std::uint16_t master = cluster.owner_port(key);
  const std::vector<std::uint16_t> replicas = cluster.replica_ports(master);
  REQUIRE(replicas.size() == 1);
  RedisSync{master}.set(key, "before");

  CHECK(cluster.failover(master) == replicas[0]);
  CHECK(cluster.owner_port(key) == replicas[0]);
  CHECK(cluster.replica_ports(replicas[0]) == std::vector<std::uint16_t>{master});
  RedisSync on_new(replicas[0]);
  CHECK(on_new.get(key).value_or("(none)") == "before");
  CHECK(on_new.command({"SET", key, "after"}).str == "OK");
  CHECK(RedisSync{master}.command({"GET", key}).str == moved_to(slot, replicas[0]));

  // And back.
  CHECK(cluster.failover(replicas[0]) == master);
  CHECK(cluster.owner_port(key) == master);
  CHECK(RedisSync{master}.get(key).value_or("(none)") == "after");
}

TEST_CASE("cluster fixture: a killed master is replaced by its replica and rejoins as a replica",
          "[cluster][redis]") {
  ClusterSet cluster;
  const std::string key = "killed-key";
  const std::uint16_t master = cluster.owner_port(key);
  const std::vector<std::uint16_t> replicas = cluster.replica_ports(master);
  REQUIRE(replicas.size() == 1);
  {
    RedisSync on_master(master);
    on_master.set(key, "kept");
    // Acknowledged by the replica before the kill.
    CHECK(on_master.command({"WAIT", "1", "5000"}).integer == 1);
  }

  cluster.kill(master);
  CHECK_FALSE(cluster.node(master).running());
  CHECK(cluster.wait_promoted(master) == replicas[0]);
  CHECK(cluster.owner_port(key) == replicas[0]);
  CHECK(RedisSync{replicas[0]}.get(key).value_or("(none)") == "kept");
  CHECK(cluster.master_ports().size() == 3);

  cluster.restart(master);
  CHECK(cluster.replica_ports(replicas[0]) == std::vector<std::uint16_t>{master});
  CHECK(cluster.owner_port(key) == replicas[0]);
}

TEST_CASE("cluster fixture: PUBLISH on any node reaches SUBSCRIBE on every node, replicas included",
          "[cluster][redis]") {
  ClusterSet cluster;
  std::vector<std::unique_ptr<RedisSubscriberProbe>> probes;
  for (std::size_t i = 0; i < cluster.size(); ++i)
    probes.push_back(std::make_unique<RedisSubscriberProbe>(
        cluster.port(i), std::vector<std::string>{"broadcast:chat"}));

  const std::uint16_t master = cluster.master_ports().front();
  const std::uint16_t replica = cluster.replica_ports(cluster.master_ports().back()).front();
  // PUBLISH answers the number of subscribers on that node only.
  CHECK(RedisSync{master}.publish("broadcast:chat", "from-master") == 1);
  CHECK(RedisSync{replica}.publish("broadcast:chat", "from-replica") == 1);
  // Each node forwards a PUBLISH over its own bus links, so two publishes
  // on two nodes may arrive in either order.
  for (std::size_t i = 0; i < probes.size(); ++i) {
    INFO("node " << i);
    std::vector<std::string> got{probes[i]->next_message(5s).value_or("(none)"),
                                 probes[i]->next_message(5s).value_or("(none)")};
    std::sort(got.begin(), got.end());
    CHECK(got == std::vector<std::string>{"from-master", "from-replica"});
  }

  // Sharded pub/sub is keyed: SPUBLISH goes to the channel's shard only
  // (its master or one of its replicas), other masters redirect.
  const std::string channel = "broadcast:chat";
  const int slot = ClusterSet::key_slot(channel);
  const std::uint16_t owner = cluster.owner_port(channel);
  CHECK(RedisSync{owner}.command({"SPUBLISH", channel, "x"}).kind == RedisValue::Kind::integer);
  CHECK(RedisSync{cluster.replica_ports(owner).front()}.command({"SPUBLISH", channel, "x"}).kind ==
        RedisValue::Kind::integer);
  CHECK(RedisSync{other_master(cluster, owner)}.command({"SPUBLISH", channel, "x"}).str ==
        moved_to(slot, owner));
  // A replica of the shard takes SSUBSCRIBE without READONLY.
  const RedisValue confirmation =
      RedisSync{cluster.replica_ports(owner).front()}.command({"SSUBSCRIBE", channel});
  REQUIRE(confirmation.elements.size() == 3);
  CHECK(confirmation.elements[0].str == "ssubscribe");
  CHECK(RedisSync{other_master(cluster, owner)}.command({"SSUBSCRIBE", channel}).str ==
        moved_to(slot, owner));
}
