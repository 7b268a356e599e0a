// ChannelTable fed what shards and the engine report: reference counts and
// their SUBSCRIBE / UNSUBSCRIBE, confirmations and open requests, link drops,
// refusals, gaps, and which stored value a resync may re-send.
#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <wsrelay/gateway/channel_table.hpp>

using namespace wsrelay;
using Strings = std::vector<std::string>;
using Shards = std::vector<ChannelTable::ShardIndex>;
using Request = ChannelTable::Request;

namespace {

Request request(ChannelTable::ShardIndex shard, Strings channels,
                const std::shared_ptr<void>& owner = std::make_shared<int>(0)) {
  auto r = std::make_shared<ChannelTable::OpenRequest>();
  r->shard = shard;
  r->channels = std::move(channels);
  r->owner = owner;
  return r;
}

Strings sorted(Strings v) {
  std::sort(v.begin(), v.end());
  return v;
}

// The shards a live message with `hash` goes to; empty when none.
Shards deliver(ChannelTable& t, std::string_view channel, std::uint64_t hash = 1) {
  const auto* shards = t.message(channel, [&] { return hash; });
  return shards ? *shards : Shards{};
}

}  // namespace

TEST_CASE("channel table: the first shard subscribes, the last one unsubscribes", "[table]") {
  ChannelTable t;
  CHECK(t.shard_subscribed(0, {"a", "b"}));
  CHECK_FALSE(t.shard_subscribed(1, {"a"}));  // a is wanted already
  auto changes = t.take_changes();
  CHECK(sorted(changes.subscribe) == Strings{"a", "b"});
  CHECK(changes.unsubscribe.empty());
  std::vector<Request> ready;
  CHECK_FALSE(t.shard_unsubscribed(0, {"a"}, ready));  // shard 1 still has it
  CHECK(t.shard_unsubscribed(1, {"a"}, ready));
  changes = t.take_changes();
  CHECK(changes.unsubscribe == Strings{"a"});
  CHECK(changes.subscribe.empty());
}

TEST_CASE("channel table: leaving and coming back before a flush subscribes again", "[table]") {
  ChannelTable t;
  t.shard_subscribed(0, {"a"});
  t.take_changes();
  std::vector<Request> ready;
  t.confirmed("a", ready);
  t.shard_unsubscribed(0, {"a"}, ready);
  t.shard_subscribed(0, {"a"});
  const auto changes = t.take_changes();
  // The UNSUBSCRIBE is cancelled; the channel still needs a fresh
  // confirmation, so SUBSCRIBE goes again.
  CHECK(changes.unsubscribe.empty());
  CHECK(changes.subscribe == Strings{"a"});
  CHECK_FALSE(t.is_confirmed("a"));
}

TEST_CASE("channel table: an open request waits for every channel's confirmation", "[table]") {
  ChannelTable t;
  t.shard_subscribed(0, {"a", "b"});
  auto r = request(0, {"a", "b"});
  CHECK_FALSE(t.open(r));
  std::vector<Request> ready;
  t.confirmed("a", ready);
  CHECK(ready.empty());
  t.confirmed("b", ready);
  REQUIRE(ready.size() == 1);
  CHECK(ready[0] == r);
  // A channel already confirmed: ready at once, no round trip.
  CHECK(t.open(request(1, {"a"})));
}

TEST_CASE("channel table: no delivery before confirmation; the hash is taken only then",
          "[table]") {
  ChannelTable t;
  t.shard_subscribed(0, {"a"});
  t.shard_subscribed(1, {"a"});
  bool hashed = false;
  CHECK(t.message("a", [&] {
    hashed = true;
    return 1u;
  }) == nullptr);
  CHECK_FALSE(hashed);
  CHECK(deliver(t, "nobody").empty());
  std::vector<Request> ready;
  t.confirmed("a", ready);
  CHECK(deliver(t, "a") == Shards{0, 1});
}

TEST_CASE("channel table: the last shard leaving releases requests still waiting", "[table]") {
  ChannelTable t;
  t.shard_subscribed(0, {"a", "b"});
  auto r = request(0, {"a", "b"});
  t.open(r);
  std::vector<Request> ready;
  t.confirmed("a", ready);
  t.shard_unsubscribed(0, {"b"}, ready);
  // Its session is going; the request no longer waits on b.
  REQUIRE(ready.size() == 1);
  CHECK(ready[0] == r);
}

TEST_CASE("channel table: one shard's drop unconfirms its channels only", "[table]") {
  ChannelTable t;
  t.shard_subscribed(0, {"a", "b"});
  std::vector<Request> ready;
  t.confirmed("a", ready);
  t.confirmed("b", ready);
  deliver(t, "a", 10);
  t.link_down(std::vector<std::string>{"a"});
  CHECK(deliver(t, "a").empty());
  CHECK_FALSE(deliver(t, "b").empty());
  CHECK_FALSE(t.open(request(0, {"a"})));
  CHECK(t.open(request(0, {"b"})));
  CHECK(t.confirmed("a", ready));  // a resync is due for "a"
}

TEST_CASE("channel table: after a link drop, opens wait and confirmed channels are resynced",
          "[table]") {
  ChannelTable t;
  t.shard_subscribed(0, {"a", "new"});
  std::vector<Request> ready;
  t.confirmed("a", ready);  // "new" was never confirmed
  deliver(t, "a", 10);
  t.link_down();
  CHECK(deliver(t, "a").empty());
  auto r = request(0, {"a"});
  CHECK_FALSE(t.open(r));
  CHECK(t.confirmed("a", ready));  // a resync is due
  CHECK(ready.size() == 1);
  CHECK_FALSE(t.confirmed("new", ready));  // never live before: nothing to resync
  const auto marked = t.take_resync();
  REQUIRE(marked.size() == 1);
  CHECK(marked[0].first == "a");
  // The stored value: re-sent when it differs from the last delivered...
  CHECK(t.resynced("a", marked[0].second, 11) != nullptr);
  // ...and never twice.
  CHECK(t.resynced("a", marked[0].second, 11) == nullptr);
}

TEST_CASE("channel table: an unchanged stored value is not re-sent", "[table]") {
  ChannelTable t;
  t.shard_subscribed(0, {"a"});
  std::vector<Request> ready;
  t.confirmed("a", ready);
  deliver(t, "a", 7);
  t.link_down();
  t.confirmed("a", ready);
  const auto marked = t.take_resync();
  CHECK(t.resynced("a", marked[0].second, 7) == nullptr);
}

TEST_CASE("channel table: a live message since the mark stops the re-send", "[table]") {
  ChannelTable t;
  t.shard_subscribed(0, {"a"});
  std::vector<Request> ready;
  t.confirmed("a", ready);
  CHECK(t.gap({"a"}));
  const auto first = t.take_resync();
  deliver(t, "a", 20);  // newer than what the read may return
  CHECK(t.gap({"a"}));  // a second gap: its own mark
  const auto second = t.take_resync();
  // The first resync must respect the live message; the second may send.
  CHECK(t.resynced("a", first[0].second, 21) == nullptr);
  CHECK(t.resynced("a", second[0].second, 21) != nullptr);
}

TEST_CASE("channel table: a gap marks confirmed channels only; empty means every one", "[table]") {
  ChannelTable t;
  t.shard_subscribed(0, {"a", "b", "c"});
  std::vector<Request> ready;
  t.confirmed("a", ready);
  t.confirmed("b", ready);
  CHECK_FALSE(t.gap({"c"}));  // not confirmed: its confirmation resyncs it
  CHECK(t.take_resync().empty());
  CHECK(t.gap({}));
  Strings marked;
  for (auto& [name, live] : t.take_resync()) marked.push_back(name);
  CHECK(sorted(marked) == Strings{"a", "b"});
}

TEST_CASE("channel table: the replay's values stand as last delivered unless a live one came",
          "[table]") {
  ChannelTable t;
  t.shard_subscribed(0, {"a", "b"});
  std::vector<Request> ready;
  t.confirmed("a", ready);
  t.confirmed("b", ready);
  deliver(t, "b", 5);
  t.replayed(request(0, {"a", "b"}), {3, 4});
  t.link_down();
  t.confirmed("a", ready);
  t.confirmed("b", ready);
  const auto marked = t.take_resync();
  REQUIRE(marked.size() == 2);
  for (const auto& [name, live] : marked) {
    if (name == "a") CHECK(t.resynced(name, live, 3) == nullptr);  // the replayed one
    if (name == "b") CHECK(t.resynced(name, live, 4) != nullptr);  // b's last was live: 5
  }
}

TEST_CASE("channel table: a refused channel is forgotten, and subscribed afresh later", "[table]") {
  ChannelTable t;
  t.shard_subscribed(0, {"x"});
  t.shard_subscribed(1, {"x"});
  t.take_changes();
  CHECK(t.refused("x") == Shards{0, 1});
  CHECK_FALSE(t.has("x"));
  CHECK(t.take_changes().unsubscribe == Strings{"x"});
  CHECK(t.refused("x").empty());
  CHECK(t.shard_subscribed(0, {"x"}));
  CHECK(t.take_changes().subscribe == Strings{"x"});
}

TEST_CASE("channel table: requests of gone sessions do not pile up while the link is down",
          "[table]") {
  ChannelTable t;
  t.shard_subscribed(0, {"a"});
  std::size_t alive = 0;
  std::vector<std::shared_ptr<void>> owners;
  for (int i = 0; i < 10000; ++i) {
    // Every tenth session stays; the others go away before a confirmation.
    auto owner = std::make_shared<int>(i);
    t.open(request(0, {"a"}, owner));
    if (i % 10 == 0) {
      owners.push_back(owner);
      ++alive;
    }
  }
  std::vector<Request> ready;
  t.confirmed("a", ready);
  CHECK(ready.size() >= alive);
  CHECK(ready.size() < 2 * alive + 64);
}
