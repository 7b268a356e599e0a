#pragma once
// Helpers of the Redis Cluster gateway tests (support/cluster_set.hpp):
// facilities placed on a chosen master, SPUBLISH on a node, a client on
// every shard.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "support/cluster_set.hpp"

namespace wsrelay::test {

// A facility whose broadcast channel's slot is owned by `master` (by its
// plain port), or, with `other_than`, by any master but that one.
inline std::string facility_on(const ClusterSet& set, std::uint16_t master,
                               bool other_than = false) {
  for (int i = 0;; ++i) {
    const std::string facility = "f" + std::to_string(i);
    const bool owned = set.owner_port("broadcast:" + facility) == master;
    if (owned != other_than) return facility;
  }
}

// SPUBLISH on the node at `port`; REQUIREs no error and returns how many
// subscribers it reached.
inline long long spublish(std::uint16_t port, const std::string& channel,
                          const std::string& payload) {
  RedisSync node(port);
  const auto reply = node.command({"SPUBLISH", channel, payload});
  INFO(reply.str);
  REQUIRE_FALSE(reply.is_error());
  return reply.integer;
}

// A client on a facility of each master, to subscribe, publish and hear its
// own messages: opened, then proved subscribed on its shard at once (open
// means subscribed): an SPUBLISH of "first-<facility>" on each master right
// after the opens reaches it.
struct ShardClients {
  std::map<std::uint16_t, std::string> facility;
  std::map<std::uint16_t, std::unique_ptr<WsClient>> client;
};

inline ShardClients open_on_every_master(const Gateway& gateway, const ClusterSet& set,
                                         const std::vector<std::uint16_t>& masters) {
  ShardClients out;
  for (const auto master : masters) {
    out.facility[master] = facility_on(set, master);
    out.client[master] = open_ws(
        gateway, "/ws/" + out.facility[master] + "?subscribe-broadcast&publish-broadcast&echo");
  }
  for (const auto master : masters)
    CHECK(spublish(master, "broadcast:" + out.facility[master], "first-" + out.facility[master]) ==
          1);
  for (const auto master : masters) {
    auto m = out.client[master]->read(5s);
    REQUIRE(m);
    CHECK(m->data == "first-" + out.facility[master]);
  }
  return out;
}

// Each client publishes "mine-<facility>", hears it back (echo), and it is
// stored on the master of its key's slot.
inline void publish_on_every_master(ShardClients& clients,
                                    const std::vector<std::uint16_t>& masters) {
  for (const auto master : masters) {
    const std::string& facility = clients.facility.at(master);
    REQUIRE(clients.client.at(master)->send_text("mine-" + facility));
    auto m = clients.client.at(master)->read(5s);
    REQUIRE(m);
    CHECK(m->data == "mine-" + facility);
    RedisSync owner(master);
    CHECK(wait_stored(owner, "broadcast:" + facility, "mine-" + facility));
  }
}

}  // namespace wsrelay::test
