#pragma once
// The wsrelay daemon under test, started as a child process listening on a
// port the OS picks (`--listen 127.0.0.1:0`); the port is read from the ready
// file the daemon writes (`server.ready_file`). The destructor kills it by
// PID. Its stdout/stderr go to a temporary log file: print log() when a test
// fails.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace wsrelay::test {

using namespace std::chrono_literals;

class Gateway {
 public:
  // `binary`: path of the daemon (integration tests pass WSRELAY_BINARY).
  // `extra_args` follow the listen/ready-file flags, e.g. {"--redis", url,
  // "--set", "websocket.heartbeat=--heartbeat--"}. `extra_env` entries are
  // "NAME=value"; with "--listen" among `extra_args` that address replaces
  // 127.0.0.1:0 (a restart on the same port). WSRELAY_* variables of the test's own environment are
  // not inherited. `launcher` comes before the binary, for a program that sets something up and
  // then execs it (e.g. {"prlimit", "--nofile=64"}), so pid() is still the daemon's. Returns once
  // the daemon is listening (deadline 15 s); throws std::runtime_error with the log when it exits
  // or does not get ready.
  Gateway(std::string binary, std::vector<std::string> extra_args,
          std::vector<std::string> extra_env = {}, std::vector<std::string> launcher = {});
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return process_->pid(); }
  bool running() { return process_->running(); }
  void signal(int sig) { process_->signal(sig); }
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    return process_->wait_exit(timeout);
  }
  std::string log() const { return process_->log_contents(); }

 private:
  TempDir dir_;
  std::unique_ptr<Process> process_;
  std::uint16_t port_ = 0;
};

}  // namespace wsrelay::test
