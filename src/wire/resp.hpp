#pragma once
// RESP2, the Redis wire protocol, without any I/O: a streaming reply parser
// (hiredis's redisReader, hidden behind a pimpl), the command formatter
// (hiredis's redisFormatCommandArgv) and the classification of what arrives
// on a subscriber connection. The socket side lives in redis_connection.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wsrelay {

// One complete Redis reply, owned by value.
struct RespValue {
  enum class Type { string, status, error, integer, nil, array };
  Type type = Type::nil;
  std::string str;  // string, status and error replies
  long long integer = 0;
  std::vector<RespValue> elements;  // array replies

  bool is_error() const { return type == Type::error; }
  bool is_nil() const { return type == Type::nil; }
  friend bool operator==(const RespValue&, const RespValue&) = default;
};

// Feeds bytes as they come off a socket, in pieces of any size, and pulls the
// replies they complete, in order. A protocol error (a bad type byte, nesting
// deeper than hiredis supports, an array larger than kMaxArrayElements) puts
// the reader in a permanent error state: the connection must be dropped,
// because the stream can no longer be framed.
class RespReader {
 public:
  // A sanity limit on one array reply: our own commands never ask for more
  // (MGET of one session's channels, subscribe acks of three elements), and
  // it bounds what a confused peer can make us allocate from a few bytes.
  static constexpr long long kMaxArrayElements = 1 << 20;

  RespReader();
  ~RespReader();
  RespReader(RespReader&&) noexcept;
  RespReader& operator=(RespReader&&) noexcept;

  // Appends bytes. False when the reader is (or already was) in error.
  bool feed(std::string_view bytes);
  // The next complete reply, or nullopt when more bytes are needed or the
  // reader is in error (tell them apart with failed()).
  std::optional<RespValue> next();

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string error_;
};

// The RESP encoding of one command; binary-safe (arguments may hold NULs).
std::string format_command(const std::vector<std::string_view>& args);

// What a reply on a subscriber connection means, classified once where it
// is read (RedisConnection in subscriber mode) and handed on as it is.
// Owns its strings: they are moved out of the reply, not copied.
struct Push {
  enum class Kind {
    message,       // ["message", channel, payload]
    oversized,     // ["message", channel, size]: its payload was over the limit and
                   // skipped unread (RespSizeGate); count = the payload's size
    subscribed,    // ["subscribe", channel, count]
    unsubscribed,  // ["unsubscribe", channel or nil, count]
    // A pattern's replies ("pmessage", "psubscribe", "punsubscribe") are
    // the same kinds, with `channel` the pattern's subscription key
    // (pattern_key(), routes.hpp): the gateway's sessions subscribe to the
    // pattern, not to the channel that matched it. Sharded pub/sub's
    // ("smessage", "ssubscribe", "sunsubscribe") are the same kinds too.
    pong,   // +PONG, or ["pong", payload] while subscribed; payload = PING's argument
    error,  // -ERR ...; payload = the message
    other,
  };
  Kind kind = Kind::other;
  std::string channel;
  std::string payload;  // message payload, pong payload, error text
  long long count = 0;  // subscriptions left after a (un)subscribe ack
  // Set by the reader (SubscriberLink): when the read that brought it ended.
  std::chrono::steady_clock::time_point received{};
};

Push classify_push(RespValue value);

}  // namespace wsrelay
