#include <wsrelay/gateway/shard.hpp>

#include <algorithm>
#include <random>

#include <spdlog/spdlog.h>

#include <wsrelay/config/config.hpp>
#include <wsrelay/gateway/command_session.hpp>
#include <wsrelay/gateway/http_session.hpp>
#include <wsrelay/gateway/hub.hpp>
#include <wsrelay/gateway/ws_session.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/thread_check.hpp>

namespace wsrelay {

namespace {
// Drops by a slow-consumer policy are routine for the feeds that choose one:
// one summary line per shard per period, not one per message.
constexpr std::chrono::seconds drop_log_period{10};
}  // namespace

Shard::Shard(std::size_t index, net::io_context& context, std::shared_ptr<const Config> config,
             Metrics& metrics, Hub& hub, Authorizer& authorizer, Admission& admission)
    : shard_index_(index),
      config_(std::move(config)),
      metrics_(metrics),
      hub_(hub),
      authorizer_(authorizer),
      admission_(admission),
      context_(context),
      read_buffer_(new char[read_buffer_size]) {}

Shard::~Shard() = default;

void Shard::start() {
  now_ = clock::now();
  tick();
}

void Shard::accept(tcp::socket socket, Admission::Ticket handshake, Admission::Ticket address,
                   Listener listener) {
  WSRELAY_ASSERT_ON(context_.get_executor());
  if (shutting_down_) return;
  error_code ignored;
  // Without TCP_NODELAY a small frame can wait for the peer's delayed ACK.
  socket.set_option(tcp::no_delay(true), ignored);
  // A fixed kernel buffer bounds what a client that does not read holds in
  // the kernel too (autotuning grows it to megabytes per socket).
  if (config_->send_buffer_bytes > 0)
    socket.set_option(
        net::socket_base::send_buffer_size(static_cast<int>(config_->send_buffer_bytes)), ignored);
  // Session ids are unique across shards: the shard index in the top bits.
  std::uint64_t id = (static_cast<std::uint64_t>(shard_index_) << 48) | next_session_id_++;
  auto session = std::make_shared<HttpSession>(*this, std::move(socket), id, std::move(handshake),
                                               std::move(address), listener);
  handshakes_.emplace(session.get(), session);
  count_sessions();
  session->start();
}

void Shard::upgrade(HttpSession* from, tcp::socket socket, WsUpgrade upgrade) {
  WSRELAY_ASSERT_ON(context_.get_executor());
  auto it = handshakes_.find(from);
  if (it == handshakes_.end()) return;
  std::shared_ptr<WsSession> session;
  if (upgrade.command_channel) {
    std::string prefix = std::move(upgrade.key_prefix);
    session = std::make_shared<CommandSession>(*this, std::move(socket), std::move(upgrade),
                                               std::move(prefix));
  } else {
    session = std::make_shared<WsSession>(*this, std::move(socket), std::move(upgrade));
  }
  sessions_.emplace(session.get(), session);
  // Posted, so that the list is never changed while it is walked (tick).
  net::post(context_, [this, handshake = it->second] { remove(handshake.get()); });
  session->start();
}

void Shard::remove(HttpSession* handshake) {
  handshakes_.erase(handshake);
  count_sessions();
}

void Shard::count_sessions() {
  const std::size_t count = handshakes_.size() + sessions_.size();
  session_count_.store(count, std::memory_order_relaxed);
  if (count == 0 && drained_) std::exchange(drained_, nullptr)();
}

// Why spread: every client closed with 1001 reconnects, and a deploy that
// closes them all in one instant sends them all to the next instance in one
// wave. The sessions are shuffled and the k-th of n closes at a random point
// of the k-th of n equal slots of the window: the closes are as even as a
// clock, and no client can tell in advance when its turn comes.
void Shard::shutdown(std::chrono::milliseconds drain, std::function<void()> drained) {
  WSRELAY_ASSERT_ON(context_.get_executor());
  shutting_down_ = true;
  drained_ = std::move(drained);
  // Sessions leave through posted removals (never inline), so the count
  // cannot reach zero inside the loops below; this covers a shard with no
  // connection at all.
  count_sessions();
  // Handshakes are no WebSocket yet: nothing to spread.
  for (auto& [raw, handshake] : handshakes_) handshake->go_away();
  if (drain.count() <= 0 || sessions_.empty()) {
    for (auto& [raw, session] : sessions_) session->go_away();
    return;
  }
  std::vector<std::weak_ptr<WsSession>> order;
  order.reserve(sessions_.size());
  for (auto& [raw, session] : sessions_) order.push_back(session);
  std::minstd_rand rng(std::random_device{}());
  std::shuffle(order.begin(), order.end(), rng);
  std::uniform_real_distribution<double> within_slot(0.0, 1.0);
  const auto start = clock::now();
  const double slot = std::chrono::duration<double>(drain).count() / order.size();
  drain_schedule_.reserve(order.size());
  for (std::size_t k = 0; k < order.size(); ++k) {
    const auto offset = std::chrono::duration<double>(slot * (k + within_slot(rng)));
    drain_schedule_.emplace_back(start + std::chrono::duration_cast<clock::duration>(offset),
                                 std::move(order[k]));
  }
  drain_due();
}

void Shard::drain_due() {
  const auto now = clock::now();
  for (; drain_next_ < drain_schedule_.size() && drain_schedule_[drain_next_].first <= now;
       ++drain_next_) {
    if (auto session = drain_schedule_[drain_next_].second.lock()) session->go_away();
  }
  if (drain_next_ == drain_schedule_.size()) return;
  drain_timer_.expires_at(drain_schedule_[drain_next_].first);
  drain_timer_.async_wait([this](error_code ec) {
    if (!ec) drain_due();
  });
}

void Shard::subscribe(WsSession* session, const std::vector<std::string>& channels) {
  WSRELAY_ASSERT_ON(context_.get_executor());
  std::vector<std::string> added;
  auto& slots = session->index_slots();
  slots.resize(channels.size());
  for (std::size_t i = 0; i < channels.size(); ++i) {
    auto& list = index_[channels[i]];
    if (list.empty()) added.push_back(channels[i]);
    slots[i] = static_cast<std::uint32_t>(list.size());
    list.push_back(session);
  }
  if (!added.empty()) hub_.shard_subscribed(shard_index_, std::move(added));
}

void Shard::remove(WsSession* session) {
  // O(1) per channel: the last session of the list takes the leaving one's
  // slot (order within a channel does not matter for fan-out). A linear
  // erase made a mass disconnect of N sessions on one channel O(N^2).
  std::vector<std::string> removed;
  const auto& channels = session->subscribed();
  const auto& slots = session->index_slots();
  for (std::size_t i = 0; i < channels.size() && i < slots.size(); ++i) {
    if (slots[i] == no_slot) continue;
    auto it = index_.find(channels[i]);
    if (it == index_.end()) continue;
    auto& list = it->second;
    std::uint32_t slot = slots[i];
    WsSession* last = list.back();
    if (last != session) {
      list[slot] = last;
      const auto& last_channels = last->subscribed();
      for (std::size_t k = 0; k < last_channels.size(); ++k)
        if (last_channels[k] == channels[i]) last->index_slots()[k] = slot;
    }
    list.pop_back();
    if (list.empty()) {
      removed.push_back(channels[i]);
      index_.erase(it);
    }
  }
  if (!removed.empty()) hub_.shard_unsubscribed(shard_index_, std::move(removed));
  sessions_.erase(session);
  count_sessions();
}

void Shard::refuse(const std::string& channel, const std::string& reason) {
  WSRELAY_ASSERT_ON(context_.get_executor());
  auto it = index_.find(channel);
  if (it == index_.end()) return;
  auto sessions = std::move(it->second);
  index_.erase(it);
  for (WsSession* session : sessions) {
    // Its slot for this channel no longer points into any list (remove()
    // skips it): a later session on the channel starts a new list.
    const auto& channels = session->subscribed();
    for (std::size_t k = 0; k < channels.size(); ++k)
      if (channels[k] == channel) session->index_slots()[k] = no_slot;
    session->close_refused(reason);
  }
}

void Shard::interrupt_history(const std::vector<std::string>& channels) {
  WSRELAY_ASSERT_ON(context_.get_executor());
  for (auto& [raw, session] : sessions_) session->interrupt_history(channels);
}

void Shard::deliver(const MessagePtr& message) {
  WSRELAY_ASSERT_ON(context_.get_executor());
  auto it = index_.find(std::string_view(message->channel()));
  if (it == index_.end()) return;
  std::uint64_t delivered = 0;
  for (WsSession* session : it->second) delivered += session->enqueue(message) ? 1 : 0;
  // One shared-counter update per message and shard, not per recipient.
  if (delivered > 0) metrics_.messages_delivered.fetch_add(delivered, std::memory_order_relaxed);
}

void Shard::set_config(std::shared_ptr<const Config> config) {
  WSRELAY_ASSERT_ON(context_.get_executor());
  config_ = std::move(config);
  for (auto& [raw, session] : sessions_) session->settings_changed();
}

void Shard::count_dropped(std::uint64_t session_id, std::size_t messages) {
  metrics_.messages_dropped_slow_consumer.fetch_add(messages, std::memory_order_relaxed);
  dropped_unlogged_ += messages;
  last_dropping_session_ = session_id;
}

void Shard::schedule_flush(WsSession* session) {
  dirty_.push_back(session->shared_from_this());
  if (flush_posted_) return;
  flush_posted_ = true;
  net::post(context_, [this] { flush_all(); });
}

// The delivery latency ends at the write: the clock is read once per 32
// sessions written, not per session, so the time it records is early by at
// most the time of those writes (a few microseconds each).
void Shard::flush_all() {
  flush_posted_ = false;
  flushing_.swap(dirty_);
  constexpr std::size_t sessions_per_clock_read = 32;
  auto now = clock::now();
  std::size_t written = 0;
  for (auto& session : flushing_) {
    if (++written == sessions_per_clock_read) {
      written = 0;
      now = clock::now();
    }
    session->flush(now);
  }
  flushing_.clear();
}

void Shard::tick() {
  now_ = clock::now();
  for (auto& [raw, handshake] : handshakes_) handshake->tick(now_);
  for (auto& [raw, session] : sessions_) session->tick(now_);
  if (dropped_unlogged_ > 0 && now_ - last_drop_log_ >= drop_log_period) {
    spdlog::warn(
        "slow consumers: {} queued messages dropped by drop-oldest/keep-latest policies on shard "
        "{} (latest: session {})",
        dropped_unlogged_, shard_index_, last_dropping_session_);
    dropped_unlogged_ = 0;
    last_drop_log_ = now_;
  }
  tick_timer_.expires_after(tick_period);
  tick_timer_.async_wait([this](error_code ec) {
    if (!ec) tick();
  });
}

}  // namespace wsrelay
