// Publisher: ws4redis's audience model on the gateway's channel names.
#include <wsrelay/publisher/publisher.hpp>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace wsrelay {
namespace {

std::string check_names(std::string_view what, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (name.empty()) return fmt::format("an empty {} name", what);
    if (name.size() > max_audience_name_bytes)
      return fmt::format("a {} name longer than {} bytes", what, max_audience_name_bytes);
  }
  return {};
}

void add_unique(std::vector<std::string>& list, std::string channel) {
  if (std::find(list.begin(), list.end(), channel) == list.end())
    list.push_back(std::move(channel));
}

}  // namespace

std::string check_target(const PublishTarget& target) {
  if (!valid_facility(target.facility)) return std::string(facility_rule);
  if (!target.broadcast && target.users.empty() && target.groups.empty() && target.sessions.empty())
    return "no audience: name broadcast, users, groups or sessions";
  for (auto error : {check_names("user", target.users), check_names("group", target.groups),
                     check_names("session", target.sessions)})
    if (!error.empty()) return error;
  return {};
}

std::vector<std::string> target_channels(const PublishTarget& target, std::string_view prefix) {
  std::vector<std::string> channels;
  if (target.broadcast)
    channels.push_back(channel_name(prefix, Audience::broadcast, {}, target.facility));
  for (const auto& [audience, names] :
       {std::pair{Audience::user, &target.users}, std::pair{Audience::group, &target.groups},
        std::pair{Audience::session, &target.sessions}})
    for (const std::string& name : *names)
      add_unique(channels, channel_name(prefix, audience, name, target.facility));
  return channels;
}

std::vector<std::vector<std::string>> publish_commands(const std::vector<std::string>& channels,
                                                       std::string_view message, int expire_seconds,
                                                       bool sharded) {
  std::vector<std::vector<std::string>> commands;
  const bool store = expire_seconds > 0;
  commands.reserve(channels.size() * (store ? 2 : 1) + (store ? 2 : 0));
  if (store) commands.push_back({"MULTI"});
  const std::string text(message);
  for (const std::string& channel : channels) {
    commands.push_back({sharded ? "SPUBLISH" : "PUBLISH", channel, text});
    if (store) commands.push_back({"SET", channel, text, "EX", std::to_string(expire_seconds)});
  }
  if (store) commands.push_back({"EXEC"});
  return commands;
}

Publisher::Publisher(RedisEndpoint endpoint, std::string prefix, std::chrono::milliseconds timeout)
    : redis_(std::move(endpoint), timeout), prefix_(std::move(prefix)) {}

long long Publisher::publish(const PublishTarget& target, std::string_view message,
                             int expire_seconds) {
  if (auto error = check_target(target); !error.empty()) throw std::invalid_argument(error);
  if (expire_seconds < 0) throw std::invalid_argument("expire_seconds must not be negative");
  const auto channels = target_channels(target, prefix_);
  if (sharded_ || (redis_.endpoint().is_cluster() && expire_seconds > 0 && channels.size() > 1)) {
    // A cluster runs a transaction on the keys of one slot, and SPUBLISH on
    // the channel's own shard: one per channel.
    long long receivers = 0;
    for (const auto& channel : channels) {
      const auto commands = publish_commands({channel}, message, expire_seconds, sharded_);
      receivers += receivers_of(redis_.pipeline_at(channel, commands), expire_seconds > 0);
    }
    return receivers;
  }
  const auto commands = publish_commands(channels, message, expire_seconds);
  const std::string_view key = channels.empty() ? std::string_view{} : channels.front();
  return receivers_of(
      expire_seconds > 0 ? redis_.pipeline_at(key, commands) : redis_.pipeline(commands),
      expire_seconds > 0);
}

void Publisher::set_sharded(bool sharded) {
  if (sharded && !redis_.endpoint().is_cluster())
    throw std::invalid_argument("sharded pub/sub needs a redis+cluster:// URL");
  sharded_ = sharded;
}

long long Publisher::receivers_of(const std::vector<RespValue>& replies, bool transaction) {
  // In a transaction the results are EXEC's array; an error while queueing
  // (an ACL without the channel) aborts the whole transaction.
  const std::vector<RespValue>* results = &replies;
  if (transaction) {
    for (const RespValue& reply : replies)
      if (reply.is_error()) throw RedisError("redis refused the publish: " + reply.str);
    if (replies.back().type != RespValue::Type::array)
      throw RedisError("redis refused the publish: the transaction was not executed");
    results = &replies.back().elements;
  }
  long long receivers = 0;
  for (const RespValue& result : *results) {
    if (result.is_error()) throw RedisError("redis refused the publish: " + result.str);
    if (result.type == RespValue::Type::integer) receivers += result.integer;
  }
  return receivers;
}

long long Publisher::publish(const PublishTarget& target, std::string_view message,
                             int expire_seconds, const HistoryRule& history) {
  if (auto error = check_target(target); !error.empty()) throw std::invalid_argument(error);
  if (expire_seconds < 0) throw std::invalid_argument("expire_seconds must not be negative");
  if (redis_.endpoint().is_cluster())
    throw std::invalid_argument(
        "history is not supported with redis+cluster:// (its script orders every channel by "
        "one clock key)");
  const auto channels = target_channels(target, prefix_);
  std::vector<std::vector<std::string>> commands;
  for (const std::string& channel : channels)
    commands.push_back(
        history_publish_args(true, prefix_, channel, message, history, expire_seconds));
  auto replies = redis_.pipeline(commands);
  // A Redis that does not have the script (restarted, flushed) refuses
  // every EVALSHA of the batch, and none ran: the same once more as EVAL.
  if (!replies.empty() && replies.front().is_error() &&
      replies.front().str.starts_with("NOSCRIPT")) {
    for (auto& command : commands) {
      command[0] = "EVAL";
      command[1] = std::string(history_publish_script());
    }
    replies = redis_.pipeline(commands);
  }
  long long receivers = 0;
  for (const RespValue& reply : replies) {
    if (reply.is_error()) throw RedisError("redis refused the publish: " + reply.str);
    if (reply.type == RespValue::Type::integer) receivers += reply.integer;
  }
  return receivers;
}

std::optional<std::string> Publisher::fetch_message(std::string_view facility, Audience audience,
                                                    std::string_view name) {
  if (!valid_facility(facility)) throw std::invalid_argument(std::string(facility_rule));
  if (audience != Audience::broadcast && name.empty())
    throw std::invalid_argument("a user, group or session name is needed");
  const auto replies = redis_.pipeline({{"GET", channel_name(prefix_, audience, name, facility)}});
  if (replies.front().is_error()) throw RedisError("redis refused GET: " + replies.front().str);
  if (replies.front().is_nil()) return std::nullopt;
  return replies.front().str;
}

}  // namespace wsrelay
