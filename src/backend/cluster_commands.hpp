#pragma once
// ClusterCommands: the command side of a redis+cluster:// engine. One
// RedisConnection per master, a slot map (wire/cluster.hpp) read with
// CLUSTER SLOTS, and every command sent to the master that owns its key's
// slot, on the executor it is created with (every method is called there,
// every callback runs there).
//
// - Discovery: a connection to the seeds of the URL, one at a time (the
//   next after each failure), asks CLUSTER SLOTS at start; later asks go to
//   any master that is up. The map is read again after a -MOVED, after a
//   master's connection dropped, and every refresh_interval until it is
//   complete with every master up.
// - Redirects: -MOVED points the slot at the new owner (and asks for the
//   whole map again); -ASK sends that one command to the target behind
//   ASKING. -TRYAGAIN and -CLUSTERDOWN send it again after a short pause.
//   Either way the command is sent again by this class, not failed: a
//   client publish is not refused, nor its PUBLISH repeated, because a slot
//   moved.
// - Order: after a redirect, settled() is false until every command sent
//   before it has been answered, so the engine's queue (PublishQueue)
//   holds everything after it: two SETs of one key land in the order they
//   were made, even across a migration.
// - up(): a complete map and a connection up to each master in it (the
//   engine's readiness); settled(): up, and no redirect being drained (the
//   engine's gate). on_state is called when either changes.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include <wsrelay/backend/redis_connection.hpp>
#include <wsrelay/runtime/net.hpp>
#include <wsrelay/wire/cluster.hpp>

namespace wsrelay {

class Metrics;

class ClusterCommands {
 public:
  using ReplyCallback = RedisConnection::ReplyCallback;

  // `options.endpoint` must be a cluster endpoint (RedisEndpoint::is_cluster).
  ClusterCommands(net::any_io_executor executor, RedisConnectionOptions options, Metrics& metrics);
  ~ClusterCommands();
  ClusterCommands(const ClusterCommands&) = delete;
  ClusterCommands& operator=(const ClusterCommands&) = delete;

  // `on_map` (optional) gets every slot map read, changed or not
  // (sharded pub/sub places its channels by it).
  void start(std::function<void()> on_state, std::function<void(const SlotMap&)> on_map = {});
  // Closes every connection; no callback runs afterwards.
  void stop();
  bool up() const;
  bool settled() const;
  // Reads the slot map again (one read at a time; a request made meanwhile
  // reads it again after).
  void refresh();

  // Sends `args` to the owner of `key`'s slot (empty key: as send_unkeyed),
  // while up() (when that master's connection is not up yet, the command
  // waits for it, as after -TRYAGAIN); false (and `callback` dropped)
  // otherwise. The reply is the one
  // that ended its redirects; nullptr when a connection dropped first.
  // `ordered` (the engine's publish queue): once one such command is
  // redirected, settled() is false until every one sent before has been
  // answered, so none overtakes another. Without (the command channel,
  // each answer matched to its request), a redirect holds nothing up.
  bool send(std::string_view key, const std::vector<std::string_view>& args, ReplyCallback callback,
            bool ordered = true);

  // PUBLISH (or another command without a key), never redirected (Redis
  // does not redirect a command without a key), on one connection for all,
  // kept while it stays up: two PUBLISHes made on two nodes may reach a
  // third in either order (each goes its own way on the cluster bus), so
  // the gateway's messages all leave from one node, in one order.
  bool send_unkeyed(const std::vector<std::string_view>& args, ReplyCallback callback);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace wsrelay
