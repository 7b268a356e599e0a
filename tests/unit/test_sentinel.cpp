// Redis Sentinel without sockets: redis+sentinel:// URLs, the replies of
// SENTINEL get-master-addr-by-name, ROLE and +switch-master, and the order
// in which SentinelDiscovery asks the sentinels.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <wsrelay/config/config.hpp>
#include <wsrelay/wire/sentinel.hpp>

#include "config_error.hpp"

using namespace wsrelay;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using wsrelay::test::error_of;

namespace {

RespValue text(std::string s) {
  RespValue v;
  v.type = RespValue::Type::string;
  v.str = std::move(s);
  return v;
}
RespValue integer(long long n) {
  RespValue v;
  v.type = RespValue::Type::integer;
  v.integer = n;
  return v;
}
RespValue error(std::string s) {
  RespValue v;
  v.type = RespValue::Type::error;
  v.str = std::move(s);
  return v;
}
RespValue array(std::vector<RespValue> elements) {
  RespValue v;
  v.type = RespValue::Type::array;
  v.elements = std::move(elements);
  return v;
}

const std::vector<HostPort> three{{"10.0.0.1", 26379}, {"10.0.0.2", 26379}, {"10.0.0.3", 26380}};

}  // namespace

TEST_CASE("redis+sentinel URLs", "[config][sentinel]") {
  SECTION("sentinels, the master's name, default port 26379") {
    const RedisEndpoint e =
        parse_redis_url("redis+sentinel://10.0.0.1,10.0.0.2:26380,[::1]:5000/mymaster");
    REQUIRE(e.is_sentinel());
    CHECK(e.sentinels ==
          std::vector<HostPort>{{"10.0.0.1", 26379}, {"10.0.0.2", 26380}, {"::1", 5000}});
    CHECK(e.master_name == "mymaster");
    CHECK(e.db == 0);
    CHECK(e.host.empty());
    CHECK(e.password.empty());
    CHECK(describe_redis_endpoint(e) ==
          "master \"mymaster\" via sentinel 10.0.0.1:26379,10.0.0.2:26380,[::1]:5000");
  }
  SECTION("credentials (the master's) and a db after the name") {
    const RedisEndpoint e = parse_redis_url("REDIS+SENTINEL://app:p%40ss@s1:1,s2:2/cache%2D1/3");
    CHECK(e.user == "app");
    CHECK(e.password == "p@ss");
    CHECK(e.master_name == "cache-1");
    CHECK(e.db == 3);
    CHECK(e.sentinels.size() == 2);
  }
  SECTION("rediss+sentinel:// is the same over TLS, sentinels and master alike") {
    const RedisEndpoint e = parse_redis_url("rediss+sentinel://:pw@s1,s2:26380/mymaster/2");
    CHECK(e.tls);
    CHECK(e.is_sentinel());
    CHECK(e.sentinels == std::vector<HostPort>{{"s1", 26379}, {"s2", 26380}});
    CHECK(e.master_name == "mymaster");
    CHECK(e.db == 2);
    CHECK(describe_redis_endpoint(e) == "master \"mymaster\" via sentinel s1:26379,s2:26380 (TLS)");
    CHECK_FALSE(parse_redis_url("redis+sentinel://s1/m").tls);
    CHECK(redact_redis_url("rediss+sentinel://:pw@s1/m") ==
          "rediss+sentinel://:" + std::string(redacted_secret) + "@s1/m");
  }
  SECTION("a sentinel written twice is asked once") {
    CHECK(parse_redis_url("redis+sentinel://s1:1,s1:1,s2/m").sentinels.size() == 2);
  }
  SECTION("plain redis:// URLs have no sentinel") {
    CHECK_FALSE(parse_redis_url("redis://cache:6379/1").is_sentinel());
  }
  SECTION("bad URLs say why") {
    auto error = [](const std::string& url) { return error_of([&] { parse_redis_url(url); }); };
    CHECK_THAT(error("redis+sentinel://s1:26379"),
               StartsWith("redis_url: missing the master's name"));
    CHECK_THAT(error("redis+sentinel://s1:26379/"),
               StartsWith("redis_url: missing the master's name"));
    CHECK_THAT(error("redis+sentinel://s1,,s2/m"),
               StartsWith("redis_url: sentinel 2: missing host"));
    CHECK_THAT(error("redis+sentinel:///m"), StartsWith("redis_url: sentinel 1: missing host"));
    CHECK_THAT(error("redis+sentinel://s1:0/m"), StartsWith("redis_url: sentinel 1: port must be"));
    CHECK_THAT(error("redis+sentinel://s1:1,s2:x/m"), StartsWith("redis_url: sentinel 2: port"));
    CHECK_THAT(error("redis+sentinel://s1/m/x"), StartsWith("redis_url: db must be"));
    CHECK_THAT(error("redis+sentinel://s1/m?db=1"), StartsWith("redis_url: query parameters"));
    CHECK_THAT(error("redis+sentinel://user@s1/m"), StartsWith("redis_url: a user needs"));
    CHECK_THAT(error("redis+sentinel://s1/m%20x"), Contains("spaces or control characters"));
    CHECK_THAT(error("sentinel://s1/m"), Contains("redis+sentinel://"));
  }
  SECTION("the password is redacted, never echoed") {
    CHECK(redact_redis_url("redis+sentinel://u:hunter2@s1:1,s2:2/m/1") ==
          "redis+sentinel://u:REDACTED@s1:1,s2:2/m/1");
    CHECK(error_of([] { parse_redis_url("redis+sentinel://:hunter2@s1:bad/m"); }).find("hunter2") ==
          std::string::npos);
  }
}

TEST_CASE("sentinel replies", "[sentinel]") {
  SECTION("get-master-addr-by-name") {
    auto address = read_master_address_reply(array({text("10.0.0.9"), text("6380")}));
    CHECK(address.kind == MasterAddressReply::Kind::address);
    CHECK(address.address == HostPort{"10.0.0.9", 6380});
    CHECK(read_master_address_reply(RespValue{}).kind == MasterAddressReply::Kind::unknown_name);
    auto refused = read_master_address_reply(error("ERR unknown command 'SENTINEL'"));
    CHECK(refused.kind == MasterAddressReply::Kind::failed);
    CHECK(refused.reason == "ERR unknown command 'SENTINEL'");
    for (const RespValue& odd :
         {array({text("10.0.0.9")}), array({text("h"), text("0")}), array({text("h x"), text("1")}),
          text("OK"), array({text(""), text("6379")})}) {
      CHECK(read_master_address_reply(odd).kind == MasterAddressReply::Kind::failed);
    }
  }
  SECTION("ROLE") {
    CHECK(read_role_reply(array({text("master"), integer(0), array({})})).is_master);
    const RoleReply replica = read_role_reply(
        array({text("slave"), text("10.0.0.5"), integer(6379), text("connected"), integer(1)}));
    CHECK_FALSE(replica.is_master);
    CHECK(replica.reason == "a replica of 10.0.0.5:6379");
    CHECK(read_role_reply(array({text("sentinel"), array({})})).reason == "a sentinel");
    CHECK(read_role_reply(error("NOPERM this user has no permissions to run the 'role' command"))
              .reason ==
          "ROLE refused: NOPERM this user has no permissions to run the 'role' "
          "command");
    CHECK_FALSE(read_role_reply(text("master")).is_master);
  }
  SECTION("+switch-master about our master only") {
    CHECK(read_switch_master("mymaster 10.0.0.1 6379 10.0.0.2 6380", "mymaster") ==
          HostPort{"10.0.0.2", 6380});
    CHECK_FALSE(read_switch_master("other 10.0.0.1 6379 10.0.0.2 6380", "mymaster"));
    CHECK_FALSE(read_switch_master("mymaster 10.0.0.1 6379 10.0.0.2", "mymaster"));
    CHECK_FALSE(read_switch_master("mymaster 10.0.0.1 6379 10.0.0.2 99999", "mymaster"));
    CHECK_FALSE(read_switch_master("mymaster 10.0.0.1 6379 10.0.0.2 6380 x", "mymaster"));
    CHECK_FALSE(read_switch_master("mymaster2 10.0.0.1 6379 10.0.0.2 6380", "mymaster"));
  }
}

TEST_CASE("sentinel discovery order", "[sentinel]") {
  SentinelDiscovery d(three, "mymaster");
  CHECK(d.command() == std::vector<std::string>{"SENTINEL", "get-master-addr-by-name", "mymaster"});
  REQUIRE(d.current() == three[0]);

  SECTION("a sentinel that fails is skipped for the next, at once") {
    CHECK(d.failed("connect: Connection refused"));
    CHECK(d.current() == three[1]);
    d.answered();
    CHECK(d.current() == three[1]);  // the one that answered is asked first next time
    CHECK(d.failed("timed out"));
    CHECK(d.current() == three[2]);
  }
  SECTION("a round in which every sentinel failed ends with a summary, then starts over") {
    CHECK(d.failed("connect: Connection refused"));
    CHECK(d.failed("does not know that master"));
    CHECK_FALSE(d.failed("connect: timed out"));
    CHECK(d.round_summary() ==
          "no sentinel gave the address of master \"mymaster\" (10.0.0.1:26379: connect: "
          "Connection refused; 10.0.0.2:26379: does not know that master; 10.0.0.3:26380: "
          "connect: timed out)");
    CHECK(d.current() == three[0]);
    CHECK(d.failed("x"));  // a new round: three more tries before the next wait
    CHECK(d.failed("x"));
    CHECK_FALSE(d.failed("x"));
  }
  SECTION("a round that ends with an answer forgets its failures") {
    CHECK(d.failed("refused"));
    d.answered();
    CHECK(d.failed("refused"));
    CHECK(d.failed("refused"));
    CHECK_FALSE(d.failed("refused"));
  }
  SECTION("a master that turned out unusable moves the next round to the next sentinel") {
    d.answered();
    d.master_unusable();
    CHECK(d.current() == three[1]);
    d.master_unusable();
    d.master_unusable();
    CHECK(d.current() == three[0]);
  }
  SECTION("one sentinel: each failure ends the round") {
    SentinelDiscovery one({{"s", 1}}, "m");
    CHECK_FALSE(one.failed("refused"));
    CHECK(one.current() == HostPort{"s", 1});
    CHECK_THAT(one.round_summary(), Contains("s:1: refused"));
  }
}

TEST_CASE("redis.sentinel_password: only with redis+sentinel://, on the endpoint, redacted",
          "[sentinel][config]") {
  Config config;
  config.redis_url = "redis://cache:6379";
  config.redis_sentinel_password = "s3ntinel";
  CHECK_THAT(error_of([&] { validate(config); }),
             Contains("redis.sentinel_password: only with a redis+sentinel:// redis.url"));
  config.redis_url = "redis+sentinel://:m4ster@s1,s2/mymaster";
  validate(config);
  REQUIRE(config.redis);
  CHECK(config.redis->sentinel_password == "s3ntinel");
  CHECK(config.redis->password == "m4ster");  // the URL's are the master's
  const std::string shown = to_toml(config, Secrets::redacted);
  CHECK(shown.find("s3ntinel") == std::string::npos);
  CHECK_THAT(shown, Contains("sentinel_password = \"REDACTED\""));
}
