#pragma once
// Admission: which connections the process takes on, counted from accept to
// close. Three bounds, each held as a ticket that gives its unit back when
// destroyed, so no path can forget to (or do it twice):
//   - a handshake: an accepted connection reading its request or being
//     authorized (not yet a WebSocket, nor answered). At most
//     server.max_handshakes; the next connection is answered 503 at accept,
//     so half-open sockets, and the request buffers they grow (up to
//     max_header_bytes + 1 KiB each), are bounded however many arrive;
//   - a slot: a WebSocket, or a handshake being authorized for one (taken
//     before the authorization, so handshakes in flight on every shard
//     cannot together pass the limit). At most server.max_connections;
//   - an address: per-client-address limits (AddressLimits, under a lock):
//     the connections one address holds, and the rate at which it asks for
//     WebSockets (take_token).
// The handshake and slot counts are the gauges wsrelay_handshakes_in_progress
// and wsrelay_connections_open; refusals are counted by the callers.
//
// Thread-safe: the listener (control executor) and every shard take and
// give back tickets. The counts are atomics; the address table has a mutex,
// held for one hash lookup per new connection and one per close.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include <wsrelay/wire/address_limits.hpp>

namespace wsrelay {

class Metrics;

class Admission {
 public:
  using clock = std::chrono::steady_clock;

  // One unit of one bound; given back when destroyed or reset. Move-only.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept { *this = std::move(other); }
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { reset(); }

    explicit operator bool() const { return admission_ != nullptr; }
    void reset();

   private:
    friend class Admission;
    enum class Kind : std::uint8_t { handshake, slot, address };
    Ticket(Admission* admission, Kind kind, const std::string* group = nullptr)
        : admission_(admission), group_(group), kind_(kind) {}

    // Every WebSocket holds two tickets: kept to three words, with the
    // address group pointing at the address table's own key, which stays
    // while the ticket counts in it (AddressLimits::key).
    Admission* admission_ = nullptr;
    const std::string* group_ = nullptr;  // Kind::address: the address group
    Kind kind_ = Kind::handshake;
  };

  explicit Admission(Metrics& metrics);
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // An empty ticket when `max_handshakes` handshakes are in progress.
  Ticket begin_handshake(std::size_t max_handshakes);
  // An empty ticket when `max_connections` slots are taken.
  Ticket take_slot(std::size_t max_connections);

  // A connection from `address`: its address's count (AddressLimits::open).
  // The ticket is empty unless the verdict is `admitted`.
  struct AddressDecision {
    AddressLimits::Verdict verdict;
    Ticket ticket;
  };
  AddressDecision admit_address(std::string_view address, const AddressLimitSettings& settings,
                                clock::time_point now = clock::now());
  // The connection holding `address` (from admit_address) asks for a
  // WebSocket: false when its address is over the rate. True for an empty
  // ticket (an exempt address).
  bool take_token(const Ticket& address, const AddressLimitSettings& settings,
                  clock::time_point now = clock::now());

  std::int64_t handshakes() const;
  std::int64_t slots() const;
  std::size_t open_from(std::string_view address);  // for tests and logs

 private:
  static bool take(std::atomic<std::int64_t>& count, std::size_t limit);
  void give_back(Ticket::Kind kind, const std::string* group);

  std::atomic<std::int64_t>& handshakes_;  // Metrics::handshakes_in_progress
  std::atomic<std::int64_t>& slots_;       // Metrics::connections_open
  std::mutex addresses_mutex_;
  AddressLimits addresses_;
};

}  // namespace wsrelay
