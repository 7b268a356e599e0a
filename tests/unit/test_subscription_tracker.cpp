// SubscriptionTracker fed connection states, hub calls and classified
// replies: what it sends, what it confirms or refuses, barriers, and when
// the subscriber has settled after a (re)connect.
#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <wsrelay/backend/subscription_tracker.hpp>

using namespace wsrelay;
using Commands = std::vector<SubscriptionTracker::Command>;
using Strings = std::vector<std::string>;

namespace {

Push push(Push::Kind kind, std::string channel = {}, std::string payload = {},
          long long count = 0) {
  return Push{kind, std::move(channel), std::move(payload), count};
}
Push ack(const std::string& channel, long long count = 1) {
  return push(Push::Kind::subscribed, channel, {}, count);
}
Push unack(const std::string& channel) {
  return push(Push::Kind::unsubscribed, channel);
}
Push error(const std::string& text) {
  return push(Push::Kind::error, {}, text);
}
Push pong() {
  return push(Push::Kind::pong);
}

// The channels of the SUBSCRIBEs in `commands`, in order (sorting each
// command's channels: a set's order is not ours).
std::vector<Strings> subscribes(const Commands& commands) {
  std::vector<Strings> out;
  for (const auto& command : commands) {
    if (command.empty() || command[0] != "SUBSCRIBE") continue;
    Strings channels(command.begin() + 1, command.end());
    std::sort(channels.begin(), channels.end());
    out.push_back(channels);
  }
  return out;
}

}  // namespace

TEST_CASE("tracker: nothing is sent before the connection: then one run with every channel",
          "[tracker]") {
  SubscriptionTracker t;
  CHECK(t.subscribe({"a", "b"}).send.empty());
  CHECK_FALSE(t.settled());
  auto events = t.connected();
  CHECK(subscribes(events.send) == std::vector<Strings>{{"a", "b"}});
  CHECK_FALSE(events.settled);
  CHECK_FALSE(t.settled());
  CHECK(t.on_reply(ack("a")).confirmed == Strings{"a"});
  CHECK_FALSE(t.settled());
  events = t.on_reply(ack("b", 2));
  CHECK(events.confirmed == Strings{"b"});
  CHECK(events.settled);
  CHECK(t.settled());
  CHECK(t.subscribed_count() == 2);
}

TEST_CASE("tracker: with nothing wanted, a connection is settled at once", "[tracker]") {
  SubscriptionTracker t;
  auto events = t.connected();
  CHECK(events.send.empty());
  CHECK(events.settled);
  CHECK(t.settled());
}

TEST_CASE("tracker: a new channel while settled does not unsettle", "[tracker]") {
  SubscriptionTracker t;
  t.connected();
  auto events = t.subscribe({"c"});
  CHECK(subscribes(events.send) == std::vector<Strings>{{"c"}});
  CHECK(t.settled());  // publishes wait only for the run after a reconnect
  CHECK(t.on_reply(ack("c")).confirmed == Strings{"c"});
}

TEST_CASE("tracker: only the ack of the latest SUBSCRIBE confirms", "[tracker]") {
  SubscriptionTracker t;
  t.connected();
  t.subscribe({"c"});
  t.unsubscribe({"c"});
  t.subscribe({"c"});  // two SUBSCRIBEs of c in flight
  CHECK(t.on_reply(ack("c")).confirmed.empty());
  CHECK(t.on_reply(unack("c")).confirmed.empty());
  CHECK(t.on_reply(ack("c")).confirmed == Strings{"c"});
}

TEST_CASE("tracker: an ack for a channel no longer wanted confirms nothing", "[tracker]") {
  SubscriptionTracker t;
  t.connected();
  t.subscribe({"c"});
  auto events = t.unsubscribe({"c"});
  CHECK(events.send == Commands{{"UNSUBSCRIBE", "c"}});
  CHECK(t.on_reply(ack("c")).confirmed.empty());
  CHECK_FALSE(t.wants("c"));
}

TEST_CASE("tracker: no UNSUBSCRIBE without arguments: chunks of max_channels_per_command",
          "[tracker]") {
  SubscriptionTracker t;
  CHECK(t.unsubscribe({}).send.empty());
  Strings many;
  for (std::size_t i = 0; i < SubscriptionTracker::max_channels_per_command + 1; ++i)
    many.push_back("c" + std::to_string(i));
  t.subscribe(many);
  auto events = t.connected();
  REQUIRE(events.send.size() == 2);
  CHECK(events.send[0].size() == SubscriptionTracker::max_channels_per_command + 1);
  CHECK(events.send[1].size() == 2);
  events = t.unsubscribe(many);
  REQUIRE(events.send.size() == 2);
  CHECK(events.send[0][0] == "UNSUBSCRIBE");
  CHECK(events.send[1] == SubscriptionTracker::Command{"UNSUBSCRIBE", many.back()});
}

TEST_CASE("tracker: a refused batch is retried one by one: only the refused one is reported",
          "[tracker]") {
  SubscriptionTracker t;
  t.subscribe({"ok", "secret"});
  t.connected();
  auto events = t.on_reply(error("NOPERM this user has no permissions"));
  CHECK(events.refused.empty());
  auto retried = subscribes(events.send);
  std::sort(retried.begin(), retried.end());
  CHECK(retried == std::vector<Strings>{{"ok"}, {"secret"}});
  CHECK_FALSE(events.settled);  // the retries belong to the run
  CHECK_FALSE(t.settled());
  // Retries in the set's order: answer by name.
  const std::string first = events.send[0][1];
  const std::string second = events.send[1][1];
  Strings confirmed;
  std::vector<std::pair<std::string, std::string>> refused;
  auto answer = [&](const std::string& channel) {
    auto e = channel == "ok" ? t.on_reply(ack("ok")) : t.on_reply(error("NOPERM secret"));
    confirmed.insert(confirmed.end(), e.confirmed.begin(), e.confirmed.end());
    refused.insert(refused.end(), e.refused.begin(), e.refused.end());
    return e.settled;
  };
  CHECK_FALSE(answer(first));
  CHECK(answer(second));
  CHECK(confirmed == Strings{"ok"});
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].first == "secret");
  CHECK(refused[0].second == "NOPERM secret");
  CHECK(t.settled());
}

TEST_CASE("tracker: a channel refused alone is reported at once", "[tracker]") {
  SubscriptionTracker t;
  t.connected();
  t.subscribe({"secret"});
  auto events = t.on_reply(error("NOPERM no"));
  REQUIRE(events.refused.size() == 1);
  CHECK(events.refused[0].first == "secret");
  CHECK(events.send.empty());
}

TEST_CASE("tracker: an error when no SUBSCRIBE is outstanding is only reported", "[tracker]") {
  SubscriptionTracker t;
  t.connected();
  auto events = t.on_reply(error("ERR something"));
  CHECK(events.unexpected_error == "ERR something");
  CHECK(events.refused.empty());
}

TEST_CASE("tracker: barriers send a PING each and complete in order on pongs", "[tracker]") {
  SubscriptionTracker t;
  std::vector<int> done;
  CHECK(t.barrier([&] { done.push_back(1); }).send.empty());  // not connected
  t.subscribe({"c"});
  auto events = t.connected();
  // The run first, then the lost PING again: its pong follows every ack.
  REQUIRE(events.send.size() == 2);
  CHECK(events.send[0][0] == "SUBSCRIBE");
  CHECK(events.send[1] == SubscriptionTracker::Command{"PING"});
  CHECK(t.barrier([&] { done.push_back(2); }).send == Commands{{"PING"}});
  t.on_reply(ack("c"));
  for (auto& f : t.on_reply(pong()).barriers_done) f();
  CHECK(done == std::vector<int>{1});
  for (auto& f : t.on_reply(pong()).barriers_done) f();
  CHECK(done == std::vector<int>{1, 2});
  CHECK(t.on_reply(pong()).barriers_done.empty());
}

TEST_CASE("tracker: a drop mid-run: nothing confirmed from the old connection, a new run",
          "[tracker]") {
  SubscriptionTracker t;
  t.subscribe({"a", "b"});
  t.connected();
  t.on_reply(ack("a"));
  t.disconnected();
  CHECK_FALSE(t.settled());
  CHECK(t.subscribed_count() == 0);
  t.unsubscribe({"a"});  // while down: nothing to send
  auto events = t.connected();
  CHECK(subscribes(events.send) == std::vector<Strings>{{"b"}});
  CHECK_FALSE(t.settled());
  events = t.on_reply(ack("b"));
  CHECK(events.confirmed == Strings{"b"});
  CHECK(events.settled);
}
