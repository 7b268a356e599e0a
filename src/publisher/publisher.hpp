#pragma once
// Publishing from an application: the audience model of ws4redis's
// RedisPublisher(facility=..., broadcast=True, users=[...], groups=[...],
// sessions=[...]) on the channel names the gateway subscribes
// (channel_name(), docs/protocol.md §3).
//
// Two parts. The pure one (PublishTarget, check_target, target_channels,
// publish_commands) turns a target and a message into the argv of each
// Redis command, and is tested by feeding values. The I/O one, Publisher,
// sends them over a BlockingRedis connection: for a command-line tool, a
// worker or a test, never for a shard thread (it blocks).
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/config/config.hpp>
#include <wsrelay/publisher/blocking_redis.hpp>
#include <wsrelay/wire/history.hpp>
#include <wsrelay/wire/protocol.hpp>

namespace wsrelay {

// Who gets a message: one facility, and any mix of audiences on it.
struct PublishTarget {
  std::string facility;
  bool broadcast = false;
  std::vector<std::string> users;
  std::vector<std::string> groups;
  std::vector<std::string> sessions;
};

// The longest user, group or session name taken (a Django username is at
// most 150 characters, a session key 32-40).
inline constexpr std::size_t max_audience_name_bytes = 1024;

// "" when `target` can be published to, else why not, in one line: the
// facility follows the gateway's rule (valid_facility), at least one
// audience is named, and every name is 1 to max_audience_name_bytes bytes.
std::string check_target(const PublishTarget& target);

// The channels of `target`, deduplicated, in the order broadcast, users,
// groups, sessions (as channels_for() orders a connection's).
std::vector<std::string> target_channels(const PublishTarget& target, std::string_view prefix);

// The commands that publish `message` on `channels` and (expire_seconds > 0)
// store it as each channel's last message:
//   expire_seconds == 0: PUBLISH c1 m, PUBLISH c2 m, ...
//   expire_seconds > 0:  MULTI, PUBLISH c1 m, SET c1 m EX e, PUBLISH c2 m, ..., EXEC
// Why MULTI only with a store: a gateway opening a connection subscribes,
// then GETs the stored message. Were PUBLISH and SET two separate commands,
// a connection whose subscription became live between them would miss the
// PUBLISH and read the old stored value: the new message lost for it. In a
// transaction no command of another client runs between the two, so the
// connection either gets the message live or reads it stored (the gateway
// drops the duplicate of one it got both ways). PUBLISHes alone have no such
// pair, and each channel is independent of the others.
// `sharded` (redis.sharded): SPUBLISH instead of PUBLISH, for one channel
// at a time (a cluster keeps a transaction to one slot).
std::vector<std::vector<std::string>> publish_commands(const std::vector<std::string>& channels,
                                                       std::string_view message, int expire_seconds,
                                                       bool sharded = false);

// The publisher of an application. Connects on first use (and again after a
// failure); every method throws RedisError when Redis cannot be reached, does
// not answer within the timeout, or answers with an error.
class Publisher {
 public:
  Publisher(RedisEndpoint endpoint, std::string prefix,
            std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Publishes `message` to `target` (throws std::invalid_argument when
  // check_target refuses it) and, with expire_seconds > 0, stores it for that
  // long as each channel's last message, replayed to connections that open
  // later. Returns how many Redis subscribers received it, summed over the
  // channels (one gateway counts once per channel).
  long long publish(const PublishTarget& target, std::string_view message, int expire_seconds);
  // The same on a facility with history (docs/history.md): each channel's
  // message is appended to its stream and published with its position, in
  // one script per channel (EVALSHA, EVAL when Redis does not have it).
  // `history` must be the gateway's rule for the facility
  // (history.facilities): its entries and TTL.
  long long publish(const PublishTarget& target, std::string_view message, int expire_seconds,
                    const HistoryRule& history);

  // The stored last message of one channel; `name` is the user, group or
  // session name (ignored for broadcast). nullopt when none is stored.
  std::optional<std::string> fetch_message(std::string_view facility, Audience audience,
                                           std::string_view name = {});

  const std::string& prefix() const { return prefix_; }
  // The gateway's redis.sharded: publish with SPUBLISH, each channel on its
  // shard. Throws std::invalid_argument without a redis+cluster:// endpoint.
  void set_sharded(bool sharded);

 private:
  // The receivers counted in the replies of publish_commands (in a
  // transaction: EXEC's array); throws RedisError on an error in them.
  static long long receivers_of(const std::vector<RespValue>& replies, bool transaction);

  BlockingRedis redis_;
  std::string prefix_;
  bool sharded_ = false;
};

}  // namespace wsrelay
