#pragma once
// A Redis Cluster for one test, on free loopback ports: six redis-servers
// (RedisServer, each in its own temporary directory, which holds its
// nodes.conf; `--cluster-node-timeout 1000` so failovers are fast; the bus
// port is a free port of its own, `--cluster-port`; replicas pinged every
// second), joined by `redis-cli --cluster create ... --cluster-replicas 1`:
// three masters, one replica each. Slots can be migrated (step by step, to
// see -ASK) and masters failed over or killed. The destructor kills every
// process by PID.
//
// With TLS files, each node also has a TLS port, and its cluster bus and
// replication links use TLS (`tls-cluster yes`, `tls-replication yes`).
// Redis names the ports of the asking connection's kind in CLUSTER SLOTS
// and -MOVED, so a client on the TLS ports only ever learns TLS ports, while
// the fixture's own questions stay on the plain ports.
//
// Nodes are named by their (plain) client port. Every wait has a deadline; a
// wait that fails throws std::runtime_error with every node's log.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"
#include "support/test_pki.hpp"

namespace wsrelay::test {

class ClusterSet {
 public:
  static constexpr int kSlots = 16384;

  // Returns when every node says cluster_state:ok, every node's CLUSTER
  // SLOTS is the same (three masters covering 0-16383, one replica each)
  // and every replica's link is up (deadline 30 s).
  explicit ClusterSet(std::optional<TlsFiles> tls = std::nullopt);
  ~ClusterSet();
  ClusterSet(const ClusterSet&) = delete;
  ClusterSet& operator=(const ClusterSet&) = delete;

  // redis+cluster://127.0.0.1:A,127.0.0.1:B,127.0.0.1:C: the masters at
  // creation as seeds; with TLS, rediss+cluster:// and their TLS ports.
  std::string url() const;
  // The TLS port of the node whose plain port is `port`.
  std::uint16_t tls_port(std::uint16_t port) const;
  // Node `i` (0..5) by its client port; the first three were created masters.
  std::size_t size() const { return nodes_.size(); }
  std::uint16_t port(std::size_t i) const { return nodes_.at(i)->port(); }
  RedisServer& node(std::uint16_t port);

  // The masters that own slots now, by port, sorted (CLUSTER SLOTS of the
  // first live node that answers).
  std::vector<std::uint16_t> master_ports() const;
  // The replicas of `master_port` now (CLUSTER SLOTS, as above).
  std::vector<std::uint16_t> replica_ports(std::uint16_t master_port) const;
  // The node's CLUSTER MYID.
  std::string node_id(std::uint16_t port) const;

  // Redis's hash slot of a key: CRC16-XMODEM mod 16384 of the key, or of the
  // first non-empty {hashtag}.
  static int key_slot(std::string_view key);
  // The master that owns the slot / the key's slot now (as master_ports()).
  std::uint16_t slot_owner(int slot) const;
  std::uint16_t owner_port(std::string_view key) const { return slot_owner(key_slot(key)); }

  // begin_migration + move_keys + finish_migration.
  void migrate_slot(int slot, std::uint16_t to_port);
  // CLUSTER SETSLOT slot IMPORTING <source> on the target, then MIGRATING
  // <target> on the slot's owner. The owner answers -ASK for keys it lacks.
  void begin_migration(int slot, std::uint16_t to_port);
  // MIGRATE every key of the slot (CLUSTER GETKEYSINSLOT) from the source to
  // the target of the migration begun, until none is left (deadline 20 s).
  void move_keys(int slot);
  // CLUSTER SETSLOT slot NODE <target> on the target, the source and every
  // other master; returns when every live node's CLUSTER SLOTS says so
  // (deadline 10 s).
  void finish_migration(int slot);

  // CLUSTER FAILOVER on a replica of `master_port`; returns when that
  // replica owns the master's slots in every live node's view, every node
  // says cluster_state:ok and the old master's link to it is up (deadline
  // 20 s). Returns the new master.
  std::uint16_t failover(std::uint16_t master_port);
  // SIGKILL (by PID) and reap. A killed master's replica takes over by
  // itself after the node timeout (1 s) and an election: see wait_promoted.
  void kill(std::uint16_t port);
  // After kill() of a master: waits until a replica it had owns its slots
  // in every live node's view and every live node says cluster_state:ok
  // (deadline 20 s). Returns the new master.
  std::uint16_t wait_promoted(std::uint16_t old_master_port);
  // Starts a killed node again (same ports, same nodes.conf) and waits
  // until every live node's view lists it (it rejoins as a replica when its
  // slots were taken over) and its replication link is up (deadline 20 s).
  void restart(std::uint16_t port);

  // The redis-cli --cluster create output and every node's log.
  std::string logs() const;

  // One entry of CLUSTER SLOTS, as node `port` sees it now; nullopt when
  // it does not answer. Ranges sorted by start, replicas by port.
  struct SlotRange {
    int start = 0;
    int end = 0;
    std::uint16_t master = 0;
    std::vector<std::uint16_t> replicas;
    bool operator==(const SlotRange&) const = default;
  };
  static std::optional<std::vector<SlotRange>> slots_view(std::uint16_t port);

 private:
  struct Migration {
    std::uint16_t source = 0;
    std::uint16_t target = 0;
  };
  // What a killed master owned, for wait_promoted.
  struct Killed {
    std::vector<SlotRange> ranges;
    std::vector<std::uint16_t> replicas;
  };

  std::vector<std::uint16_t> live_ports() const;
  // The view all live nodes share, when every one of them answers, says
  // cluster_state:ok and covers every slot; nullopt otherwise.
  std::optional<std::vector<SlotRange>> agreed_view() const;
  std::vector<SlotRange> any_view() const;
  bool replicas_linked() const;
  // Every live node's CLUSTER NODES, for errors.
  std::string state() const;
  void wait_or_throw(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                     const std::string& what) const;

  TempDir dir_;
  std::optional<TlsFiles> tls_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::map<std::uint16_t, std::uint16_t> tls_ports_;  // plain port -> TLS port
  std::vector<std::uint16_t> seeds_;
  std::map<int, Migration> migrations_;
  std::map<std::uint16_t, Killed> killed_;
};

}  // namespace wsrelay::test
