#include <wsrelay/backend/subscriber_link.hpp>

#include <atomic>
#include <thread>
#include <unordered_set>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/rate_limited_log.hpp>
#include <wsrelay/runtime/thread_check.hpp>
#include <wsrelay/wire/printable.hpp>
#include <wsrelay/wire/resp.hpp>
#include <wsrelay/wire/string_hash.hpp>

namespace wsrelay {
namespace {

// Channels remembered by name between a drop and its report. Past this many
// the report says "every channel" instead, so the set stays bounded.
constexpr std::size_t kMaxGapChannels = 65536;

}  // namespace

// Two sides share this object. The link side (connection_, batch_, gap_,
// link_epoch_) runs only on the link thread; the control side (handlers_,
// up_, epoch_) only on the control executor. backlog_ and gap_pending_ are
// the two atomics they share. Link-side handlers capture `this`: stop()
// joins the thread before the owner lets go of the object. Control-side
// handlers hold a shared_ptr, as they may run after the owner is gone.
class SubscriberLink::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(net::any_io_executor control, RedisConnectionOptions options, std::size_t limit,
       Metrics& metrics)
      : control_(std::move(control)),
        limit_(limit),
        metrics_(metrics),
        io_(1),
        work_(io_.get_executor()),
        connection_(std::make_unique<RedisConnection>(io_.get_executor(), std::move(options))) {}

  ~Impl() { stop(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // --- control side ---

  void start(Handlers handlers) {
    if (thread_.joinable() || stopped_) return;
    handlers_ = std::move(handlers);
    thread_ = std::thread([this] {
      name_this_thread("wsrelay-redis");
      io_.run();
    });
    net::post(io_, [this] {
      connection_->start([this](bool up) { on_state(up); },
                         [this](Push&& push) { on_push(std::move(push)); });
    });
  }

  void stop() {
    if (stopped_.exchange(true)) return;
    if (thread_.joinable()) {
      net::post(io_, [this] {
        connection_->stop();
        io_.stop();
      });
      thread_.join();
    }
    up_ = false;
  }

  bool up() const { return up_ && !stopped_; }
  HostPort node() const { return up() ? node_ : HostPort{}; }

  bool send(const std::vector<std::string_view>& args) {
    if (!up()) return false;
    net::post(io_,
              [this, epoch = epoch_, owned = std::vector<std::string>(args.begin(), args.end())] {
                if (epoch != link_epoch_ || !connection_->up()) return;
                connection_->send(std::vector<std::string_view>(owned.begin(), owned.end()));
              });
    return true;
  }

  void follow_master(const HostPort& address) {
    if (stopped_) return;
    net::post(io_, [this, address] { connection_->follow_master(address); });
  }

 private:
  // Returns a message's bytes to the backlog when its last holder lets go.
  // One per message, not per read: a shard still holding one small message
  // must not keep a whole read's bytes counted.
  struct Hold {
    Hold(std::shared_ptr<Impl> link, std::size_t bytes) : link(std::move(link)), bytes(bytes) {}
    ~Hold() { link->taken(bytes); }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    std::shared_ptr<Impl> link;
    std::size_t bytes;
  };

  // Posts run on the control executor in the order they are made, and the
  // engine relies on it: a barrier's pong is handed over after every
  // message read before it (docs/architecture.md, "Threads", ordering 3).
  template <typename F>
  void post_control(F f) {
    net::post(control_, [self = shared_from_this(), f = std::move(f)]() mutable {
      if (!self->stopped_) f(*self);
    });
  }

  // The last hold of a message is gone (on the control thread or a shard's):
  // when the backlog is down to half the limit and messages were dropped
  // meanwhile, the link side reports them. backlog_ and gap_pending_ are
  // sequentially consistent: flush() stores the flag and then loads the
  // backlog, this subtracts and then exchanges the flag, and at least one
  // of the two must see the other's write (no weaker order promises that).
  void taken(std::size_t bytes) {
    const std::size_t left = backlog_.fetch_sub(bytes) - bytes;
    metrics_.redis_subscriber_backlog_bytes.fetch_sub(static_cast<std::int64_t>(bytes),
                                                      std::memory_order_relaxed);
    if (left <= limit_ / 2 && gap_pending_.exchange(false)) net::post(io_, [this] { flush(); });
  }

  // --- link side ---

  void on_state(bool up) {
    WSRELAY_ASSERT_ON(io_.get_executor());
    if (up) ++link_epoch_;
    flush();  // what the old connection read goes first
    post_control([up, epoch = link_epoch_, node = connection_->node()](Impl& self) {
      self.up_ = up;
      self.node_ = node;
      self.epoch_ = epoch;
      if (self.handlers_.on_state) self.handlers_.on_state(up);
    });
  }

  void on_push(Push&& push) {
    WSRELAY_ASSERT_ON(io_.get_executor());
    // One post per read: this runs after the read handler that parsed the batch.
    // One clock read per read too: every reply it brought shares the time.
    if (!flush_posted_) {
      batch_received_ = std::chrono::steady_clock::now();
      flush_posted_ = true;
      net::post(io_, [this] {
        flush_posted_ = false;
        flush();
      });
    }
    push.received = batch_received_;
    std::shared_ptr<const Hold> hold;
    if (push.kind == Push::Kind::message) {
      const std::size_t bytes = push.channel.size() + push.payload.size();
      const std::size_t backlog = backlog_.load();
      // One message always passes an empty hand-off, however large.
      if (backlog > 0 && backlog + bytes > limit_) return drop(push.channel, backlog);
      backlog_.fetch_add(bytes);
      // Added and subtracted, never stored: stores from several threads could
      // land out of order and leave a stale figure behind.
      metrics_.redis_subscriber_backlog_bytes.fetch_add(static_cast<std::int64_t>(bytes),
                                                        std::memory_order_relaxed);
      hold = std::make_shared<const Hold>(shared_from_this(), bytes);
    }
    batch_.push_back(Item{std::move(push), std::move(hold)});
  }

  void drop(std::string_view channel, std::size_t backlog) {
    metrics_.redis_messages_dropped.fetch_add(1, std::memory_order_relaxed);
    if (gap_.size() < kMaxGapChannels) {
      gap_.emplace(channel);
    } else if (!gap_.contains(channel)) {
      gap_every_channel_ = true;
    }
    std::uint64_t suppressed = 0;
    if (drop_log_.should_log(suppressed)) {
      spdlog::warn(
          "redis subscriber: message on {} dropped: {} bytes read from Redis are not yet "
          "delivered (redis.subscriber_backlog_bytes = {}); {} other(s) dropped since the "
          "previous line. Its stored last message is re-sent once delivery catches up.",
          printable(channel), backlog, limit_, suppressed);
    }
  }

  void flush() {
    WSRELAY_ASSERT_ON(io_.get_executor());
    if (!batch_.empty()) {
      post_control([batch = std::exchange(batch_, {})](Impl& self) {
        for (const Item& item : batch) {
          if (self.stopped_) return;
          if (self.handlers_.on_push) self.handlers_.on_push(item.push, item.hold);
        }
      });
    }
    // After the batch, never before it: a message older than the dropped
    // ones must not reach the hub after the gap, or the hub would take it
    // for a newer one and skip the re-send.
    if (gap_.empty() && !gap_every_channel_) return;
    if (backlog_.load() > limit_ / 2) {
      gap_pending_ = true;  // taken() calls flush() again once delivery catches up
      // ...unless it crossed half between the load and the store: then
      // whoever clears the flag reports.
      if (backlog_.load() > limit_ / 2 || !gap_pending_.exchange(false)) return;
    }
    std::vector<std::string> channels;
    if (!gap_every_channel_) channels.assign(gap_.begin(), gap_.end());
    spdlog::info("redis subscriber: delivery caught up; re-checking the last message of {}",
                 gap_every_channel_ ? std::string("every channel")
                                    : std::to_string(channels.size()) + " channel(s)");
    gap_.clear();
    gap_every_channel_ = false;
    post_control([channels = std::move(channels)](Impl& self) mutable {
      if (self.handlers_.on_gap) self.handlers_.on_gap(std::move(channels));
    });
  }

  net::any_io_executor control_;
  const std::size_t limit_;
  Metrics& metrics_;
  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::unique_ptr<RedisConnection> connection_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  std::atomic<std::size_t> backlog_{0};
  std::atomic<bool> gap_pending_{false};

  // control side
  Handlers handlers_;
  bool up_ = false;
  HostPort node_;
  std::uint64_t epoch_ = 0;

  // link side
  std::uint64_t link_epoch_ = 0;
  struct Item {
    Push push;
    std::shared_ptr<const Hold> hold;  // messages only
  };
  std::vector<Item> batch_;
  bool flush_posted_ = false;
  std::chrono::steady_clock::time_point batch_received_{};
  std::unordered_set<std::string, StringHash, std::equal_to<>> gap_;
  bool gap_every_channel_ = false;
  RateLimitedLog drop_log_;
};

SubscriberLink::SubscriberLink(net::any_io_executor control, RedisConnectionOptions options,
                               std::size_t backlog_limit, Metrics& metrics)
    : impl_(
          std::make_shared<Impl>(std::move(control), std::move(options), backlog_limit, metrics)) {}

SubscriberLink::~SubscriberLink() {
  impl_->stop();
}

void SubscriberLink::start(Handlers handlers) {
  impl_->start(std::move(handlers));
}
void SubscriberLink::stop() {
  impl_->stop();
}
bool SubscriberLink::up() const {
  return impl_->up();
}
HostPort SubscriberLink::node() const {
  return impl_->node();
}
bool SubscriberLink::send(const std::vector<std::string_view>& args) {
  return impl_->send(args);
}
void SubscriberLink::follow_master(const HostPort& address) {
  impl_->follow_master(address);
}

}  // namespace wsrelay
