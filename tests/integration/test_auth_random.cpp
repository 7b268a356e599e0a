// The entitlement property, at scale: thousands of connections with random
// identities (JWT claims), random allow claims and random requested flags,
// behind static rules; then a message on every channel of every audience.
// Nobody receives a message they are not entitled to, and everyone entitled
// receives theirs. The seed is printed; WSRELAY_TEST_SEED replays a run.
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>

#include "auth_helpers.hpp"

using namespace wsrelay::test;
using nlohmann::json;

namespace {

constexpr int kConnections = 2000;
constexpr int kUsers = 20;
constexpr int kGroups = 8;
constexpr int kSessions = 40;
const std::vector<std::string> kFacilities{"f0", "f1", "f2"};
// f1 requires a user; f2 never allows subscribe-user.
const std::string kRules =
    "f1: subscribe-* require-user,f2: subscribe-broadcast subscribe-group subscribe-session";
const std::vector<std::pair<std::string, unsigned>> kSubscribeFlags{{"subscribe-broadcast", 1},
                                                                    {"subscribe-user", 2},
                                                                    {"subscribe-group", 4},
                                                                    {"subscribe-session", 8}};

struct Planned {
  std::string facility;
  std::optional<std::string> user;
  std::vector<std::string> groups;
  std::optional<std::string> session;
  unsigned requested = 0;  // bits of kSubscribeFlags, and kPublish
  bool expired = false;
  int expected_status = 101;
  std::set<std::string> channels;  // what it must receive, by the model below
};

// Bit 16 is publish-broadcast: every connection asks for it and never uses
// it, so it only decides between 101 and 403.
constexpr unsigned kPublish = 16;

unsigned rule_allows(const Planned& p) {
  if (p.facility == "f1") return 15;
  if (p.facility == "f2") return 1 | 4 | 8;
  return 15 | kPublish;  // no rule for f0
}

// The model of docs/protocol.md §2-3, written independently of the gateway.
void expect(Planned& p, unsigned claim_allows) {
  if (p.expired) {
    p.expected_status = 401;
    return;
  }
  if (p.facility == "f1" && !p.user) {
    p.expected_status = 401;
    return;
  }
  const unsigned granted = p.requested & claim_allows & rule_allows(p);
  if (p.requested != 0 && granted == 0) {
    p.expected_status = 403;
    return;
  }
  const std::string& f = p.facility;
  if (granted & 1) p.channels.insert("broadcast:" + f);
  if ((granted & 2) && p.user) p.channels.insert("user:" + *p.user + ":" + f);
  if (granted & 4)
    for (const auto& g : p.groups) p.channels.insert("group:" + g + ":" + f);
  if ((granted & 8) && p.session) p.channels.insert("session:" + *p.session + ":" + f);
}

std::vector<std::string> every_channel() {
  std::vector<std::string> all;
  for (const auto& f : kFacilities) {
    all.push_back("broadcast:" + f);
    for (int i = 0; i < kUsers; ++i) all.push_back("user:u" + std::to_string(i) + ":" + f);
    for (int i = 0; i < kGroups; ++i) all.push_back("group:g" + std::to_string(i) + ":" + f);
    for (int i = 0; i < kSessions; ++i) all.push_back("session:s" + std::to_string(i) + ":" + f);
  }
  return all;
}

std::uint64_t seed_of_run() {
  if (const char* s = std::getenv("WSRELAY_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

}  // namespace

TEST_CASE("randomized: 2000 connections receive exactly what they are entitled to",
          "[gateway][auth][random]") {
  const std::uint64_t seed = seed_of_run();
  std::cout << "randomized entitlement test: WSRELAY_TEST_SEED=" << seed << std::endl;
  INFO("WSRELAY_TEST_SEED=" << seed);
  std::mt19937_64 rng(seed);
  auto chance = [&](double p) { return std::uniform_real_distribution<>(0, 1)(rng) < p; };
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };

  RedisServer redis;
  JwtKeyFiles keys;
  TestGateway gateway(
      with_redis(redis, {"--set", "auth.backends=jwt", "--set", "auth.jwt_keys=" + keys.jwt_keys(),
                         "--set", "auth.rules=" + kRules, "--set", "server.threads=2"}));
  RedisSync sync(redis.port());
  // A stored last message on every channel: a session replays it right after
  // opening, so receiving it proves the subscription is live, and receiving a
  // foreign one is already a leak.
  const auto channels = every_channel();
  for (const auto& channel : channels) sync.set(channel, "stored:" + channel);

  std::vector<Planned> plan(kConnections);
  std::vector<std::unique_ptr<WsClient>> clients(kConnections);
  std::map<int, int> statuses;
  for (int i = 0; i < kConnections; ++i) {
    Planned& p = plan[static_cast<std::size_t>(i)];
    p.facility = kFacilities[static_cast<std::size_t>(pick(3))];
    json payload = {{"exp", unix_now() + 600}};
    if (chance(0.85)) payload["sub"] = *(p.user = "u" + std::to_string(pick(kUsers)));
    std::set<std::string> groups;
    for (int n = pick(4); n > 0; --n) groups.insert("g" + std::to_string(pick(kGroups)));
    p.groups.assign(groups.begin(), groups.end());
    payload["groups"] = p.groups;
    if (chance(0.85)) payload["session"] = *(p.session = "s" + std::to_string(pick(kSessions)));
    unsigned claim_allows = 15 | kPublish;  // no allow claim: every flag
    if (chance(0.5)) {
      json allow = json::object();
      for (const auto& f : kFacilities) {
        if (chance(0.2)) continue;  // no entry: nothing on that facility
        json flags = json::array();
        for (const auto& [name, bit] : kSubscribeFlags)
          if (chance(0.6)) flags.push_back(name);
        allow[f] = flags;
      }
      payload["allow"] = allow;
      claim_allows = 0;
      if (allow.contains(p.facility))
        for (const auto& [name, bit] : kSubscribeFlags)
          for (const auto& granted : allow[p.facility])
            if (granted == name) claim_allows |= bit;
    }
    if (chance(0.03)) {
      p.expired = true;
      payload["exp"] = unix_now() - 3600;
    }
    std::string target = "/ws/" + p.facility + "?";
    for (const auto& [name, bit] : kSubscribeFlags)
      if (chance(0.5)) {
        p.requested |= bit;
        target += name + "&";
      }
    target += "publish-broadcast";
    p.requested |= kPublish;
    expect(p, claim_allows);

    const SigningKey& key = i % 3 == 0 ? keys.hs : (i % 3 == 1 ? keys.rs1 : keys.rs2);
    const json header = i % 3 == 0 ? json::object() : json{{"kid", i % 3 == 1 ? "k1" : "k2"}};
    auto client = std::make_unique<WsClient>();
    const auto result =
        client->connect(gateway.port(), target, bearer(make_jwt(key, payload, header)));
    ++statuses[result.status];
    INFO("connection " << i << " " << target << " " << payload.dump() << " -> " << result.status
                       << " " << result.body);
    REQUIRE(result.status == p.expected_status);
    if (result.status == 101) clients[static_cast<std::size_t>(i)] = std::move(client);
  }
  std::cout << "statuses:";
  for (const auto& [status, count] : statuses) std::cout << " " << status << "x" << count;
  std::cout << std::endl;

  // Every open connection gets the stored message of each of its channels,
  // and nothing else.
  std::size_t replayed = 0;
  for (int i = 0; i < kConnections; ++i) {
    auto& client = clients[static_cast<std::size_t>(i)];
    if (!client) continue;
    const Planned& p = plan[static_cast<std::size_t>(i)];
    std::set<std::string> got;
    while (got.size() < p.channels.size()) {
      auto m = client->read(10s);
      INFO("connection " << i << " waiting for its stored messages");
      REQUIRE(m);
      INFO("connection " << i << " got " << m->data);
      REQUIRE(m->data.rfind("stored:", 0) == 0);
      REQUIRE(p.channels.count(m->data.substr(7)) == 1);
      REQUIRE(got.insert(m->data).second);
      ++replayed;
    }
  }

  // Live: one message on every channel, then an end marker on every channel.
  // A session's messages keep the subscriber's order, so once one end marker
  // has arrived every live message for it has too.
  for (const auto& channel : channels) sync.publish(channel, "live:" + channel);
  for (const auto& channel : channels) sync.publish(channel, "end");
  std::size_t delivered = 0;
  std::size_t silent = 0;
  for (int i = 0; i < kConnections; ++i) {
    auto& client = clients[static_cast<std::size_t>(i)];
    if (!client) continue;
    const Planned& p = plan[static_cast<std::size_t>(i)];
    if (p.channels.empty()) {
      ++silent;
      continue;
    }
    std::set<std::string> got;
    for (;;) {
      auto m = client->read(10s);
      INFO("connection " << i << " waiting for live messages");
      REQUIRE(m);
      if (m->data == "end") break;
      INFO("connection " << i << " got " << m->data);
      REQUIRE(m->data.rfind("live:", 0) == 0);
      REQUIRE(p.channels.count(m->data.substr(5)) == 1);
      REQUIRE(got.insert(m->data).second);
    }
    INFO("connection " << i);
    CHECK(got.size() == p.channels.size());
    delivered += got.size();
  }
  // The connections with no channel at all: nothing may reach them either.
  for (int i = 0; i < kConnections && silent > 0; ++i) {
    auto& client = clients[static_cast<std::size_t>(i)];
    if (!client || !plan[static_cast<std::size_t>(i)].channels.empty()) continue;
    client->pump();
    INFO("connection " << i << " has no channel");
    CHECK(client->pending() == 0);
  }
  std::cout << "open: " << (kConnections - statuses[401] - statuses[403])
            << ", stored messages replayed: " << replayed << ", live delivered: " << delivered
            << ", open without channels: " << silent << std::endl;
  CHECK(delivered > 1000);
}
