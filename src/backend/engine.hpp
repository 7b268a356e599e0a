#pragma once
// Engine: the pub/sub backend behind the hub. `redis` is the real one,
// `memory` an in-process stand-in used when no Redis is configured.
//
// Threading: an engine lives on the control executor given to its factory.
// Every method is called on that executor, and every handler and callback is
// invoked on it, never inline from inside the call that caused it (always
// posted or from an I/O completion), so callers may hold no locks and may
// re-enter the engine from a callback.
// The redis engine's command connection runs on that executor; its
// subscriber connection reads on a thread of its own (SubscriberLink) and
// hands every reply to the executor, in the order read. The whole table:
// docs/architecture.md, "Threads".
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/runtime/net.hpp>
#include <wsrelay/wire/history.hpp>
#include <wsrelay/wire/resp.hpp>

namespace wsrelay {

struct Config;
class Metrics;

// Held by whatever still has to deliver a message (the hub's posts to the
// shards); when the last copy goes, the backend may take more (redis: the
// subscriber's hand-off bound). Empty for backends without such a bound.
using DeliveryHold = std::shared_ptr<const void>;

struct EngineHandlers {
  // A message arrived on a subscribed channel; `received` is when it was
  // read off the backend's socket (the delivery latency starts there).
  std::function<void(std::string_view channel, std::string_view payload, const DeliveryHold& hold,
                     std::chrono::steady_clock::time_point received)>
      on_message;
  // The backend confirmed the most recent subscribe of `channel`: from now on
  // every message published on it is delivered through on_message.
  std::function<void(const std::string& channel)> on_subscribed;
  // The subscriber link went up (true) or down (false). While down, no
  // channel is confirmed; after it comes back every subscribed channel is
  // re-subscribed and confirmed again through on_subscribed.
  std::function<void(bool up)> on_link;
  // ready() may have changed (either link went up or down).
  std::function<void(bool ready)> on_ready;
  // The backend refused to subscribe `channel` (Redis ACL: -NOPERM); `why`
  // is its error text. The channel stays unconfirmed until subscribed again.
  std::function<void(const std::string& channel, std::string_view why)> on_refused;
  // Messages on these channels (empty: on any channel) were received and
  // dropped because delivery fell behind (redis: redis.subscriber_backlog_bytes).
  // Called once it has caught up, after every message received before the
  // drops was passed to on_message.
  std::function<void(std::vector<std::string> channels)> on_gap;
  // A message on `channel` (or a stored one read for it) was larger than
  // redis.max_message_bytes and was dropped: `bytes` is its size (for a
  // stored one: more than the limit, by how much unknown).
  std::function<void(std::string_view channel, std::size_t bytes)> on_oversized;
  // These channels are no longer subscribed, the others still are (sharded
  // pub/sub: one shard's link dropped, or their slot moved to another
  // shard); each is confirmed again through on_subscribed.
  std::function<void(const std::vector<std::string>& channels)> on_unconfirmed;
};

// Why a client publish was not carried out.
struct PublishRefusal {
  enum class Kind {
    queue_full,  // the bounded queue in front of the backend was full (Redis down or behind)
    refused,     // the backend answered with an error (Redis ACL: -NOPERM)
  };
  Kind kind = Kind::queue_full;
  std::string error;  // the backend's error text, for `refused`
};
using PublishRefused = std::function<void(const PublishRefusal&)>;

// How a command of the command channel (Engine::command) ended.
struct CommandOutcome {
  enum class Kind {
    reply,        // Redis answered: `reply` (an error reply included)
    too_large,    // Redis answered with more than the bound: `bytes`, the reply dropped
    unavailable,  // not sent: the command connection is down (or no backend has keys)
    lost,         // sent, and the connection dropped before the answer: it may have run
  };
  Kind kind = Kind::unavailable;
  RespValue reply;
  std::size_t bytes = 0;
};
using CommandDone = std::function<void(CommandOutcome)>;

class Engine {
 public:
  virtual ~Engine() = default;

  virtual std::string_view name() const = 0;
  virtual void start(EngineHandlers handlers) = 0;
  // Stop every connection and timer; no handler is called afterwards.
  virtual void stop() = 0;
  // Both links up (for the redis engine: subscriber and command connection).
  virtual bool ready() const = 0;

  // Reference counting is the caller's (the hub's): these are called once per
  // change, with every change of one loop turn batched into one call.
  virtual void subscribe(const std::vector<std::string>& channels) = 0;
  virtual void unsubscribe(const std::vector<std::string>& channels) = 0;

  // PUBLISH channel payload, then (expire_seconds > 0) SET channel payload EX
  // expire_seconds, in that order. While the backend cannot take them
  // publishes wait in a bounded queue (redis_pending_max_*) and go out in
  // order once it can again (redis: the command connection is up and the
  // subscriber has re-subscribed every channel). `refused` (may be empty)
  // runs when the queue is full or the backend refuses the publish, and
  // the drop or refusal is counted and logged.
  virtual void publish(const std::string& channel, std::string_view payload, int expire_seconds,
                       PublishRefused refused) = 0;

  // publish() on a channel with history (docs/history.md): one script
  // appends the message to the channel's stream (XADD MAXLEN ~ entries,
  // the stream kept ttl_seconds after its last entry), stores it as the
  // last message (expire_seconds > 0) and PUBLISHes it marked with its
  // stream id, atomically, so stream order and live order agree. Queued,
  // bounded, re-sent and refused as publish() is.
  virtual void publish_history(const std::string& channel, std::string_view payload,
                               int expire_seconds, const HistoryRule& rule,
                               PublishRefused refused) = 0;

  // Reads the history of `channels` for a connection's replay in one
  // script (history_read_args): at most limit + 1 entries after `since`
  // per channel, or each one's last entry without it. The callback gets the
  // script's reply (decide_history_replay), or nullopt when the read
  // failed or the backend keeps no history.
  using HistoryCallback = std::function<void(std::optional<RespValue>)>;
  virtual void read_history(const std::vector<std::string>& channels, std::optional<StreamId> since,
                            std::size_t limit, HistoryCallback callback) = 0;

  // GET of each key (the stored last messages). The callback gets one entry
  // per key, nullopt where there is none, it is empty (ws4redis never sent
  // an empty one), it is over redis.max_message_bytes (reported through
  // on_oversized), or the command failed.
  using GetCallback = std::function<void(std::vector<std::optional<std::string>>)>;
  virtual void get(const std::vector<std::string>& keys, GetCallback callback) = 0;

  // One command of the command channel, `argv` as checked and confined by
  // the gateway (docs/command-channel.md), sent as it is. `done` runs once,
  // on the control executor: commands go out and are answered in the order
  // of the calls (with a Redis Cluster, in that order per master: the
  // caller puts answers back in order). Never queued while the backend is down (unavailable at
  // once) and never sent twice (a dropped connection gives lost). A reply
  // over `max_reply_bytes` (reply_bytes(), command_frames.hpp) is dropped
  // where it is read and given as too_large.
  virtual void command(std::vector<std::string> argv, std::size_t max_reply_bytes,
                       CommandDone done) = 0;

  // Calls `callback` once every message the backend had sent to the
  // subscriber before this call was made has been passed to on_message
  // (redis: a PING on the subscriber connection and its pong). Used to order
  // the last-message replay against live messages.
  virtual void barrier(std::function<void()> callback) = 0;

  // Calls `callback` once every publish accepted so far has been answered by
  // the backend (redis: its pending queue and in-flight writes are empty).
  // Used by the shutdown drain; never called while the backend is down.
  virtual void when_published(std::function<void()> callback) = 0;
};

// `config.redis` set: the redis engine; otherwise the memory engine.
std::unique_ptr<Engine> make_engine(const Config& config, net::any_io_executor control,
                                    Metrics& metrics);

}  // namespace wsrelay
