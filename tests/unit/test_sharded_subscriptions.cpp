// Sharded pub/sub's subscriber core: ShardTracker (one shard's connection)
// and ShardedSubscriptions (the set, placed by the slot map), fed maps,
// connection states, hub calls and classified replies, as a cluster sends
// them in a resharding and a failover.
#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <wsrelay/backend/shard_tracker.hpp>
#include <wsrelay/backend/sharded_subscriptions.hpp>
#include <wsrelay/wire/cluster.hpp>

using namespace wsrelay;
using Strings = std::vector<std::string>;

namespace {

Push push(Push::Kind kind, std::string channel = {}, std::string payload = {},
          long long count = 0) {
  return Push{kind, std::move(channel), std::move(payload), count};
}
Push ack(const std::string& channel) {
  return push(Push::Kind::subscribed, channel, {}, 1);
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

const HostPort A{"127.0.0.1", 7001};
const HostPort B{"127.0.0.1", 7002};
const HostPort C{"127.0.0.1", 7003};

// A name whose slot is in [from, to].
std::string channel_in(int from, int to, const std::string& stem) {
  for (int i = 0;; ++i) {
    std::string name = stem + std::to_string(i);
    const int slot = key_slot(name);
    if (slot >= from && slot <= to) return name;
  }
}

// Slots 0-8191 on `low`, the rest on `high`.
SlotMap two_masters(const HostPort& low, const HostPort& high) {
  SlotMap map;
  const int l = map.index_of(low);
  const int h = map.index_of(high);
  for (int slot = 0; slot < cluster_slots; ++slot) map.owner[slot] = slot < 8192 ? l : h;
  return map;
}

std::string moved(const std::string& channel, const HostPort& to) {
  return "MOVED " + std::to_string(key_slot(channel)) + " " + to.host + ":" +
         std::to_string(to.port);
}

Strings sent_to(const ShardedSubscriptions::Events& events, const HostPort& shard,
                const std::string& verb) {
  Strings out;
  for (const auto& [address, command] : events.send)
    if (address == shard && command.size() == 2 && command[0] == verb) out.push_back(command[1]);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("shard tracker: one channel per SSUBSCRIBE, confirmed by its ack", "[sharded]") {
  ShardTracker t;
  ShardTracker::Events e;
  t.subscribe("x", false, e);
  t.subscribe("y", false, e);
  CHECK(e.send.empty());
  t.connected(e);
  REQUIRE(e.send.size() == 2);
  for (const auto& command : e.send) {
    CHECK(command.size() == 2);
    CHECK(command[0] == "SSUBSCRIBE");
  }
  CHECK_FALSE(t.settled());
  ShardTracker::Events r;
  t.on_reply(ack("x"), r);
  t.on_reply(ack("y"), r);
  CHECK(r.confirmed == Strings{"x", "y"});
  CHECK(t.settled());
}

TEST_CASE("shard tracker: the node's own sunsubscribe is a lost channel, not a refusal",
          "[sharded]") {
  ShardTracker t;
  ShardTracker::Events e;
  t.connected(e);
  t.subscribe("x", false, e);
  t.on_reply(ack("x"), e);
  ShardTracker::Events r;
  t.on_reply(unack("x"), r);
  REQUIRE(r.lost.size() == 1);
  CHECK(r.lost[0].first == "x");
  CHECK(r.lost[0].second.empty());
  CHECK(r.refused.empty());
  CHECK_FALSE(t.holds("x"));
}

TEST_CASE("shard tracker: -MOVED to an SSUBSCRIBE is lost with its target, NOPERM refused",
          "[sharded]") {
  ShardTracker t;
  ShardTracker::Events e;
  t.connected(e);
  t.subscribe("x", true, e);
  t.subscribe("y", false, e);
  CHECK_FALSE(t.settled());
  ShardTracker::Events r;
  t.on_reply(error(moved("x", B)), r);
  t.on_reply(error("NOPERM this user has no permissions to access the 'y' channel"), r);
  REQUIRE(r.lost.size() == 1);
  CHECK(r.lost[0].first == "x");
  CHECK(r.lost[0].second.starts_with("MOVED "));
  REQUIRE(r.refused.size() == 1);
  CHECK(r.refused[0].first == "y");
  CHECK(t.settled());  // the resync SSUBSCRIBE was answered, by an error
}

TEST_CASE("shard tracker: an unsubscribe's -MOVED after the node's own push is not misread",
          "[sharded]") {
  // Slot of x leaves the node just before our SUNSUBSCRIBE x: the node
  // pushes sunsubscribe x, then answers -MOVED; z (another slot) follows.
  const std::string x = channel_in(0, 100, "x");
  const std::string z = channel_in(9000, 9100, "z");
  ShardTracker t;
  ShardTracker::Events e;
  t.connected(e);
  t.subscribe(x, false, e);
  t.on_reply(ack(x), e);
  t.unsubscribe(x, e);
  t.subscribe(z, false, e);
  ShardTracker::Events r;
  t.on_reply(unack(x), r);            // taken as the ack
  t.on_reply(error(moved(x, B)), r);  // the SUNSUBSCRIBE's own answer: ignored
  t.on_reply(ack(z), r);
  CHECK(r.lost.empty());
  CHECK(r.confirmed == Strings{z});
  CHECK(t.holds(z));
  // Such an answer with nothing left pending is no unexpected error either.
  ShardTracker::Events late;
  t.on_reply(error(moved(x, B)), late);
  CHECK(late.unexpected_error.empty());
  t.on_reply(error("ERR something else"), late);
  CHECK(late.unexpected_error == "ERR something else");
}

TEST_CASE("shard tracker: an ack after the channel was forgotten confirms nothing", "[sharded]") {
  ShardTracker t;
  ShardTracker::Events e;
  t.connected(e);
  t.subscribe("x", true, e);
  t.forget("x");
  ShardTracker::Events r;
  t.on_reply(ack("x"), r);
  CHECK(r.confirmed.empty());
  CHECK(t.settled());
}

TEST_CASE("shard tracker: barriers are re-sent after a reconnect and given up on removal",
          "[sharded]") {
  ShardTracker t;
  int done = 0;
  ShardTracker::Events e;
  t.barrier([&] { ++done; }, e);
  CHECK(e.send.empty());
  t.connected(e);
  REQUIRE(e.send.size() == 1);
  CHECK(e.send[0] == ShardTracker::Command{"PING"});
  t.barrier([&] { ++done; }, e);
  t.on_reply(pong(), e);
  REQUIRE(e.barriers_done.size() == 1);
  e.barriers_done[0]();
  auto left = t.take_barriers();
  REQUIRE(left.size() == 1);
  left[0]();
  CHECK(done == 2);
}

TEST_CASE("sharded: channels are placed by slot, one connection per master", "[sharded]") {
  const std::string low = channel_in(0, 8191, "low");
  const std::string high = channel_in(8192, 16383, "high");
  ShardedSubscriptions s;
  auto e = s.subscribe({low, high});
  CHECK(e.send.empty());
  CHECK_FALSE(s.settled());
  e = s.set_map(two_masters(A, B));
  CHECK(e.open == std::vector<HostPort>{A, B});
  CHECK(e.send.empty());  // not connected yet
  CHECK_FALSE(s.up());
  e = s.link_state(A, true);
  CHECK(sent_to(e, A, "SSUBSCRIBE") == Strings{low});
  e = s.link_state(B, true);
  CHECK(sent_to(e, B, "SSUBSCRIBE") == Strings{high});
  CHECK(s.up());
  CHECK_FALSE(s.settled());
  CHECK(s.on_reply(A, ack(low)).confirmed == Strings{low});
  e = s.on_reply(B, ack(high));
  CHECK(e.confirmed == Strings{high});
  CHECK(e.settled);
  CHECK(s.settled());
  REQUIRE(s.shard_of(low) != nullptr);
  CHECK(*s.shard_of(low) == A);
}

TEST_CASE("sharded: a resharding moves a channel: unconfirmed, then confirmed on its new owner",
          "[sharded]") {
  const std::string low = channel_in(0, 8191, "low");
  ShardedSubscriptions s;
  s.set_map(two_masters(A, B));
  s.link_state(A, true);
  s.link_state(B, true);
  s.subscribe({low});
  s.on_reply(A, ack(low));
  REQUIRE(s.settled());
  // The slot moves to B; A says so first, with its own sunsubscribe.
  auto e = s.on_reply(A, unack(low));
  CHECK(e.unconfirmed == Strings{low});
  CHECK(e.refresh);
  CHECK(e.send.empty());
  CHECK_FALSE(s.settled());
  // The next map names B.
  SlotMap map = two_masters(A, B);
  map.owner[key_slot(low)] = 1;
  e = s.set_map(map);
  CHECK(sent_to(e, B, "SSUBSCRIBE") == Strings{low});
  CHECK(sent_to(e, A, "SUNSUBSCRIBE").empty());
  CHECK_FALSE(s.settled());  // held until the move is answered
  e = s.on_reply(B, ack(low));
  CHECK(e.confirmed == Strings{low});
  CHECK(e.settled);
}

TEST_CASE("sharded: a map alone does not move a channel from a master it still lists",
          "[sharded]") {
  // A map is one node's view and may be behind (or ahead of the node that
  // holds the channel, which delivers until it says the slot left).
  const std::string low = channel_in(0, 8191, "low");
  ShardedSubscriptions s;
  s.set_map(two_masters(A, B));
  s.link_state(A, true);
  s.link_state(B, true);
  s.subscribe({low});
  s.on_reply(A, ack(low));
  SlotMap map = two_masters(A, B);
  map.owner[key_slot(low)] = 1;
  auto e = s.set_map(map);
  CHECK(e.unconfirmed.empty());
  CHECK(e.send.empty());
  CHECK(*s.shard_of(low) == A);
  CHECK(s.settled());
  // A says the slot left: the channel goes to the map's owner.
  e = s.on_reply(A, unack(low));
  CHECK(e.unconfirmed == Strings{low});
  CHECK(e.refresh);
  e = s.set_map(map);
  CHECK(sent_to(e, B, "SSUBSCRIBE") == Strings{low});
  CHECK(s.on_reply(B, ack(low)).confirmed == Strings{low});
  CHECK(s.settled());
}

TEST_CASE("sharded: -MOVED on SSUBSCRIBE goes straight to the node it names", "[sharded]") {
  const std::string low = channel_in(0, 8191, "low");
  ShardedSubscriptions s;
  s.set_map(two_masters(A, B));  // stale: the slot is on B already
  s.link_state(A, true);
  s.link_state(B, true);
  s.subscribe({low});
  auto e = s.on_reply(A, error(moved(low, B)));
  CHECK(e.unconfirmed == Strings{low});
  CHECK_FALSE(e.refresh);  // the node said where: no map needed
  CHECK(sent_to(e, B, "SSUBSCRIBE") == Strings{low});
  CHECK(*s.shard_of(low) == B);
  CHECK(s.on_reply(B, ack(low)).confirmed == Strings{low});
  // The same stale map read again does not send it back.
  e = s.set_map(two_masters(A, B));
  CHECK(e.send.empty());
  CHECK(e.unconfirmed.empty());
  CHECK(*s.shard_of(low) == B);
  // After a reconnect, -MOVED to a node that is no master of the map yet:
  // wait for a map.
  s.link_state(B, false);
  CHECK(sent_to(s.link_state(B, true), B, "SSUBSCRIBE") == Strings{low});
  e = s.on_reply(B, error(moved(low, C)));
  CHECK(e.refresh);
  CHECK(s.shard_of(low) == nullptr);
  CHECK_FALSE(s.settled());
}

TEST_CASE("sharded: a failover: the shard's channels unconfirmed, then on the promoted replica",
          "[sharded]") {
  const std::string low = channel_in(0, 8191, "low");
  const std::string high = channel_in(8192, 16383, "high");
  ShardedSubscriptions s;
  s.set_map(two_masters(A, B));
  s.link_state(A, true);
  s.link_state(B, true);
  s.subscribe({low, high});
  s.on_reply(A, ack(low));
  s.on_reply(B, ack(high));
  REQUIRE(s.settled());
  int barriers = 0;
  auto e = s.barrier([&] { ++barriers; });
  CHECK(e.send.size() == 2);
  e = s.link_state(A, false);
  CHECK(e.unconfirmed == Strings{low});
  CHECK(e.refresh);
  CHECK_FALSE(s.up());
  CHECK_FALSE(s.settled());
  for (auto& done : s.on_reply(B, pong()).barriers_done) done();  // B's part of the barrier
  CHECK(barriers == 0);
  // C replaces A.
  e = s.set_map(two_masters(C, B));
  CHECK(e.open == std::vector<HostPort>{C});
  CHECK(e.close == std::vector<HostPort>{A});
  REQUIRE(e.barriers_done.size() == 1);  // A's part, given up
  for (auto& done : e.barriers_done) done();
  CHECK(barriers == 1);
  CHECK(s.shard_count() == 2);
  e = s.link_state(C, true);
  CHECK(sent_to(e, C, "SSUBSCRIBE") == Strings{low});
  e = s.on_reply(C, ack(low));
  CHECK(e.confirmed == Strings{low});
  CHECK(e.settled);
}

TEST_CASE("sharded: an unsubscribe goes to the channel's shard only, and unplaced ones need none",
          "[sharded]") {
  const std::string low = channel_in(0, 8191, "low");
  const std::string high = channel_in(8192, 16383, "high");
  ShardedSubscriptions s;
  s.subscribe({low, high});
  CHECK(s.unsubscribe({high}).send.empty());  // no map yet: nowhere to send
  s.set_map(two_masters(A, B));
  s.link_state(A, true);
  s.link_state(B, true);
  s.on_reply(A, ack(low));
  CHECK(s.settled());
  auto e = s.unsubscribe({low});
  CHECK(sent_to(e, A, "SUNSUBSCRIBE") == Strings{low});
  CHECK(e.send.size() == 1);
  CHECK_FALSE(s.wants(low));
  CHECK(s.on_reply(A, unack(low)).unconfirmed.empty());
  CHECK(s.settled());
}

TEST_CASE("sharded: a barrier asks only the shards that are connected", "[sharded]") {
  ShardedSubscriptions s;
  s.set_map(two_masters(A, B));
  s.link_state(A, true);
  int done = 0;
  auto e = s.barrier([&] { ++done; });
  REQUIRE(e.send.size() == 1);
  CHECK(e.send[0].first == A);
  for (auto& finished : s.on_reply(A, pong()).barriers_done) finished();
  CHECK(done == 1);
  // Nobody connected: nothing can be in flight.
  s.link_state(A, false);
  e = s.barrier([&] { ++done; });
  CHECK(e.send.empty());
  REQUIRE(e.barriers_done.size() == 1);
  e.barriers_done[0]();
  CHECK(done == 2);
}

TEST_CASE("sharded: a barrier without any shard is done at once", "[sharded]") {
  ShardedSubscriptions s;
  int done = 0;
  auto e = s.barrier([&] { ++done; });
  REQUIRE(e.barriers_done.size() == 1);
  e.barriers_done[0]();
  CHECK(done == 1);
}
