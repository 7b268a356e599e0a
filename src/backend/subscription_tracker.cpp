#include <wsrelay/backend/subscription_tracker.hpp>

#include <algorithm>

#include <wsrelay/wire/routes.hpp>

namespace wsrelay {

// Channels go out in SUBSCRIBEs and patterns in PSUBSCRIBEs, each command
// holding one kind: Redis acks each command's keys in one run, in order.
template <typename It>
void SubscriptionTracker::send_subscribe(It first, It last, bool resync, Events& events) {
  for (const bool patterns : {false, true}) {
    SubscribeCommand command;
    command.resync = resync;
    Command args{patterns ? "PSUBSCRIBE" : "SUBSCRIBE"};
    auto emit = [&] {
      events.send.push_back(std::move(args));
      if (resync) ++resync_commands_;
      commands_.push_back(std::move(command));
      command = SubscribeCommand{};
      command.resync = resync;
      args = Command{patterns ? "PSUBSCRIBE" : "SUBSCRIBE"};
    };
    for (It it = first; it != last; ++it) {
      const std::string& key = *it;
      if (is_pattern_key(key) != patterns) continue;
      args.emplace_back(pattern_of(key));
      command.channels.emplace_back(key);
      ++outstanding_[key];
      if (command.channels.size() == max_channels_per_command) emit();
    }
    if (!command.channels.empty()) emit();
  }
}

SubscriptionTracker::Events SubscriptionTracker::connected() {
  Events events;
  connected_ = true;
  outstanding_.clear();
  commands_.clear();
  resync_commands_ = 0;
  send_subscribe(wanted_.begin(), wanted_.end(), true, events);
  // The PINGs of pending barriers were lost with the old connection.
  for (std::size_t i = 0; i < barriers_.size(); ++i) events.send.push_back({"PING"});
  events.settled = settled();
  return events;
}

void SubscriptionTracker::disconnected() {
  connected_ = false;
  outstanding_.clear();
  commands_.clear();
  resync_commands_ = 0;
  subscribed_count_ = 0;
}

SubscriptionTracker::Events SubscriptionTracker::subscribe(
    const std::vector<std::string>& channels) {
  Events events;
  for (const auto& channel : channels) wanted_.insert(channel);
  if (connected_) send_subscribe(channels.begin(), channels.end(), false, events);
  return events;
}

SubscriptionTracker::Events SubscriptionTracker::unsubscribe(
    const std::vector<std::string>& channels) {
  Events events;
  for (const auto& channel : channels) wanted_.erase(channel);
  if (!connected_) return events;
  // Never an UNSUBSCRIBE without arguments: that would drop every channel.
  for (const bool patterns : {false, true}) {
    Command args{patterns ? "PUNSUBSCRIBE" : "UNSUBSCRIBE"};
    for (const auto& key : channels) {
      if (is_pattern_key(key) != patterns) continue;
      args.emplace_back(pattern_of(key));
      if (args.size() == max_channels_per_command + 1) {
        events.send.push_back(std::move(args));
        args = Command{patterns ? "PUNSUBSCRIBE" : "UNSUBSCRIBE"};
      }
    }
    if (args.size() > 1) events.send.push_back(std::move(args));
  }
  return events;
}

SubscriptionTracker::Events SubscriptionTracker::barrier(std::function<void()> done) {
  Events events;
  barriers_.push_back(std::move(done));
  if (connected_) events.send.push_back({"PING"});
  return events;
}

void SubscriptionTracker::answered(const SubscribeCommand& command, Events& events) {
  if (!command.resync) return;
  if (--resync_commands_ == 0 && connected_) events.settled = true;
}

SubscriptionTracker::Events SubscriptionTracker::on_reply(const Push& push) {
  Events events;
  switch (push.kind) {
    case Push::Kind::subscribed: {
      subscribed_count_ = push.count;
      if (!commands_.empty() && ++commands_.front().acked == commands_.front().channels.size()) {
        const SubscribeCommand done = std::move(commands_.front());
        commands_.pop_front();
        answered(done, events);
      }
      auto it = outstanding_.find(push.channel);
      if (it == outstanding_.end()) break;
      if (--it->second > 0) break;  // a later SUBSCRIBE of it is still unanswered
      outstanding_.erase(it);
      if (wanted_.contains(push.channel)) events.confirmed.push_back(push.channel);
      break;
    }
    case Push::Kind::unsubscribed:
      subscribed_count_ = push.count;
      break;
    case Push::Kind::pong:
      if (barriers_.empty()) break;
      events.barriers_done.push_back(std::move(barriers_.front()));
      barriers_.pop_front();
      break;
    case Push::Kind::error:
      on_error(push.payload, events);
      break;
    case Push::Kind::message:
    case Push::Kind::oversized:
    case Push::Kind::other:
      break;
  }
  return events;
}

// Why every error counts against the oldest SUBSCRIBE, not only NOPERM: on
// this connection nothing else we send can fail, and a SUBSCRIBE left
// unanswered would keep its channels unconfirmed (and the engine unsettled)
// until the next reconnect.
void SubscriptionTracker::on_error(std::string_view error, Events& events) {
  if (commands_.empty()) {
    events.unexpected_error = std::string(error);
    return;
  }
  SubscribeCommand command = std::move(commands_.front());
  commands_.pop_front();
  const bool alone = command.channels.size() - command.acked <= 1;
  std::vector<std::string> retry;
  for (std::size_t i = command.acked; i < command.channels.size(); ++i) {
    const std::string& channel = command.channels[i];
    auto it = outstanding_.find(channel);
    if (it != outstanding_.end() && --it->second == 0) outstanding_.erase(it);
    if (!wanted_.contains(channel) || outstanding_.contains(channel)) continue;
    if (alone) {
      events.refused.emplace_back(channel, std::string(error));
    } else {
      retry.push_back(channel);
    }
  }
  // The retries are counted before the refused command is let go, so a run
  // does not look answered while its retries are on their way.
  for (const auto& channel : retry) send_subscribe(&channel, &channel + 1, command.resync, events);
  answered(command, events);
}

}  // namespace wsrelay
