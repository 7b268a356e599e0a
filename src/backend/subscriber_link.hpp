#pragma once
// SubscriberLink: the Redis subscriber connection on a thread of its own.
//
// Why: Redis disconnects a pub/sub client whose output buffer passes
// client-output-buffer-limit, and everything that buffer holds is lost. So
// reading the subscriber socket must never wait for anything else the
// gateway does: not for sessions, not for the hub's fan-out, not for a
// burst of subscribes. This thread only reads, parses RESP, and hands whole
// replies to the control executor in batches, one post per read.
//
// The hand-off is bounded: `backlog_limit` bytes of message payloads read
// and not yet delivered, that is, whose hold (see Handlers) someone still
// has: the control thread, or a shard's queue. Past it, messages are dropped
// here, counted (wsrelay_redis_messages_dropped_total) and logged, and
// once the backlog is down to half the limit the channels that lost
// messages are reported through on_gap, in order with the messages around
// them, so their stored last message can be re-sent. Replies that are not
// messages (subscribe acks, pongs, errors) are never dropped. A link that
// falls this far behind loses messages either way; dropping them here loses
// only those, where a disconnect by Redis would lose every channel's
// messages until the reconnect.
//
// Threading: construct, start(), stop(), up() and send() on the control
// executor; every handler runs there. The destructor stops and joins.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/backend/redis_connection.hpp>
#include <wsrelay/runtime/net.hpp>

namespace wsrelay {

class Metrics;

class SubscriberLink {
 public:
  struct Handlers {
    std::function<void(bool up)> on_state;
    // `hold` (messages only) stays with the message until it is delivered;
    // when its last copy is gone, the message's bytes leave the backlog.
    std::function<void(const Push& push, const std::shared_ptr<const void>& hold)> on_push;
    std::function<void(std::vector<std::string> channels)> on_gap;
  };

  SubscriberLink(net::any_io_executor control, RedisConnectionOptions options,
                 std::size_t backlog_limit, Metrics& metrics);
  ~SubscriberLink();
  SubscriberLink(const SubscriberLink&) = delete;
  SubscriberLink& operator=(const SubscriberLink&) = delete;

  void start(Handlers handlers);
  // No handler runs after this returns.
  void stop();
  // As last reported to the control executor through on_state.
  bool up() const;
  // RedisConnection::node() as of that report.
  HostPort node() const;
  // Sends one command on the connection that on_state last reported up;
  // false when it is not up. A command that reaches the thread after that
  // connection failed is dropped: on_state(true) follows, and the caller
  // then sends what the new connection needs.
  bool send(const std::vector<std::string_view>& args);
  // RedisConnection::follow_master, on the link thread.
  void follow_master(const HostPort& address);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace wsrelay
