#pragma once
// A private redis-server for one test, on a free loopback port, without
// persistence, in its own temporary directory. stop()/start() kill it and
// bring it back on the SAME port (for reconnect tests). The destructor kills
// it by PID.
//
// Also brings in RedisSync and RedisSubscriberProbe (redis_client.hpp).
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/redis_client.hpp"
#include "support/temp_dir.hpp"

namespace wsrelay::test {

class RedisServer {
 public:
  // Starts at once and returns when the server answers PING (deadline 10 s;
  // one retry on a fresh port if the first one was taken). Throws
  // std::runtime_error with the server's log when it cannot start.
  explicit RedisServer(std::vector<std::string> extra_args = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const;
  bool running() const;

  // SIGKILL and reap. A no-op when already stopped.
  void stop();
  // Starts it again on the same port and waits for PING (deadline 10 s).
  void start();

  std::string log() const;

 private:
  bool launch();

  TempDir dir_;
  std::vector<std::string> extra_args_;
  std::uint16_t port_ = 0;
  std::unique_ptr<Process> process_;
};

}  // namespace wsrelay::test
