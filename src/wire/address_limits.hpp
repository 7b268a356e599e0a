#pragma once
// AddressLimits: per-client-address limits on connections (pure: fed the
// address, the settings and the time; no lock, no socket). One address may
// hold at most `max_open` connections at once, and ask for new WebSockets at
// `rate` per second after a burst of `burst` (a token bucket per address).
//
// Why: without it one client could take the whole of max_connections, and,
// opening connection after connection on fresh facilities and session
// cookies, make the gateway store a last message for each in Redis: 741
// connections in 10 s stored 1482 keys, about 35 GB an hour. The
// per-connection publish rate cannot see that; the address can.
//
// Addresses are counted by address_group(): IPv4 as is, IPv6 by its /64.
// Those in `exempt` (by default loopback and private networks: proxies and
// load balancers that were not listed in auth.trusted_proxies, whose one
// address stands for every client behind them) are never limited.
//
// Memory: one entry per address with a connection open or with a bucket not
// yet full again (at most `burst / rate` seconds after its last connection).
// Entries of neither kind are dropped once the table has doubled since the
// last sweep, so it stays within twice that number.
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <wsrelay/wire/cidr.hpp>
#include <wsrelay/wire/token_bucket.hpp>

namespace wsrelay {

struct AddressLimitSettings {
  std::size_t max_open = 256;  // 0: no limit
  double rate = 5;             // new connections per second; 0: no limit
  double burst = 50;
  std::vector<CidrBlock> exempt;

  bool operator==(const AddressLimitSettings&) const = default;
};

class AddressLimits {
 public:
  using clock = std::chrono::steady_clock;

  enum class Verdict { admitted, exempt, too_many_open, too_fast };

  // A new connection from `address`. `admitted`: it counts as open under
  // the returned `group` until release(group). `exempt` (or no address):
  // nothing is counted and `group` is empty. `too_many_open`: refused,
  // nothing counted.
  Verdict open(std::string_view address, clock::time_point now,
               const AddressLimitSettings& settings, std::string& group);
  // The connection admitted under `group` asks for a WebSocket: one token
  // of its address's bucket. False when there is none (a refusal takes no
  // token: a client retrying in a loop stays refused until it slows down).
  bool take(const std::string& group, clock::time_point now, const AddressLimitSettings& settings);
  // A connection admitted under `group` has closed.
  void release(const std::string& group);

  std::size_t open_count(const std::string& group) const;
  // The table's own copy of an admitted `group`: the same object until
  // its count is back to zero (entries are node-based, and only entries with
  // nothing open are swept), so a holder may keep the pointer instead of a
  // copy of the string.
  const std::string* key(const std::string& group) const;
  std::size_t tracked() const { return entries_.size(); }

 private:
  struct Entry {
    std::size_t open = 0;
    TokenBucket bucket;
    clock::time_point last{};  // the last connection or token
  };
  void sweep(clock::time_point now, const AddressLimitSettings& settings);

  std::unordered_map<std::string, Entry> entries_;
  std::size_t sweep_at_ = 1024;
};

}  // namespace wsrelay
