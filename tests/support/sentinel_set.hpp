#pragma once
// A Redis Sentinel set for one test, on free loopback ports: a master, a
// replica of it (`--replicaof`) and three sentinels (`redis-server <conf>
// --sentinel`, each with a writable configuration file in its own temporary
// directory) monitoring it with short timeouts (down-after 1 s, failover
// timeout 4 s), quorum 2. The destructor kills every process by PID.
//
// With TLS files, the master, the replica and every sentinel also have a TLS
// port, and every link between them uses it (`tls-replication yes`): the
// sentinels monitor the master at its TLS port and name TLS ports only. The
// fixture's own questions stay on the plain ports.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"
#include "support/test_pki.hpp"

namespace wsrelay::test {

class SentinelSet {
 public:
  // Returns when every sentinel knows the replica and the two other
  // sentinels (deadline 20 s), so a failover can be made at once. Throws
  // std::runtime_error with the logs when it cannot start. With a
  // `password` the sentinels want it from every client (`requirepass`, and
  // `sentinel sentinel-pass` between themselves); the fixture's own
  // questions send it.
  explicit SentinelSet(std::string master_name = "wsmaster", std::string password = {},
                       std::optional<TlsFiles> tls = std::nullopt);
  ~SentinelSet();
  SentinelSet(const SentinelSet&) = delete;
  SentinelSet& operator=(const SentinelSet&) = delete;

  const std::string& master_name() const { return name_; }
  // redis+sentinel://127.0.0.1:A,127.0.0.1:B,127.0.0.1:C/<master_name>;
  // with TLS, rediss+sentinel:// and the sentinels' TLS ports.
  std::string url() const;
  std::uint16_t sentinel_port(std::size_t i) const { return sentinel_ports_.at(i); }
  // 0: the first master, 1: its replica.
  RedisServer& node(std::size_t i) { return *nodes_.at(i); }
  // Node `i`'s TLS port (0 without TLS): the port the sentinels name.
  std::uint16_t tls_port(std::size_t i) const { return node_tls_ports_.at(i); }

  // The master's port as sentinel `i` says; nullopt when it does not answer.
  std::optional<std::uint16_t> master_port(std::size_t i = 0) const;
  // SENTINEL FAILOVER on sentinel 0; throws when it is refused.
  void failover();
  // Every sentinel's log.
  std::string logs() const;

 private:
  void start_sentinel();
  bool sentinel_ready(std::size_t i) const;
  // A connection to sentinel `i`, authenticated when the set has a password.
  std::unique_ptr<RedisSync> ask(std::size_t i, std::chrono::milliseconds timeout) const;

  std::string name_;
  std::string password_;
  std::optional<TlsFiles> tls_;
  std::vector<std::uint16_t> node_tls_ports_;
  std::vector<std::uint16_t> sentinel_tls_ports_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::vector<std::unique_ptr<TempDir>> dirs_;
  std::vector<std::uint16_t> sentinel_ports_;
  std::vector<std::unique_ptr<Process>> sentinels_;
};

}  // namespace wsrelay::test
