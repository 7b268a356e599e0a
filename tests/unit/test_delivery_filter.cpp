// DeliveryFilter fed messages and a clock: echo suppression, the replay's
// live copies, the guard against an application that SETs before it
// PUBLISHes, and the bounds.
#include <chrono>
#include <vector>

#include <catch2/catch.hpp>

#include <wsrelay/gateway/delivery_filter.hpp>

using namespace wsrelay;
using namespace std::chrono_literals;

namespace {

const DeliveryFilter::clock::time_point t0{};

MessagePtr msg(std::string_view channel, std::string_view payload) {
  return Message::make(channel, payload);
}

}  // namespace

TEST_CASE("delivery filter: an own publish is dropped once when it comes back", "[filter]") {
  DeliveryFilter filter;
  filter.replay_done();
  filter.published(Message::hash_of("c", "hi"), t0);
  CHECK_FALSE(filter.pass_live(*msg("c", "hi"), t0 + 1ms));
  // Someone else's identical message afterwards is delivered.
  CHECK(filter.pass_live(*msg("c", "hi"), t0 + 2ms));
  // Same payload on another channel is another message.
  filter.published(Message::hash_of("c", "hi"), t0);
  CHECK(filter.pass_live(*msg("d", "hi"), t0 + 3ms));
}

TEST_CASE("delivery filter: an own publish that never came back expires", "[filter]") {
  DeliveryFilter filter;
  filter.replay_done();
  filter.published(Message::hash_of("c", "hi"), t0);
  CHECK(filter.pass_live(*msg("c", "hi"), t0 + DeliveryFilter::own_lifetime));
  filter.expire(t0 + DeliveryFilter::own_lifetime);
  CHECK(filter.empty());
  CHECK(filter.capacity_bytes() == 0);
}

TEST_CASE("delivery filter: at most max_own publishes are remembered", "[filter]") {
  DeliveryFilter filter;
  filter.replay_done();
  for (std::size_t i = 0; i <= DeliveryFilter::max_own; ++i)
    filter.published(Message::hash_of("c", std::to_string(i)), t0);
  // The oldest was forgotten: it comes back.
  CHECK(filter.pass_live(*msg("c", "0"), t0));
  CHECK_FALSE(filter.pass_live(*msg("c", "1"), t0));
  CHECK_FALSE(filter.pass_live(*msg("c", std::to_string(DeliveryFilter::max_own)), t0));
}

TEST_CASE("delivery filter: a stored value whose live copy is held is not replayed", "[filter]") {
  DeliveryFilter filter;
  const std::vector<MessagePtr> held{msg("c", "v1"), msg("c", "v2")};
  CHECK_FALSE(filter.pass_replayed(*msg("c", "v2"), held, t0));
  CHECK(filter.pass_replayed(*msg("d", "v2"), held, t0));
  CHECK(filter.pass_replayed(*msg("c", "v0"), held, t0));
}

TEST_CASE("delivery filter: the next live message equal to the replayed value is dropped",
          "[filter]") {
  DeliveryFilter filter;
  REQUIRE(filter.pass_replayed(*msg("c", "v"), {}, t0));
  filter.replay_done();
  CHECK_FALSE(filter.pass_live(*msg("c", "v"), t0 + 10ms));
  // Only once: the guard is gone.
  CHECK(filter.pass_live(*msg("c", "v"), t0 + 20ms));
}

TEST_CASE("delivery filter: any other message on the channel ends the guard", "[filter]") {
  DeliveryFilter filter;
  REQUIRE(filter.pass_replayed(*msg("c", "v"), {}, t0));
  REQUIRE(filter.pass_replayed(*msg("d", "w"), {}, t0));
  filter.replay_done();
  CHECK(filter.pass_live(*msg("c", "new"), t0 + 10ms));
  CHECK(filter.pass_live(*msg("c", "v"), t0 + 20ms));
  // The other channel's guard is untouched.
  CHECK_FALSE(filter.pass_live(*msg("d", "w"), t0 + 30ms));
}

TEST_CASE("delivery filter: the guard lasts replay_guard_lifetime", "[filter]") {
  DeliveryFilter filter;
  REQUIRE(filter.pass_replayed(*msg("c", "v"), {}, t0));
  filter.replay_done();
  CHECK(filter.pass_live(*msg("c", "v"), t0 + DeliveryFilter::replay_guard_lifetime));
  REQUIRE(filter.pass_replayed(*msg("c", "v"), {}, t0));
  filter.expire(t0 + DeliveryFilter::replay_guard_lifetime);
  CHECK(filter.empty());
}

TEST_CASE("delivery filter: without echo, an own publish is not replayed either", "[filter]") {
  DeliveryFilter filter;
  filter.published(Message::hash_of("c", "mine"), t0);
  // Its live copy came back during the replay and was dropped...
  CHECK_FALSE(filter.pass_live(*msg("c", "mine"), t0 + 1ms));
  // ...and the replay read it back as the stored value: not sent either.
  CHECK_FALSE(filter.pass_replayed(*msg("c", "mine"), {}, t0 + 2ms));
  filter.replay_done();
  // Once the replay is queued the entry is gone: the same text from
  // someone else later is delivered.
  CHECK(filter.pass_live(*msg("c", "mine"), t0 + 3ms));
}

TEST_CASE("delivery filter: an own publish read back before its live copy", "[filter]") {
  DeliveryFilter filter;
  filter.published(Message::hash_of("c", "mine"), t0);
  CHECK_FALSE(filter.pass_replayed(*msg("c", "mine"), {}, t0 + 1ms));
  filter.replay_done();
  // The live copy still comes back once, and is dropped once.
  CHECK_FALSE(filter.pass_live(*msg("c", "mine"), t0 + 2ms));
  CHECK(filter.pass_live(*msg("c", "mine"), t0 + 3ms));
}
