#pragma once
// Redis Cluster, the pure part (no I/O): which hash slot a key (or a
// channel) is in, who owns each slot (CLUSTER SLOTS), and what a redirect
// error (-MOVED, -ASK) says. The I/O around it is ClusterCommands
// (backend/cluster_commands.hpp).
//
// Routing, as Redis documents it for clients: a command with a key goes to
// the master that owns the key's slot. A node that does not own it answers
// `-MOVED <slot> <host>:<port>`: the slot has a new owner for good (the
// client updates its map and asks again there). During a migration the
// source answers `-ASK <slot> <host>:<port>` for a key it no longer holds:
// that one command goes to the target, preceded by ASKING, and the map is
// left as it is.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/wire/resp.hpp>
#include <wsrelay/wire/sentinel.hpp>

namespace wsrelay {

inline constexpr int cluster_slots = 16384;

// The key's hash slot: CRC16 (XMODEM) of the key, or of the text between
// its first '{' and the next '}' when that is not empty, modulo 16384.
// A sharded channel's slot is computed the same way.
int key_slot(std::string_view key);

// Who owns every slot, as CLUSTER SLOTS told. masters[i] is a master's
// address; owner[slot] an index in it, or -1 for a slot nobody serves.
struct SlotMap {
  std::vector<HostPort> masters;
  std::array<int, cluster_slots> owner{};

  SlotMap() { owner.fill(-1); }
  // True when every slot has an owner.
  bool complete() const;
  // The owner of `slot`, or nullptr.
  const HostPort* owner_of(int slot) const;
  // Index of `address` in masters, added when new.
  int index_of(const HostPort& address);
  bool operator==(const SlotMap&) const = default;
};

// The map in a CLUSTER SLOTS reply: [[first, last, [ip, port, id...],
// replica...], ...]. An empty ip (the node that answered, in some setups)
// is `asked`'s host. nullopt for an error or a reply of another shape,
// with `why` said.
std::optional<SlotMap> read_cluster_slots(const RespValue& reply, const HostPort& asked,
                                          std::string* why = nullptr);

// A redirect error reply: "MOVED 3999 127.0.0.1:6381" or "ASK 3999 ...".
struct ClusterRedirect {
  enum class Kind { moved, ask };
  Kind kind = Kind::moved;
  int slot = 0;
  HostPort address;
};
// nullopt when `error` (an error reply's text) is not a redirect.
std::optional<ClusterRedirect> read_redirect(std::string_view error);

}  // namespace wsrelay
