#pragma once
// Redis Sentinel, the pure part (no I/O): which sentinel to ask next, what
// its answers mean, whether a node is a master, and the +switch-master
// event. The I/O around it is RedisConnection (the daemon) and BlockingRedis
// (the Publisher and wsrelay-publish), each with its own SentinelDiscovery.
//
// Discovery, as Redis documents it for clients: ask the sentinels in turn
// `SENTINEL get-master-addr-by-name <name>` until one gives an address;
// connect there and check with `ROLE` that the node is a master (a sentinel
// may not know of a failover yet, and an old master comes back as a
// replica). A sentinel that is down, slow, answers with an error or does not
// know the name is skipped for the next one. When each sentinel of a round
// has failed, the caller waits (its reconnect backoff) and starts a new round;
// the summary of the round says why each one failed.
//
// Rotation: a round starts at the sentinel that answered last, so a healthy
// one keeps being asked first; when the master it named turned out unusable
// (unreachable, or a replica), the next round starts one further on, so a
// sentinel with a stale view is not asked first again and again.
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/wire/resp.hpp>

namespace wsrelay {

// A TCP address as Redis and Sentinel give it: a host name or an IP, a port.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;

  bool operator==(const HostPort&) const = default;
  auto operator<=>(const HostPort&) const = default;
};

// "host:port", "[v6]:port" for an IPv6 address.
std::string describe_host_port(const HostPort& address);

// What `SENTINEL get-master-addr-by-name` answered.
struct MasterAddressReply {
  enum class Kind {
    address,       // the master is at `address`
    unknown_name,  // this sentinel monitors no master of that name (a nil reply)
    failed,        // an error reply or one of another shape: `reason`
  };
  Kind kind = Kind::failed;
  HostPort address;
  std::string reason;
};
MasterAddressReply read_master_address_reply(const RespValue& reply);

// What `ROLE` answered: master, or why the node is not usable as one.
struct RoleReply {
  bool is_master = false;
  std::string reason;  // when not: "a replica of 10.0.0.5:6379", "a sentinel", Redis's error
};
RoleReply read_role_reply(const RespValue& reply);

// The new address in a `+switch-master` event ("<name> <old-ip> <old-port>
// <new-ip> <new-port>") when it is about `master_name`; nullopt otherwise.
std::optional<HostPort> read_switch_master(std::string_view payload, std::string_view master_name);

// The channel sentinels publish a master switch on.
inline constexpr std::string_view switch_master_channel = "+switch-master";

class SentinelDiscovery {
 public:
  // `sentinels` must not be empty.
  SentinelDiscovery(std::vector<HostPort> sentinels, std::string master_name);

  const std::string& master_name() const { return master_name_; }
  const std::vector<HostPort>& sentinels() const { return sentinels_; }
  // The sentinel to ask now.
  const HostPort& current() const { return sentinels_[current_]; }
  // The command to send it.
  std::vector<std::string> command() const;

  // current() gave the master's address: it is asked first next time.
  // The round is over.
  void answered();
  // current() failed (down, slow, an error, an unknown name): true when the
  // next sentinel should be asked now, false when this was the last of the
  // round (then round_summary() says why, and the caller waits before
  // asking current() again, which starts the next round).
  bool failed(std::string reason);
  // The master current() named could not be used (unreachable, refused, a
  // replica): the next round starts at the sentinel after it.
  void master_unusable();
  // Why the last round failed, in one line (no credential in it).
  std::string round_summary() const;

  // Watching sentinels (not discovery): the next connection goes to the
  // next sentinel.
  void rotate();

 private:
  std::vector<HostPort> sentinels_;
  std::string master_name_;
  std::size_t current_ = 0;
  std::vector<std::string> reasons_;  // of the round in progress, one per sentinel asked
  std::vector<std::string> last_round_;
};

}  // namespace wsrelay
