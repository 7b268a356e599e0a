// Redis Cluster without sockets: redis+cluster:// URLs, hash slots, the
// slot map from CLUSTER SLOTS, and -MOVED / -ASK errors.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <wsrelay/backend/cluster_router.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/wire/cluster.hpp>

#include "config_error.hpp"
#include "resp_values.hpp"

using namespace wsrelay;
using Catch::Matchers::Contains;
using wsrelay::test::array;
using wsrelay::test::bulk;
using wsrelay::test::error_of;
using wsrelay::test::integer;

namespace {

RespValue node(std::string host, long long port, std::string id) {
  return array({bulk(std::move(host)), integer(port), bulk(std::move(id))});
}

RespValue error_reply(std::string text) {
  RespValue v;
  v.type = RespValue::Type::error;
  v.str = std::move(text);
  return v;
}

}  // namespace

TEST_CASE("key_slot is Redis's CRC16 slot, with hash tags", "[cluster]") {
  // Values from Redis's documentation and CLUSTER KEYSLOT.
  CHECK(key_slot("123456789") == 0x31C3);  // the CRC16-XMODEM check value
  CHECK(key_slot("somekey") == 11058);
  CHECK(key_slot("foo{hash_tag}") == 2515);
  CHECK(key_slot("{user1000}.following") == key_slot("{user1000}.followers"));
  CHECK(key_slot("{user1000}.following") == key_slot("user1000"));
  // An empty tag is no tag: the whole key is hashed.
  CHECK(key_slot("foo{}{bar}") != key_slot("bar"));
  // Only the first '{' and the next '}' count.
  CHECK(key_slot("foo{{bar}}zap") == key_slot("{bar"));
  CHECK(key_slot("foo{bar}{zap}") == key_slot("bar"));
  CHECK(key_slot("") == 0);
  for (const std::string key : {"a", "broadcast:news", "\xff\x00\x01", "{"})
    CHECK((key_slot(key) >= 0 && key_slot(key) < cluster_slots));
}

TEST_CASE("read_cluster_slots maps every slot to its master", "[cluster]") {
  const RespValue reply =
      array({array({integer(0), integer(5460), node("127.0.0.1", 7000, "a"),
                    node("127.0.0.1", 7003, "d")}),
             array({integer(5461), integer(10922), node("127.0.0.1", 7001, "b")}),
             array({integer(10923), integer(16383), node("", 7002, "c")})});
  const auto map = read_cluster_slots(reply, HostPort{"10.0.0.9", 7002});
  REQUIRE(map);
  CHECK(map->complete());
  REQUIRE(map->masters.size() == 3);
  CHECK(*map->owner_of(0) == HostPort{"127.0.0.1", 7000});
  CHECK(*map->owner_of(5460) == HostPort{"127.0.0.1", 7000});
  CHECK(*map->owner_of(5461) == HostPort{"127.0.0.1", 7001});
  // An empty host is the node that answered.
  CHECK(*map->owner_of(16383) == HostPort{"10.0.0.9", 7002});
  CHECK(map->owner_of(16384) == nullptr);
  CHECK(map->owner_of(-1) == nullptr);
}

TEST_CASE("read_cluster_slots: a master with several ranges, and slots nobody serves",
          "[cluster]") {
  const RespValue reply = array({array({integer(0), integer(99), node("h", 1, "a")}),
                                 array({integer(200), integer(16383), node("h", 1, "a")})});
  const auto map = read_cluster_slots(reply, HostPort{"h", 1});
  REQUIRE(map);
  CHECK(map->masters.size() == 1);
  CHECK_FALSE(map->complete());
  CHECK(map->owner_of(150) == nullptr);
  CHECK(map->owner_of(99) != nullptr);
}

TEST_CASE("read_cluster_slots refuses errors and other shapes, saying why", "[cluster]") {
  std::string why;
  CHECK_FALSE(read_cluster_slots(error_reply("ERR This instance has cluster support disabled"),
                                 HostPort{}, &why));
  CHECK_THAT(why, Contains("cluster support disabled"));
  CHECK_FALSE(read_cluster_slots(bulk("x"), HostPort{}, &why));
  CHECK_FALSE(read_cluster_slots(array({}), HostPort{}, &why));
  CHECK_THAT(why, Contains("no slot"));
  CHECK_FALSE(read_cluster_slots(array({array({integer(5), integer(4), node("h", 1, "a")})}),
                                 HostPort{}, &why));
  CHECK_FALSE(read_cluster_slots(array({array({integer(0), integer(16384), node("h", 1, "a")})}),
                                 HostPort{}, &why));
  CHECK_FALSE(read_cluster_slots(array({array({integer(0), integer(1), node("h", 0, "a")})}),
                                 HostPort{}, &why));
  CHECK_FALSE(read_cluster_slots(array({array({integer(0), integer(1)})}), HostPort{}, &why));
}

TEST_CASE("read_redirect reads -MOVED and -ASK, and nothing else", "[cluster]") {
  auto moved = read_redirect("MOVED 3999 127.0.0.1:6381");
  REQUIRE(moved);
  CHECK(moved->kind == ClusterRedirect::Kind::moved);
  CHECK(moved->slot == 3999);
  CHECK(moved->address == HostPort{"127.0.0.1", 6381});
  auto ask = read_redirect("ASK 0 redis-2.internal:7000");
  REQUIRE(ask);
  CHECK(ask->kind == ClusterRedirect::Kind::ask);
  CHECK(ask->slot == 0);
  CHECK(ask->address == HostPort{"redis-2.internal", 7000});
  auto v6 = read_redirect("MOVED 16383 ::1:7001");
  REQUIRE(v6);
  CHECK(v6->address == HostPort{"::1", 7001});
  for (const char* text :
       {"ERR unknown command", "MOVED", "MOVED 3999", "MOVED x 127.0.0.1:1", "MOVED 16384 h:1",
        "MOVED -1 h:1", "MOVED 1 h", "MOVED 1 h:0", "MOVED 1 h:99999", "MOVED 1 :1",
        "CLUSTERDOWN The cluster is down", "TRYAGAIN Multiple keys"})
    CHECK_FALSE(read_redirect(text));
}

TEST_CASE("redis+cluster:// URLs", "[cluster][config]") {
  const auto endpoint =
      parse_redis_url("redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2,[::1]:7002");
  CHECK(endpoint.is_cluster());
  CHECK_FALSE(endpoint.is_sentinel());
  CHECK(endpoint.cluster_seeds ==
        std::vector<HostPort>{{"10.0.0.1", 7000}, {"10.0.0.2", 6379}, {"::1", 7002}});
  CHECK(endpoint.user == "u");
  CHECK(endpoint.password == "p@ss");
  CHECK(endpoint.db == 0);
  CHECK(describe_redis_endpoint(endpoint) == "cluster via 10.0.0.1:7000,10.0.0.2:6379,[::1]:7002");
  CHECK(parse_redis_url("redis+cluster://h:1,h:1/").cluster_seeds.size() == 1);
  CHECK(parse_redis_url("redis+cluster://h:1/0").is_cluster());
  CHECK_THAT(error_of([] { parse_redis_url("redis+cluster://h:1/2"); }),
             Contains("only database 0"));
  CHECK_THAT(error_of([] { parse_redis_url("redis+cluster://h:1,h:x"); }), Contains("node 2"));
  CHECK_THAT(error_of([] { parse_redis_url("redis+cluster://"); }), Contains("node 1"));
  CHECK_THAT(error_of([] { parse_redis_url("redis+cluster://h:1?x=1"); }),
             Contains("query parameters"));
  CHECK(redact_redis_url("redis+cluster://u:secret@h:1,h:2") ==
        "redis+cluster://u:" + std::string(redacted_secret) + "@h:1,h:2");
  CHECK_FALSE(endpoint.tls);
}

TEST_CASE("rediss+cluster:// is the same over TLS, to every node", "[cluster][config]") {
  const auto endpoint = parse_redis_url("rediss+cluster://:pw@node-a:7000,node-b");
  CHECK(endpoint.tls);
  CHECK(endpoint.is_cluster());
  CHECK(endpoint.cluster_seeds == std::vector<HostPort>{{"node-a", 7000}, {"node-b", 6379}});
  CHECK(describe_redis_endpoint(endpoint) == "cluster via node-a:7000,node-b:6379 (TLS)");
  CHECK_THAT(error_of([] { parse_redis_url("rediss+cluster://h:1/2"); }),
             Contains("only database 0"));
  CHECK_THAT(error_of([] { parse_redis_url("redis+tls://h:1"); }), Contains("rediss+cluster://"));
  // The tls_* settings go with it.
  Config config;
  config.redis_url = "rediss+cluster://127.0.0.1:7000";
  config.redis_tls_server_name = "cache.internal";
  config.redis_sharded = true;
  CHECK_NOTHROW(validate(config));
  REQUIRE(config.redis);
  CHECK(config.redis->tls);
}

TEST_CASE("history is refused with redis+cluster://, saying why", "[cluster][config]") {
  Config config;
  config.redis_url = "redis+cluster://127.0.0.1:7000";
  config.history_facilities = {"chat=100"};
  CHECK_THAT(error_of([&] { validate(config); }),
             Contains("history.facilities: not with redis+cluster://"));
  config.history_facilities.clear();
  validate(config);
  REQUIRE(config.redis);
  CHECK(config.redis->is_cluster());
}

namespace {

SlotMap three_masters() {
  SlotMap map;
  for (int slot = 0; slot < cluster_slots; ++slot)
    map.owner[static_cast<std::size_t>(slot)] = map.index_of(
        HostPort{"10.0.0.1", static_cast<std::uint16_t>(7000 + slot * 3 / cluster_slots)});
  return map;
}

using Kind = ClusterRouter::Step::Kind;

}  // namespace

TEST_CASE("ClusterRouter: a map, its owners, and a reply that is not a redirect", "[cluster]") {
  ClusterRouter router;
  CHECK(router.owner(0) == nullptr);
  CHECK(router.set_map(three_masters()));
  CHECK_FALSE(router.set_map(three_masters()));  // the same map: no change
  CHECK(*router.owner(0) == HostPort{"10.0.0.1", 7000});
  CHECK(*router.owner(16383) == HostPort{"10.0.0.1", 7002});

  ClusterRouter::Flight flight{key_slot("k"), true, 0, 0};
  router.sent(flight);
  const RespValue ok = bulk("OK");
  auto step = router.on_reply(flight, &ok);
  CHECK(step.kind == Kind::finish);
  CHECK_FALSE(step.lost);
  CHECK_FALSE(step.redirected);
  // Another error is the command's answer, and a dropped connection too.
  const RespValue denied = error_reply("NOPERM this user has no permissions");
  CHECK(router.on_reply(flight, &denied).kind == Kind::finish);
  CHECK(router.on_reply(flight, nullptr).kind == Kind::finish);
  router.finished(flight);
  CHECK_FALSE(router.draining());
}

TEST_CASE("ClusterRouter: -MOVED points the slot at its new owner, -ASK does not", "[cluster]") {
  ClusterRouter router;
  router.set_map(three_masters());
  ClusterRouter::Flight flight{100, true, 0, 0};
  router.sent(flight);

  const RespValue ask = error_reply("ASK 100 10.0.0.1:7002");
  auto step = router.on_reply(flight, &ask);
  CHECK(step.kind == Kind::resend);
  CHECK(step.to == HostPort{"10.0.0.1", 7002});
  CHECK(step.asking);
  CHECK_FALSE(step.refresh);
  CHECK(step.redirected);
  CHECK(*router.owner(100) == HostPort{"10.0.0.1", 7000});  // the map is left alone

  const RespValue moved = error_reply("MOVED 100 10.0.0.9:7009");
  step = router.on_reply(flight, &moved);
  CHECK(step.kind == Kind::resend);
  CHECK(step.to == HostPort{"10.0.0.9", 7009});
  CHECK_FALSE(step.asking);
  CHECK(step.refresh);
  CHECK(*router.owner(100) == HostPort{"10.0.0.9", 7009});  // a master the map did not have
  CHECK(*router.owner(101) == HostPort{"10.0.0.1", 7000});  // only that slot moved
  CHECK(router.map()->masters.size() == 4);
}

TEST_CASE("ClusterRouter: -TRYAGAIN and -CLUSTERDOWN wait a turn, then go to the owner",
          "[cluster]") {
  ClusterRouter router(ClusterRouter::Limits{16, 3});
  router.set_map(three_masters());
  ClusterRouter::Flight flight{0, true, 0, 0};
  router.sent(flight);
  const RespValue down = error_reply("CLUSTERDOWN The cluster is down");
  auto step = router.on_reply(flight, &down);
  CHECK(step.kind == Kind::retry_later);
  CHECK(step.refresh);
  // The owner's connection is down: wait again, then give up as lost.
  CHECK(router.on_retry(flight, false).kind == Kind::retry_later);
  CHECK(router.on_retry(flight, false).kind == Kind::retry_later);
  step = router.on_retry(flight, false);
  CHECK(step.kind == Kind::finish);
  CHECK(step.lost);

  ClusterRouter::Flight again{0, true, 0, 0};
  router.sent(again);
  const RespValue busy = error_reply("TRYAGAIN Multiple keys request during rehashing of slot");
  CHECK(router.on_reply(again, &busy).kind == Kind::retry_later);
  step = router.on_retry(again, true);
  CHECK(step.kind == Kind::resend);
  CHECK(step.to == HostPort{"10.0.0.1", 7000});
}

TEST_CASE("ClusterRouter: redirects are bounded, then the command is lost, not refused",
          "[cluster]") {
  ClusterRouter router(ClusterRouter::Limits{2, 100});
  router.set_map(three_masters());
  ClusterRouter::Flight flight{5, false, 0, 0};
  const RespValue ping_pong = error_reply("MOVED 5 10.0.0.1:7001");
  CHECK(router.on_reply(flight, &ping_pong).kind == Kind::resend);
  CHECK(router.on_reply(flight, &ping_pong).kind == Kind::resend);
  const auto step = router.on_reply(flight, &ping_pong);
  CHECK(step.kind == Kind::finish);
  CHECK(step.lost);  // not answered with the -MOVED: a publish is sent again
}

TEST_CASE("ClusterRouter: after an ordered redirect it drains every ordered command sent before",
          "[cluster]") {
  ClusterRouter router;
  router.set_map(three_masters());
  // Three SETs pipelined on the old owner; a command channel command beside them.
  std::vector<ClusterRouter::Flight> sets(3, ClusterRouter::Flight{100, true, 0, 0});
  ClusterRouter::Flight command{100, false, 0, 0};
  for (auto& flight : sets) router.sent(flight);
  router.sent(command);
  const RespValue moved = error_reply("MOVED 100 10.0.0.1:7002");
  const RespValue ok = bulk("OK");

  // An unordered command's redirect holds nothing up.
  router.on_reply(command, &moved);
  CHECK_FALSE(router.draining());

  router.on_reply(sets[0], &moved);
  CHECK(router.draining());
  router.on_reply(sets[0], &ok);  // answered by the new owner...
  router.finished(sets[0]);
  CHECK(router.draining());  // ... but two sent before are not answered yet
  router.on_reply(sets[1], &moved);
  router.on_reply(sets[1], &ok);
  router.finished(sets[1]);
  CHECK(router.draining());
  router.finished(command);
  CHECK(router.draining());
  router.on_reply(sets[2], &moved);
  router.finished(sets[2]);
  CHECK_FALSE(router.draining());
}

TEST_CASE("redis.sharded: only with redis+cluster://, and never with a pattern route",
          "[cluster][config]") {
  Config config;
  config.redis_url = "redis://127.0.0.1:6379";
  config.redis_sharded = true;
  CHECK_THAT(error_of([&] { validate(config); }),
             Contains("redis.sharded: only with a redis+cluster:// redis.url"));
  config.redis_url = "redis+cluster://127.0.0.1:7000";
  validate(config);
  Route pattern;
  pattern.facility = "news";
  pattern.channel = "news.*";
  pattern.pattern = true;
  pattern.flags = subscribe_broadcast;
  config.routes.push_back(pattern);
  CHECK_THAT(error_of([&] { validate(config); }),
             Contains("redis.sharded: the route of facility \"news\" subscribes a pattern"));
  config.redis_sharded = false;
  validate(config);
}
