// TLS to a Redis Cluster (rediss+cluster://) and to a Sentinel set
// (rediss+sentinel://): real redis-servers on loopback whose cluster bus,
// replication and sentinel links all use TLS (cluster_set.hpp and
// sentinel_set.hpp with TLS files, certificates from test_pki.hpp). Every
// server also has a plain port, where the test itself publishes and looks
// at who is connected: the gateway's connections must all be on TLS ports,
// to every master of the cluster and to the master the sentinels name,
// before and after a failover.
#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster_helpers.hpp"
#include "helpers.hpp"
#include "support/cluster_set.hpp"
#include "support/sentinel_set.hpp"
#include "support/test_pki.hpp"

using namespace wsrelay::test;

namespace {

using clock_type = std::chrono::steady_clock;

std::vector<std::string> tls_args(const std::string& url, const std::string& ca,
                                  std::vector<std::string> more = {}) {
  std::vector<std::string> args{"--redis", url,
                                "--set",   "redis.tls_ca_file=" + ca,
                                "--set",   "redis.reconnect_min_ms=20",
                                "--set",   "redis.reconnect_max_ms=200"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

bool log_has(const Gateway& gateway, const std::string& text) {
  return gateway.log().find(text) != std::string::npos;
}

void require_ready(const Gateway& gateway) {
  const bool ready = wait_readyz(gateway, 200, 15s);
  INFO(gateway.log());
  REQUIRE(ready);
}

// Every connection of the gateway to the cluster is on a TLS port: at
// least `per_master` on each master's (its command connection, and a
// subscriber when sharded), none on a replica's, none on a plain port (where
// the question itself is the one client). `links` gets what was seen, node
// by node: "tls/plain ...".
bool links_are_tls(ClusterSet& set, int per_master, std::string& links) {
  const auto masters = set.master_ports();
  bool ok = true;
  links.clear();
  for (std::size_t i = 0; i < set.size(); ++i) {
    const std::uint16_t port = set.port(i);
    RedisSync node(port);
    const bool master = std::find(masters.begin(), masters.end(), port) != masters.end();
    const int tls = node.clients_on(set.tls_port(port));
    const int plain = node.clients_on(port);
    links += (i == 0 ? "" : " ") + std::to_string(tls) + "/" + std::to_string(plain);
    ok = ok && (master ? tls >= per_master : tls == 0) && plain == 1;
  }
  return ok;
}

// The same for node `i` of a Sentinel set: the gateway's subscriber and
// command connection on its TLS port, nothing on its plain one. `clients`
// gets its CLIENT LIST.
bool node_links_are_tls(SentinelSet& set, std::size_t i, std::string& clients) {
  RedisSync node(set.node(i).port());
  clients = node.command({"CLIENT", "LIST"}).str;
  return node.clients_on(set.tls_port(i)) == 2 && node.clients_on(set.node(i).port()) == 1;
}

}  // namespace

TEST_CASE("redis tls: rediss+cluster:// speaks TLS to every node, classic and sharded pub/sub",
          "[gateway][redis][tls][cluster]") {
  Pki pki;
  ClusterSet set(pki.server());
  const auto masters = set.master_ports();
  REQUIRE(masters.size() == 3);

  SECTION("classic: one subscriber, a PUBLISH on any node, commands on each master") {
    TestGateway gateway(tls_args(set.url(), pki.file("ca.crt")));
    require_ready(gateway);
    CHECK(log_has(gateway, "(TLS)"));
    std::string links;
    const bool tls_only = wait_until([&] { return links_are_tls(set, 1, links); }, 10s, 50ms);
    INFO(links);
    CHECK(tls_only);
    // A facility on each master: the stored message goes to that master
    // over its TLS connection.
    for (const auto master : masters) {
      const std::string facility = facility_on(set, master);
      auto client = open_ws(gateway, "/ws/" + facility + "?subscribe-broadcast");
      auto publisher = open_ws(gateway, "/ws/" + facility + "?publish-broadcast");
      // Open means subscribed: a PUBLISH made on another node right after
      // the open reaches the client.
      RedisSync other(master == masters[0] ? masters[1] : masters[0]);
      other.publish("broadcast:" + facility, "first");
      auto m = client->read(5s);
      REQUIRE(m);
      CHECK(m->data == "first");
      REQUIRE(publisher->send_text("from a browser on " + facility));
      m = client->read(5s);
      REQUIRE(m);
      CHECK(m->data == "from a browser on " + facility);
      RedisSync owner(master);
      CHECK(wait_stored(owner, "broadcast:" + facility, "from a browser on " + facility));
    }
  }

  SECTION("sharded: one subscriber per master, SSUBSCRIBE and SPUBLISH over TLS") {
    TestGateway gateway(tls_args(set.url(), pki.file("ca.crt"), {"--set", "redis.sharded=true"}));
    require_ready(gateway);
    auto clients = open_on_every_master(gateway, set, masters);
    publish_on_every_master(clients, masters);
    std::string links;
    const bool tls_only = wait_until([&] { return links_are_tls(set, 2, links); }, 10s, 50ms);
    INFO(links);
    CHECK(tls_only);
  }

  SECTION("nodes the CA does not vouch for: not ready, and the log says why") {
    TestGateway gateway(tls_args(set.url(), pki.file("other-ca.crt")));
    REQUIRE(wait_until([&] { return log_has(gateway, "certificate verify failed"); }, 10s, 20ms));
    CHECK(get_status(gateway, "/readyz") == 503);
  }
}

TEST_CASE(
    "redis tls: rediss+sentinel:// asks the sentinels and the master over TLS, "
    "across a failover",
    "[gateway][redis][tls][sentinel]") {
  Pki pki;
  SentinelSet set("wsmaster", {}, pki.server());
  const std::uint16_t old_tls = set.tls_port(0);
  const std::uint16_t new_tls = set.tls_port(1);
  TestGateway gateway(tls_args(set.url(), pki.file("ca.crt")));
  require_ready(gateway);
  CHECK(log_has(gateway, "connected to 127.0.0.1:" + std::to_string(old_tls) + " (TLS) db 0"));
  CHECK(log_has(gateway, "(TLS) (sentinel)"));
  {
    // The subscriber and the command connection, both on the TLS port.
    {
      std::string clients;
      const bool tls_only =
          wait_until([&] { return node_links_are_tls(set, 0, clients); }, 5s, 20ms);
      INFO(clients);
      CHECK(tls_only);
    }
  }

  auto subscriber = open_ws(gateway, "/ws/f?subscribe-broadcast");
  auto publisher = open_ws(gateway, "/ws/f?publish-broadcast");
  {
    RedisSync master(set.node(0).port());
    sync_subscription(master, *subscriber, "broadcast:f");
  }
  set.failover();
  {
    const bool switched = wait_until([&] { return set.master_port(0) == new_tls; }, 15s, 20ms);
    INFO(set.logs());
    REQUIRE(switched);
  }
  // Delivery resumes from the new master, reached over TLS.
  auto master = std::make_unique<RedisSync>(set.node(1).port());
  int probe = 0;
  bool resumed = false;
  const auto deadline = clock_type::now() + 20s;
  while (!resumed && clock_type::now() < deadline) {
    master->publish("broadcast:f", "probe-" + std::to_string(++probe));
    while (auto m = subscriber->read(50ms)) resumed = resumed || m->data.rfind("probe-", 0) == 0;
  }
  {
    INFO(gateway.log());
    REQUIRE(resumed);
  }
  CHECK(log_has(gateway, "connected to 127.0.0.1:" + std::to_string(new_tls) + " (TLS) db 0"));
  REQUIRE(publisher->send_text("after the failover"));
  bool got = false;
  const auto read_deadline = clock_type::now() + 5s;
  while (!got && clock_type::now() < read_deadline)
    if (auto m = subscriber->read(200ms)) got = m->data == "after the failover";
  CHECK(got);
  CHECK(wait_stored(*master, "broadcast:f", "after the failover"));
  master.reset();  // the node's one plain client is the question below
  {
    std::string clients;
    const bool tls_only = wait_until([&] { return node_links_are_tls(set, 1, clients); }, 5s, 20ms);
    INFO(clients);
    CHECK(tls_only);
  }
  CHECK(get_status(gateway, "/readyz") == 200);
}
