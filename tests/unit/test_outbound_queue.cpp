// OutboundQueue fed values and a clock: writes in any split, the hard limit
// under each slow-consumer policy, the soft limit's timing, and the memory
// an idle queue gives back.
#include <array>
#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <wsrelay/gateway/outbound_queue.hpp>

using namespace wsrelay;
using namespace std::chrono_literals;

namespace {

using clock_type = OutboundQueue::clock;
const clock_type::time_point t0{};

MessagePtr msg(std::string_view channel, std::string_view payload) {
  return Message::make(channel, payload);
}

// Everything gather() offers, concatenated, and written in pieces of `step`.
std::string write_all(OutboundQueue& queue, std::size_t step, std::size_t soft = 0) {
  std::string out;
  std::array<std::string_view, 4> views;
  while (queue.has_unwritten()) {
    const std::size_t count = queue.gather(views);
    std::string offered;
    for (std::size_t i = 0; i < count; ++i) offered += views[i];
    const std::size_t n = std::min(step, offered.size());
    out += offered.substr(0, n);
    queue.consume(n, soft);
  }
  return out;
}

// The payloads of the data frames in `bytes` (frames under 126 bytes).
std::vector<std::string> payloads(std::string_view bytes) {
  std::vector<std::string> out;
  while (bytes.size() >= 2) {
    const std::size_t n = static_cast<unsigned char>(bytes[1]) & 0x7f;
    out.emplace_back(bytes.substr(2, n));
    bytes.remove_prefix(2 + n);
  }
  return out;
}

OutboundQueue::Limits limits(std::size_t max, SlowConsumerPolicy policy = SlowConsumerPolicy::close,
                             std::size_t soft = 0, std::chrono::seconds soft_for = 0s) {
  return OutboundQueue::Limits{max, soft, soft_for, policy};
}

}  // namespace

TEST_CASE("outbound queue: bytes go out in order, whatever the write sizes", "[queue]") {
  for (std::size_t step : {1u, 2u, 3u, 7u, 1000u}) {
    OutboundQueue queue;
    queue.push_own("HTTP/1.1 101\r\n\r\n");
    queue.push(msg("c", "one"));
    queue.push(msg("c", "two"));
    queue.push_own("pong");
    const std::size_t total = queue.waiting_bytes();
    CHECK(total == 16 + 5 + 5 + 4);
    const std::string out = write_all(queue, step);
    CHECK(out.size() == total);
    CHECK(out.substr(0, 16) == "HTTP/1.1 101\r\n\r\n");
    CHECK(payloads(out.substr(16, 10)) == std::vector<std::string>{"one", "two"});
    CHECK(out.substr(26) == "pong");
    CHECK(queue.waiting_bytes() == 0);
    CHECK_FALSE(queue.has_unwritten());
  }
}

TEST_CASE("outbound queue: one message always enters an empty queue", "[queue]") {
  OutboundQueue queue;
  const auto big = msg("c", std::string(100, 'x'));
  CHECK(queue.admit(big->frame().size(), big.get(), true, limits(10)).admitted);
  queue.push(big);
  const auto next = msg("c", "y");
  CHECK_FALSE(queue.admit(next->frame().size(), next.get(), true, limits(10)).admitted);
}

TEST_CASE("outbound queue: policy close refuses past max_bytes and drops nothing", "[queue]") {
  OutboundQueue queue;
  for (int i = 0; i < 3; ++i) {
    auto m = msg("c", "abc");  // 5-byte frames
    REQUIRE(queue.admit(5, m.get(), true, limits(15)).admitted);
    queue.push(m);
  }
  auto m = msg("c", "abc");
  const auto admission = queue.admit(5, m.get(), true, limits(15));
  CHECK_FALSE(admission.admitted);
  CHECK(admission.dropped == 0);
  CHECK(queue.waiting_bytes() == 15);
}

TEST_CASE("outbound queue: drop-oldest never drops the frame being written or own frames",
          "[queue]") {
  OutboundQueue queue;
  queue.push(msg("c", "1"));  // 3 bytes each
  queue.push_own("PP");       // a control frame of this client's
  queue.push(msg("c", "2"));
  queue.push(msg("c", "3"));
  // One byte of "1" is written: it must stay whole.
  queue.consume(1, 0);
  auto next = msg("c", "4");
  const auto admission =
      queue.admit(3, next.get(), true, limits(10, SlowConsumerPolicy::drop_oldest));
  CHECK(admission.admitted);
  CHECK(admission.dropped == 1);  // "2", the oldest that may go
  queue.push(next);
  const std::string rest = write_all(queue, 1000);
  // The rest of "1", our own frame, then "3" and "4".
  CHECK(rest.substr(0, 2) == std::string("\x01"
                                         "1",
                                         2));
  CHECK(rest.substr(2, 2) == "PP");
  CHECK(payloads(rest.substr(4)) == std::vector<std::string>{"3", "4"});
}

TEST_CASE("outbound queue: keep-latest drops superseded values first, keeps order", "[queue]") {
  OutboundQueue queue;
  for (const char* p : {"a1", "b1", "a2", "b2", "c1"}) {
    std::string_view payload = p;
    queue.push(msg(payload.substr(0, 1), payload));
  }
  auto next = msg("a", "a3");  // each frame is 4 bytes; 20 queued, max 20
  const auto admission =
      queue.admit(4, next.get(), true, limits(20, SlowConsumerPolicy::keep_latest));
  CHECK(admission.admitted);
  // a1, a2 (superseded by the incoming a3) and b1 (by b2).
  CHECK(admission.dropped == 3);
  queue.push(next);
  CHECK(payloads(write_all(queue, 5)) == std::vector<std::string>{"b2", "c1", "a3"});
}

TEST_CASE("outbound queue: held messages count, and join the queue after the replay", "[queue]") {
  OutboundQueue queue;
  queue.push_own("101");
  queue.hold(msg("c", "live1"));
  queue.hold(msg("c", "live2"));
  CHECK(queue.waiting_bytes() == 3 + 7 + 7);
  // A replayed value is older than the held ones: keep-latest drops it
  // before a newer live value of its channel.
  auto replayed = msg("c", "old");
  const auto admission =
      queue.admit(5, replayed.get(), false, limits(17, SlowConsumerPolicy::keep_latest));
  CHECK(admission.admitted);
  CHECK(admission.dropped == 1);  // live1, superseded by live2
  queue.push(replayed);
  queue.release_held();
  const std::string out = write_all(queue, 1000);
  CHECK(out.substr(0, 3) == "101");
  CHECK(payloads(out.substr(3)) == std::vector<std::string>{"old", "live2"});
}

TEST_CASE("outbound queue: drop_unwritten keeps a partly written frame", "[queue]") {
  OutboundQueue queue;
  queue.push(msg("c", "first"));
  queue.push(msg("c", "second"));
  queue.hold(msg("c", "held"));
  queue.consume(2, 0);
  queue.drop_unwritten();
  CHECK(queue.waiting_bytes() == 5);  // the 5 payload bytes of "first"
  CHECK(write_all(queue, 1000) == "first");
  CHECK(queue.held().empty());
}

TEST_CASE("outbound queue: drop_unwritten keeps the client's own frames, the 101 first",
          "[queue][regression]") {
  // A slow consumer closed during its replay: the 101 may not be written
  // yet, and the close frame queued next must follow it.
  OutboundQueue queue;
  const std::string upgrade = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
  const std::string pong("\x8a\x00", 2);
  queue.push_own(upgrade);
  queue.push(msg("c", "replayed"));
  queue.push_own(pong);
  queue.push(msg("c", "live"));
  queue.hold(msg("c", "held"));
  queue.drop_unwritten();
  CHECK(queue.waiting_bytes() == upgrade.size() + pong.size());
  CHECK(write_all(queue, 7) == upgrade + pong);
  CHECK(queue.held().empty());
}

TEST_CASE("outbound queue: the soft limit passes after soft_duration over it, not before",
          "[queue]") {
  OutboundQueue queue;
  const auto l = limits(1000, SlowConsumerPolicy::close, 10, 10s);
  queue.push(msg("c", std::string(20, 'x')));
  queue.note_growth(10, [] { return t0; });
  CHECK_FALSE(queue.soft_limit_passed(t0 + 9999ms, l));
  CHECK(queue.soft_limit_passed(t0 + 10s, l));
}

TEST_CASE("outbound queue: the soft-limit clock restarts when the queue drops under it",
          "[queue]") {
  OutboundQueue queue;
  const auto l = limits(1000, SlowConsumerPolicy::close, 10, 10s);
  queue.push(msg("c", std::string(20, 'x')));  // 22 bytes
  queue.note_growth(10, [] { return t0; });
  // Down to 9 bytes at 6 s: under the soft limit, the clock stops.
  queue.consume(13, 10);
  queue.push(msg("c", std::string(20, 'y')));
  queue.note_growth(10, [] { return t0 + 7s; });
  CHECK_FALSE(queue.soft_limit_passed(t0 + 12s, l));
  CHECK_FALSE(queue.soft_limit_passed(t0 + 16999ms, l));
  CHECK(queue.soft_limit_passed(t0 + 17s, l));
}

TEST_CASE("outbound queue: a lowered soft limit starts its clock at the next check", "[queue]") {
  OutboundQueue queue;
  queue.push(msg("c", std::string(20, 'x')));
  queue.note_growth(100, [] { return t0; });  // under the old limit: no clock
  const auto lowered = limits(1000, SlowConsumerPolicy::close, 10, 10s);
  CHECK_FALSE(queue.soft_limit_passed(t0 + 1s, lowered));
  CHECK_FALSE(queue.soft_limit_passed(t0 + 10s, lowered));
  CHECK(queue.soft_limit_passed(t0 + 11s, lowered));
}

TEST_CASE("outbound queue: an idle queue gives its capacity back", "[queue][memory]") {
  OutboundQueue queue;
  for (int i = 0; i < 60; ++i) queue.push(msg("c", "x"));
  write_all(queue, 1000);
  CHECK(queue.capacity_bytes() > 0);
  queue.trim(t0);
  queue.trim(t0 + OutboundQueue::idle_release - 1ms);
  CHECK(queue.capacity_bytes() > 0);
  queue.trim(t0 + OutboundQueue::idle_release);
  CHECK(queue.capacity_bytes() == 0);
}

TEST_CASE("outbound queue: a push restarts the idle clock", "[queue][memory]") {
  OutboundQueue queue;
  queue.push(msg("c", "x"));
  write_all(queue, 1000);
  queue.trim(t0);
  queue.push(msg("c", "y"));
  write_all(queue, 1000);
  queue.trim(t0 + OutboundQueue::idle_release);  // empty since this tick only
  CHECK(queue.capacity_bytes() > 0);
  queue.trim(t0 + 2 * OutboundQueue::idle_release);
  CHECK(queue.capacity_bytes() == 0);
}

TEST_CASE("outbound queue: nothing is released while something waits", "[queue][memory]") {
  OutboundQueue queue;
  queue.hold(msg("c", "x"));
  queue.trim(t0);
  queue.trim(t0 + 10 * OutboundQueue::idle_release);
  CHECK(queue.held().size() == 1);
  CHECK(queue.capacity_bytes() > 0);
}
