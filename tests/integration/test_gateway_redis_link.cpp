// The gateway's Redis link (issue 4, "Redis link"): a subscription Redis
// refuses closes only its own sessions; after an outage the stored last
// messages are re-sent only where they changed.
#include "helpers.hpp"

using namespace wsrelay::test;

namespace {

// A gateway that connects as the ACL user "gw" (password "pw"), whose
// channel rights are `channels`.
struct AclSetup {
  RedisServer redis;
  RedisSync admin{redis.port()};
  explicit AclSetup(const std::string& channels) {
    REQUIRE(admin
                .command(
                    {"ACL", "SETUSER", "gw", "on", ">pw", "~*", "resetchannels", channels, "+@all"})
                .str == "OK");
  }
  std::string url() const { return "redis://gw:pw@127.0.0.1:" + std::to_string(redis.port()); }
};

long long metric(const Gateway& gateway, const std::string& name) {
  const std::string body = http_get(gateway.port(), "/metrics").body;
  const auto at = body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(body.substr(at + name.size() + 2));
}

}  // namespace

TEST_CASE("redis link: a channel the ACL refuses closes its sessions with 1008, not others",
          "[gateway][redis_link]") {
  AclSetup acl("&broadcast:ok*");
  TestGateway gateway({"--redis", acl.url()});
  REQUIRE(wait_readyz(gateway, 200, 10s));
  // Opened back to back, so their SUBSCRIBEs tend to share one command,
  // which Redis refuses as a whole.
  auto ok = open_ws(gateway, "/ws/ok1?subscribe-broadcast");
  WsClient denied;
  WsClient mixed;
  REQUIRE(denied.connect(gateway.port(), "/ws/secret?subscribe-broadcast").status == 101);
  REQUIRE(mixed
              .connect(gateway.port(), "/ws/ok2?subscribe-broadcast&subscribe-session",
                       {{"Cookie", "sessionid=s"}})
              .status == 101);
  CHECK(denied.wait_close(5s) == 1008);
  CHECK(mixed.wait_close(5s) == 1008);
  sync_subscription(acl.admin, *ok, "broadcast:ok1");
  CHECK(ok->is_open());
  CHECK(metric(gateway, "wsrelay_redis_subscribe_refused_total") >= 2);
  CHECK(gateway.log().find("SUBSCRIBE broadcast:secret refused: NOPERM") != std::string::npos);

  // Not stuck: a later session on the refused channel is closed as well...
  WsClient again;
  CHECK(again.connect(gateway.port(), "/ws/secret?subscribe-broadcast").status == 101);
  CHECK(again.wait_close(5s) == 1008);
  // ...and once the operator allows the channel, it is served.
  REQUIRE(acl.admin.command({"ACL", "SETUSER", "gw", "&broadcast:secret"}).str == "OK");
  auto allowed = open_ws(gateway, "/ws/secret?subscribe-broadcast");
  sync_subscription(acl.admin, *allowed, "broadcast:secret");
  CHECK(metric(gateway, "wsrelay_redis_reconnects_total") == 0);
  ok->pump();
  CHECK(ok->is_open());
}
