#include "support/redis_server.hpp"

#include <csignal>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/ports.hpp"
#include "support/wait.hpp"

namespace wsrelay::test {
namespace {

// True when the server on `port` answers and is the process `pid` (so a
// server of another test that grabbed the port does not count).
bool answers_as(std::uint16_t port, pid_t pid) {
  try {
    RedisSync client(port, 200ms);
    RedisValue info = client.command({"INFO", "server"});
    return info.str.find("process_id:" + std::to_string(pid) + "\r\n") != std::string::npos;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

RedisServer::RedisServer(std::vector<std::string> extra_args)
    : dir_("wsrelay-redis"), extra_args_(std::move(extra_args)) {
  port_ = free_port();
  if (launch()) return;
  port_ = free_port();
  if (launch()) return;
  throw std::runtime_error("redis-server did not start; log:\n" + log());
}

RedisServer::~RedisServer() {
  stop();
}

pid_t RedisServer::pid() const {
  return process_ ? process_->pid() : -1;
}

bool RedisServer::running() const {
  return process_ != nullptr;
}

bool RedisServer::launch() {
  std::vector<std::string> argv{"redis-server",
                                "--port",
                                std::to_string(port_),
                                "--bind",
                                "127.0.0.1",
                                "--save",
                                "",
                                "--appendonly",
                                "no",
                                "--dir",
                                dir_.path(),
                                "--daemonize",
                                "no"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  process_ = std::make_unique<Process>(argv, dir_.file("redis.log"));
  const pid_t pid = process_->pid();
  bool up = false;
  wait_until(
      [&] {
        if (!process_->running()) return true;  // e.g. the port was taken
        up = answers_as(port_, pid);
        return up;
      },
      10s, 10ms);
  if (!up) process_.reset();
  return up;
}

void RedisServer::stop() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->wait_exit(10s);
  process_.reset();
}

void RedisServer::start() {
  if (process_) return;
  if (!launch()) {
    throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_) +
                             "; log:\n" + log());
  }
}

std::string RedisServer::log() const {
  std::ifstream in(dir_.file("redis.log"));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace wsrelay::test
