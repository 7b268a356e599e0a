// ClusterCommands (cluster_commands.hpp): a connection per master, the slot
// map, and commands routed by slot, following -MOVED, -ASK, -TRYAGAIN and
// -CLUSTERDOWN.
#include <wsrelay/backend/cluster_commands.hpp>
#include <wsrelay/backend/cluster_router.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/rate_limited_log.hpp>
#include <wsrelay/runtime/thread_check.hpp>
#include <wsrelay/wire/cluster.hpp>

namespace wsrelay {
namespace {

// Why these values: a failover takes the cluster's node timeout and a
// little more (seconds), a migration step a few milliseconds; asking the
// map twice a second while something is missing finds either soon without
// loading the nodes. A command that keeps meeting -TRYAGAIN or
// -CLUSTERDOWN is retried every 100 ms and given up after 10 s as lost (a
// publish then goes out again from the engine's queue: at least once).
constexpr std::chrono::milliseconds refresh_interval{500};
constexpr std::chrono::milliseconds retry_interval{100};

}  // namespace

class ClusterCommands::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(net::any_io_executor executor, RedisConnectionOptions options, Metrics& metrics)
      : executor_(std::move(executor)),
        options_(std::move(options)),
        metrics_(metrics),
        refresh_timer_(executor_),
        retry_timer_(executor_) {}

  void start(std::function<void()> on_state, std::function<void(const SlotMap&)> on_map);
  void stop();
  void refresh();
  bool up() const { return up_; }
  bool settled() const { return up_ && !router_.draining(); }
  bool send(std::string_view key, const std::vector<std::string_view>& args, ReplyCallback callback,
            bool ordered);
  bool send_unkeyed(const std::vector<std::string_view>& args, ReplyCallback callback);

 private:
  struct Node {
    HostPort address;
    std::unique_ptr<RedisConnection> link;
    bool ever_up = false;
  };
  // A command with a key, kept until its final reply so it can be sent
  // again elsewhere.
  struct Command {
    std::vector<std::string> args;
    ReplyCallback callback;
    ClusterRouter::Flight flight;
  };
  using CommandPtr = std::shared_ptr<Command>;

  Node& node(const HostPort& address);
  // The connection to `slot`'s master (-1: the first master that is up).
  RedisConnection* owner(int slot);
  void issue(const CommandPtr& command, RedisConnection& link, bool asking);
  void on_reply(const CommandPtr& command, const RespValue* reply);
  // Carries out the router's step for `command` (`reply`: what finishes it).
  void take(const CommandPtr& command, const ClusterRouter::Step& step, const RespValue* reply);
  void finish(const CommandPtr& command, const RespValue* reply);
  // After the router's drain began or ended.
  void drain_changed(bool was_draining);
  void retry_later(const CommandPtr& command);
  void on_retry_tick();
  void apply(SlotMap map);
  void update();
  void arm_refresh();
  void sync_masters();

  net::any_io_executor executor_;
  RedisConnectionOptions options_;
  Metrics& metrics_;
  std::unique_ptr<RedisConnection> seeds_;
  std::vector<std::unique_ptr<Node>> nodes_;
  ClusterRouter router_;
  std::vector<Node*> masters_;  // the map's masters[i]'s node (sync_masters)
  Node* unkeyed_ = nullptr;     // where commands without a key go, while it is up
  std::vector<CommandPtr> retries_;
  net::steady_timer refresh_timer_;
  net::steady_timer retry_timer_;
  bool refresh_armed_ = false;
  bool retry_armed_ = false;
  bool refreshing_ = false;
  bool refresh_again_ = false;
  bool up_ = false;
  bool stopped_ = false;
  std::function<void()> on_state_;
  std::function<void(const SlotMap&)> on_map_;
  RateLimitedLog refresh_log_;
};

void ClusterCommands::Impl::start(std::function<void()> on_state,
                                  std::function<void(const SlotMap&)> on_map) {
  on_state_ = std::move(on_state);
  on_map_ = std::move(on_map);
  auto options = options_;
  options.name = "cluster";
  seeds_ = std::make_unique<RedisConnection>(executor_, std::move(options));
  seeds_->start([weak = weak_from_this()](bool up) {
    auto self = weak.lock();
    if (self && !self->stopped_ && up) self->refresh();
  });
}

void ClusterCommands::Impl::stop() {
  if (stopped_) return;
  stopped_ = true;
  up_ = false;
  if (seeds_) seeds_->stop();
  for (auto& node : nodes_) node->link->stop();
  refresh_timer_.cancel();
  retry_timer_.cancel();
  retries_.clear();
}

ClusterCommands::Impl::Node& ClusterCommands::Impl::node(const HostPort& address) {
  for (auto& node : nodes_)
    if (node->address == address) return *node;
  auto options = options_;
  options.endpoint.cluster_seeds.clear();
  options.endpoint.host = address.host;
  options.endpoint.port = address.port;
  options.name = "command " + describe_host_port(address);
  auto& node = *nodes_.emplace_back(std::make_unique<Node>());
  node.address = address;
  node.link = std::make_unique<RedisConnection>(executor_, std::move(options));
  node.link->start([weak = weak_from_this(), raw = &node](bool up) {
    auto self = weak.lock();
    if (!self || self->stopped_) return;
    if (up) {
      if (raw->ever_up) ++self->metrics_.redis_reconnects;
      raw->ever_up = true;
    } else {
      // The node may be failing over: the map will say where its slots go.
      if (self->unkeyed_ == raw) self->unkeyed_ = nullptr;
      self->refresh();
    }
    self->update();
  });
  return node;
}

RedisConnection* ClusterCommands::Impl::owner(int slot) {
  if (slot < 0) {
    for (Node* master : masters_)
      if (master->link->up()) return master->link.get();
    return nullptr;
  }
  const auto& map = router_.map();
  if (!map) return nullptr;
  const int index = map->owner[static_cast<std::size_t>(slot)];
  if (index < 0) return nullptr;
  if (masters_.size() != map->masters.size()) sync_masters();
  return masters_[static_cast<std::size_t>(index)]->link.get();
}

void ClusterCommands::Impl::sync_masters() {
  masters_.clear();
  if (const auto& map = router_.map())
    for (const auto& address : map->masters) masters_.push_back(&node(address));
}

bool ClusterCommands::Impl::send(std::string_view key, const std::vector<std::string_view>& args,
                                 ReplyCallback callback, bool ordered) {
  WSRELAY_ASSERT_ON(executor_);
  if (!up_) return false;
  if (key.empty()) return send_unkeyed(args, std::move(callback));
  auto command = std::make_shared<Command>();
  command->args.assign(args.begin(), args.end());
  command->callback = std::move(callback);
  command->flight.slot = key_slot(key);
  command->flight.ordered = ordered;
  router_.sent(command->flight);
  // The slot's master may be one a -MOVED just named, not connected yet:
  // the command waits its turn rather than being refused while up.
  RedisConnection* link = owner(command->flight.slot);
  if (link == nullptr || !link->up()) {
    retry_later(command);
  } else {
    issue(command, *link, false);
  }
  return true;
}

bool ClusterCommands::Impl::send_unkeyed(const std::vector<std::string_view>& args,
                                         ReplyCallback callback) {
  WSRELAY_ASSERT_ON(executor_);
  if (!up_) return false;
  if (unkeyed_ == nullptr || !unkeyed_->link->up()) {
    unkeyed_ = nullptr;
    for (Node* master : masters_)
      if (master->link->up()) {
        unkeyed_ = master;
        break;
      }
  }
  return unkeyed_ != nullptr && unkeyed_->link->send(args, std::move(callback));
}

void ClusterCommands::Impl::issue(const CommandPtr& command, RedisConnection& link, bool asking) {
  if (asking) link.send({"ASKING"}, {});
  const std::vector<std::string_view> args(command->args.begin(), command->args.end());
  const bool sent = link.send(args, [weak = weak_from_this(), command](const RespValue* reply) {
    auto self = weak.lock();
    if (self && !self->stopped_) self->on_reply(command, reply);
  });
  if (!sent) retry_later(command);
}

void ClusterCommands::Impl::on_reply(const CommandPtr& command, const RespValue* reply) {
  const bool was_draining = router_.draining();
  const auto step = router_.on_reply(command->flight, reply);
  drain_changed(was_draining);
  take(command, step, reply);
}

void ClusterCommands::Impl::take(const CommandPtr& command, const ClusterRouter::Step& step,
                                 const RespValue* reply) {
  if (step.redirected) ++metrics_.redis_cluster_redirects;
  if (step.refresh) refresh();
  switch (step.kind) {
    case ClusterRouter::Step::Kind::finish:
      return finish(command, step.lost ? nullptr : reply);
    case ClusterRouter::Step::Kind::retry_later:
      return retry_later(command);
    case ClusterRouter::Step::Kind::resend: {
      Node& target = node(step.to);
      if (!target.link->up()) return retry_later(command);
      return issue(command, *target.link, step.asking);
    }
  }
}

void ClusterCommands::Impl::finish(const CommandPtr& command, const RespValue* reply) {
  command->callback(reply);
  const bool was_draining = router_.draining();
  router_.finished(command->flight);
  drain_changed(was_draining);
}

void ClusterCommands::Impl::drain_changed(bool was_draining) {
  if (router_.draining() != was_draining && up_ && on_state_) on_state_();
}

void ClusterCommands::Impl::retry_later(const CommandPtr& command) {
  retries_.push_back(command);
  if (retry_armed_) return;
  retry_armed_ = true;
  retry_timer_.expires_after(retry_interval);
  retry_timer_.async_wait([weak = weak_from_this()](error_code ec) {
    auto self = weak.lock();
    if (!self || ec || self->stopped_) return;
    self->retry_armed_ = false;
    self->on_retry_tick();
  });
}

// Each waiting command goes to its slot's owner as the map says now (after
// an -ASK whose target was not reachable: the source again, which sends it
// on or has it back).
void ClusterCommands::Impl::on_retry_tick() {
  for (auto& command : std::exchange(retries_, {})) {
    RedisConnection* link = owner(command->flight.slot);
    take(command, router_.on_retry(command->flight, link != nullptr && link->up()), nullptr);
  }
}

// CLUSTER SLOTS on a master that is up, or else on the seeds' connection;
// one at a time (a request made meanwhile asks again after it).
void ClusterCommands::Impl::refresh() {
  if (stopped_) return;
  if (refreshing_) {
    refresh_again_ = true;
    return;
  }
  RedisConnection* link = owner(-1);
  if (link == nullptr && seeds_->up()) link = seeds_.get();
  if (link == nullptr) return arm_refresh();
  refreshing_ = true;
  const HostPort asked = link->node();
  link->send({"CLUSTER", "SLOTS"}, [weak = weak_from_this(), asked](const RespValue* reply) {
    auto self = weak.lock();
    if (!self || self->stopped_) return;
    self->refreshing_ = false;
    std::string why = "the connection dropped";
    std::optional<SlotMap> map;
    if (reply != nullptr) map = read_cluster_slots(*reply, asked, &why);
    if (map) {
      self->apply(std::move(*map));
    } else {
      if (std::uint64_t suppressed = 0; self->refresh_log_.should_log(suppressed))
        spdlog::warn("redis cluster: CLUSTER SLOTS on {} failed: {} ({} more since)",
                     describe_host_port(asked), why, suppressed);
      self->arm_refresh();
    }
    if (std::exchange(self->refresh_again_, false)) self->refresh();
  });
}

void ClusterCommands::Impl::apply(SlotMap map) {
  if (router_.set_map(std::move(map))) {
    const SlotMap& now = *router_.map();
    std::size_t served = 0;
    for (const int owner : now.owner) served += owner >= 0 ? 1 : 0;
    std::string masters;
    for (const auto& address : now.masters)
      masters += (masters.empty() ? "" : ", ") + describe_host_port(address);
    spdlog::info("redis cluster: {} master(s) serve {} of {} slots: {}", now.masters.size(), served,
                 cluster_slots, masters);
  }
  sync_masters();
  // Commands without a key go to a master of this map (a demoted one's
  // drop would not be told by up()).
  if (std::find(masters_.begin(), masters_.end(), unkeyed_) == masters_.end()) unkeyed_ = nullptr;
  // A node that is neither a master now nor up is dropped (a failed master,
  // replaced); one still up is kept (an -ASK target, a demoted master).
  std::erase_if(nodes_, [this](const std::unique_ptr<Node>& node) {
    if (node->link->up() ||
        std::find(masters_.begin(), masters_.end(), node.get()) != masters_.end())
      return false;
    if (unkeyed_ == node.get()) unkeyed_ = nullptr;
    node->link->stop();
    return true;
  });
  update();
  if (on_map_ && !stopped_) on_map_(*router_.map());
}

void ClusterCommands::Impl::update() {
  if (stopped_) return;
  if (masters_.size() != (router_.map() ? router_.map()->masters.size() : 0)) sync_masters();
  bool healthy = router_.map() && router_.map()->complete();
  for (Node* master : masters_) healthy = healthy && master->link->up();
  if (!healthy) arm_refresh();
  if (healthy == up_) return;
  up_ = healthy;
  if (on_state_) on_state_();
}

void ClusterCommands::Impl::arm_refresh() {
  if (refresh_armed_ || stopped_) return;
  refresh_armed_ = true;
  refresh_timer_.expires_after(refresh_interval);
  refresh_timer_.async_wait([weak = weak_from_this()](error_code ec) {
    auto self = weak.lock();
    if (!self || ec || self->stopped_) return;
    self->refresh_armed_ = false;
    self->refresh();
    self->update();
  });
}

ClusterCommands::ClusterCommands(net::any_io_executor executor, RedisConnectionOptions options,
                                 Metrics& metrics)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options), metrics)) {}

ClusterCommands::~ClusterCommands() {
  impl_->stop();
}

void ClusterCommands::start(std::function<void()> on_state,
                            std::function<void(const SlotMap&)> on_map) {
  impl_->start(std::move(on_state), std::move(on_map));
}

void ClusterCommands::refresh() {
  impl_->refresh();
}

void ClusterCommands::stop() {
  impl_->stop();
}

bool ClusterCommands::up() const {
  return impl_->up();
}

bool ClusterCommands::settled() const {
  return impl_->settled();
}

bool ClusterCommands::send(std::string_view key, const std::vector<std::string_view>& args,
                           ReplyCallback callback, bool ordered) {
  return impl_->send(key, args, std::move(callback), ordered);
}

bool ClusterCommands::send_unkeyed(const std::vector<std::string_view>& args,
                                   ReplyCallback callback) {
  return impl_->send_unkeyed(args, std::move(callback));
}

}  // namespace wsrelay
