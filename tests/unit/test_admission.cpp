// Admission control, fed values and a clock: the per-address limits (open
// connections, new connections per second, IPv6 by /64, exempt blocks, the
// table's size), and the handshake and slot bounds with their tickets.
#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <wsrelay/config/config.hpp>
#include <wsrelay/gateway/admission.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/wire/address_limits.hpp>
#include <wsrelay/wire/cidr.hpp>

using namespace wsrelay;
using namespace std::chrono_literals;
using Verdict = AddressLimits::Verdict;

namespace {

const AddressLimits::clock::time_point t0{};

AddressLimitSettings settings(std::size_t max_open, double rate, double burst,
                              std::vector<std::string> exempt = {}) {
  AddressLimitSettings s;
  s.max_open = max_open;
  s.rate = rate;
  s.burst = burst;
  for (const auto& block : exempt) s.exempt.push_back(*parse_cidr(block));
  return s;
}

Config validated_defaults() {
  Config c;
  validate(c);
  return c;
}

}  // namespace

TEST_CASE("address_group: IPv4 as it is, IPv6 by its /64", "[admission]") {
  CHECK(address_group("203.0.113.7") == "203.0.113.7");
  CHECK(address_group("::ffff:203.0.113.7") == "203.0.113.7");
  CHECK(address_group("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64");
  CHECK(address_group("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64");
  CHECK(address_group("2001:db8:1:3::1") == "2001:db8:1:3::/64");
  CHECK(address_group("not an address") == "");
  CHECK(address_group("") == "");
}

namespace {

// A connection that opens and asks for a WebSocket, as the gateway does:
// counted at accept, then a token.
Verdict connect(AddressLimits& limits, std::string_view address,
                AddressLimits::clock::time_point at, const AddressLimitSettings& s,
                std::string& group) {
  const Verdict verdict = limits.open(address, at, s, group);
  if (verdict != Verdict::admitted) return verdict;
  if (limits.take(group, at, s)) return verdict;
  limits.release(group);
  group.clear();
  return Verdict::too_fast;
}

}  // namespace

TEST_CASE("address limits: open connections per address", "[admission]") {
  AddressLimits limits;
  const auto s = settings(3, 0, 1);
  std::string group;
  std::vector<std::string> held;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(limits.open("203.0.113.7", t0, s, group) == Verdict::admitted);
    held.push_back(group);
  }
  CHECK(limits.open("203.0.113.7", t0, s, group) == Verdict::too_many_open);
  CHECK(group.empty());
  // Another address is counted apart.
  CHECK(limits.open("203.0.113.8", t0, s, group) == Verdict::admitted);
  // One closes: one more may open.
  limits.release(held.back());
  CHECK(limits.open_count("203.0.113.7") == 2);
  CHECK(limits.open("203.0.113.7", t0, s, group) == Verdict::admitted);
  CHECK(limits.open("203.0.113.7", t0, s, group) == Verdict::too_many_open);
}

TEST_CASE("address limits: new WebSockets per second, after a burst", "[admission]") {
  AddressLimits limits;
  const auto s = settings(0, 5, 50);
  std::string group;
  REQUIRE(limits.open("198.51.100.1", t0, s, group) == Verdict::admitted);
  int taken = 0;
  for (int i = 0; i < 100; ++i) taken += limits.take(group, t0, s) ? 1 : 0;
  CHECK(taken == 50);
  // 5 per second from then on: one every 200 ms; a refusal takes no token.
  CHECK_FALSE(limits.take(group, t0 + 199ms, s));
  CHECK(limits.take(group, t0 + 200ms, s));
  CHECK_FALSE(limits.take(group, t0 + 200ms, s));
  // A group that is not counted (exempt) is never refused.
  CHECK(limits.take("", t0, s));

  // The abuse that filled Redis: 741 connections in 10 s from one address,
  // each on a fresh facility and cookie, each closing again.
  AddressLimits fresh;
  int let_through = 0;
  for (int i = 0; i < 741; ++i) {
    const auto at = t0 + std::chrono::microseconds(10'000'000LL * i / 741);
    if (connect(fresh, "198.51.100.2", at, settings(256, 5, 50), group) == Verdict::admitted) {
      ++let_through;
      fresh.release(group);
    }
  }
  CHECK(let_through <= 50 + 5 * 10);

  // A site behind a NAT at the defaults (the NAT's address is public, so
  // limited): 50 clients at once, then 4 page loads a second for a minute,
  // each opening a new connection.
  AddressLimits nat;
  const auto defaults = validated_defaults().address_limits;
  int refused = 0;
  for (int i = 0; i < 50; ++i)
    if (connect(nat, "198.51.100.3", t0, defaults, group) != Verdict::admitted) ++refused;
  CHECK(refused == 0);
  for (int i = 0; i < 240; ++i) {
    const auto at = t0 + 10s + i * 250ms;
    if (connect(nat, "198.51.100.3", at, defaults, group) == Verdict::admitted)
      nat.release(group);
    else
      ++refused;
  }
  CHECK(refused == 0);
}

TEST_CASE("address limits: IPv6 clients are counted by their /64", "[admission]") {
  AddressLimits limits;
  const auto s = settings(2, 0, 1);
  std::string group;
  CHECK(limits.open("2001:db8:1:2::1", t0, s, group) == Verdict::admitted);
  CHECK(group == "2001:db8:1:2::/64");
  CHECK(limits.open("2001:db8:1:2::2", t0, s, group) == Verdict::admitted);
  // A new address in the same /64 is the same client.
  CHECK(limits.open("2001:db8:1:2:ffff::3", t0, s, group) == Verdict::too_many_open);
  CHECK(limits.open("2001:db8:1:3::1", t0, s, group) == Verdict::admitted);
}

TEST_CASE("address limits: exempt blocks and limits turned off", "[admission]") {
  AddressLimits limits;
  const auto s = settings(1, 1, 1, {"10.0.0.0/8", "::1"});
  std::string group;
  for (int i = 0; i < 10; ++i) {
    CHECK(connect(limits, "10.1.2.3", t0, s, group) == Verdict::exempt);
    CHECK(connect(limits, "::1", t0, s, group) == Verdict::exempt);
    CHECK(group.empty());
  }
  CHECK(limits.tracked() == 0);
  CHECK(limits.open("not an address", t0, s, group) == Verdict::exempt);
  for (int i = 0; i < 10; ++i)
    CHECK(connect(limits, "203.0.113.9", t0, settings(0, 0, 1), group) == Verdict::exempt);
  CHECK(limits.tracked() == 0);
}

TEST_CASE("address limits: the table keeps only what still matters", "[admission]") {
  AddressLimits limits;
  const auto s = settings(10, 5, 50);  // a bucket refills in 10 s
  std::string group;
  std::string kept;
  REQUIRE(limits.open("198.51.100.200", t0, s, kept) == Verdict::admitted);  // stays open
  for (int i = 0; i < 100'000; ++i) {
    const std::string address = "100." + std::to_string(i / 65536) + "." +
                                std::to_string(i / 256 % 256) + "." + std::to_string(i % 256);
    const auto at = t0 + std::chrono::milliseconds(i);  // 1000 new addresses a second
    REQUIRE(connect(limits, address, at, s, group) == Verdict::admitted);
    limits.release(group);
    // Bounded by twice the addresses seen in the last 10 s (plus the open one).
    REQUIRE(limits.tracked() <= 2 * 10'000 + 1024 + 1);
  }
  CHECK(limits.open_count("198.51.100.200") == 1);
  // What an address ticket keeps instead of a copy of its group: the same
  // string however many entries came and went around it.
  const std::string* key = limits.key(kept);
  REQUIRE(key != nullptr);
  CHECK(*key == "198.51.100.200");
  CHECK(key == limits.key("198.51.100.200"));
  CHECK(limits.key("203.0.113.250") == nullptr);
}

TEST_CASE("admission: an address ticket outlives a growing table", "[admission]") {
  // The ticket points at the table's key: thousands of other addresses
  // (rehashes, sweeps) later it still gives back its own count.
  Metrics metrics;
  Admission admission(metrics);
  const auto limited = settings(2, 100, 100);
  auto held = admission.admit_address("198.51.100.7", limited, t0);
  REQUIRE(held.verdict == Verdict::admitted);
  for (int i = 0; i < 5000; ++i) {
    const std::string address = "100.64." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    auto other = admission.admit_address(address, limited, t0 + std::chrono::seconds(i));
    REQUIRE(other.verdict == Verdict::admitted);
  }
  CHECK(admission.take_token(held.ticket, limited, t0));
  CHECK(admission.open_from("198.51.100.7") == 1);
  held.ticket.reset();
  CHECK(admission.open_from("198.51.100.7") == 0);
}

TEST_CASE("admission: handshakes and slots are bounded, tickets give back", "[admission]") {
  Metrics metrics;
  Admission admission(metrics);
  std::vector<Admission::Ticket> handshakes;
  for (int i = 0; i < 3; ++i) {
    handshakes.push_back(admission.begin_handshake(3));
    REQUIRE(handshakes.back());
  }
  CHECK_FALSE(admission.begin_handshake(3));
  CHECK(metrics.handshakes_in_progress == 3);
  handshakes.pop_back();
  CHECK(metrics.handshakes_in_progress == 2);
  CHECK(admission.begin_handshake(3));  // taken and given back at once
  CHECK(metrics.handshakes_in_progress == 2);

  Admission::Ticket slot = admission.take_slot(1);
  REQUIRE(slot);
  CHECK_FALSE(admission.take_slot(1));
  CHECK(metrics.connections_open == 1);
  // Moved, not copied: given back once, by its last owner.
  Admission::Ticket moved = std::move(slot);
  CHECK_FALSE(slot);
  slot.reset();
  CHECK(metrics.connections_open == 1);
  moved.reset();
  CHECK(metrics.connections_open == 0);
  moved.reset();
  CHECK(metrics.connections_open == 0);

  const auto limited = settings(1, 1, 1);
  auto first = admission.admit_address("203.0.113.7", limited, t0);
  CHECK(first.verdict == Verdict::admitted);
  CHECK(admission.open_from("203.0.113.7") == 1);
  CHECK(admission.admit_address("203.0.113.7", limited, t0).verdict == Verdict::too_many_open);
  CHECK(admission.take_token(first.ticket, limited, t0));
  CHECK_FALSE(admission.take_token(first.ticket, limited, t0 + 500ms));
  CHECK(admission.take_token(first.ticket, limited, t0 + 1s));
  first.ticket.reset();
  CHECK(admission.open_from("203.0.113.7") == 0);
  CHECK(admission.admit_address("203.0.113.7", limited, t0).verdict == Verdict::admitted);
  auto exempt = admission.admit_address("127.0.0.1", settings(1, 1, 1, {"127.0.0.0/8"}), t0);
  CHECK(exempt.verdict == Verdict::exempt);
  CHECK_FALSE(exempt.ticket);
  for (int i = 0; i < 5; ++i) CHECK(admission.take_token(exempt.ticket, limited, t0));
}
