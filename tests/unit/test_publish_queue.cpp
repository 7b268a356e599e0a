// PublishQueue fed publishes, reads, answers and the gate: order, the
// bound, the gate after an outage, at-least-once across a dropped
// connection, refusals.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include <wsrelay/backend/publish_queue.hpp>

using namespace wsrelay;

namespace {

PublishOp pub(std::string payload, std::vector<std::string>* refusals = nullptr) {
  PublishOp op{"ch", std::move(payload), 0, {}, {}};
  if (refusals) op.refused = [refusals](std::string_view error) { refusals->emplace_back(error); };
  return op;
}

// The payloads (publishes) and "read:<key>" (reads) next() gives, in order.
std::vector<std::string> drain(PublishQueue& q, std::vector<PublishOp>* taken = nullptr) {
  std::vector<std::string> out;
  while (auto op = q.next()) {
    if (auto* p = std::get_if<PublishOp>(&*op)) {
      out.push_back(p->payload);
      if (taken) taken->push_back(std::move(*p));
    } else {
      out.push_back("read:" + std::get<ReadOp>(*op).keys.at(0));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("publish queue: closed, everything waits; open, it goes in order", "[publish]") {
  PublishQueue q(100, 1 << 20);
  REQUIRE(q.publish(pub("1")));
  REQUIRE(q.read(ReadOp{{"k"}, {}, {}, {}}));
  REQUIRE(q.publish(pub("2")));
  CHECK_FALSE(q.next());
  q.set_open(true);
  CHECK(drain(q) == std::vector<std::string>{"1", "read:k", "2"});
}

TEST_CASE("publish queue: a publish is held until answered, a read until taken", "[publish]") {
  PublishQueue q(3, 1 << 20);
  q.set_open(true);
  REQUIRE(q.publish(pub("1")));
  REQUIRE(q.read(ReadOp{{"k"}, {}, {}, {}}));
  REQUIRE(q.publish(pub("2")));
  CHECK_FALSE(q.publish(pub("3")));  // three held
  std::vector<PublishOp> taken;
  drain(q, &taken);
  CHECK(q.held_messages() == 2);  // the read left when it was taken
  REQUIRE(q.publish(pub("3")));
  CHECK_FALSE(q.publish(pub("4")));
  q.answered(taken[0], {});
  CHECK(q.held_messages() == 2);
  REQUIRE(q.publish(pub("4")));
}

TEST_CASE("publish queue: the byte bound counts channel and payload", "[publish]") {
  PublishQueue q(100, 10);
  REQUIRE(q.publish(pub("1234")));       // 2 + 4
  CHECK_FALSE(q.publish(pub("12345")));  // 6 + 7 > 10
  REQUIRE(q.publish(pub("12")));         // 6 + 4
  CHECK(q.held_bytes() == 10);
}

TEST_CASE("publish queue: lost publishes go out again first, in their order", "[publish]") {
  PublishQueue q(100, 1 << 20);
  q.set_open(true);
  q.publish(pub("1"));
  q.publish(pub("2"));
  std::vector<PublishOp> taken;
  drain(q, &taken);
  // The connection drops with both unanswered; it is closed until the
  // subscriber has re-subscribed; meanwhile a new publish arrives.
  for (auto& op : taken) q.lost(std::move(op));
  q.set_open(false);
  q.publish(pub("3"));
  q.set_open(true);
  CHECK(drain(q) == std::vector<std::string>{"1", "2", "3"});
  CHECK(q.held_messages() == 3);
}

TEST_CASE("publish queue: an error answer refuses the publish once", "[publish]") {
  PublishQueue q(100, 1 << 20);
  q.set_open(true);
  std::vector<std::string> refusals;
  q.publish(pub("x", &refusals));
  std::vector<PublishOp> taken;
  drain(q, &taken);
  q.answered(taken[0], "NOPERM no");
  CHECK(refusals == std::vector<std::string>{"NOPERM no"});
  q.answered(taken[0], "NOPERM again");  // a second error reply of the same op
  CHECK(refusals.size() == 1);
  CHECK(q.held_messages() == 0);
}

TEST_CASE("publish queue: waiters are handed over once nothing is held", "[publish]") {
  PublishQueue q(100, 1 << 20);
  int called = 0;
  q.when_published([&] { ++called; });
  for (auto& w : q.idle_waiters()) w();
  CHECK(called == 1);
  q.publish(pub("1"));
  q.when_published([&] { ++called; });
  CHECK(q.idle_waiters().empty());
  q.set_open(true);
  std::vector<PublishOp> taken;
  drain(q, &taken);
  CHECK(q.idle_waiters().empty());  // written, not answered
  q.answered(taken[0], {});
  for (auto& w : q.idle_waiters()) w();
  CHECK(called == 2);
}
