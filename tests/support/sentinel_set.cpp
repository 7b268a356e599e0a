#include "support/sentinel_set.hpp"

#include <csignal>
#include <stdexcept>

#include "support/ports.hpp"
#include "support/wait.hpp"

namespace wsrelay::test {
namespace {

// A field of a flat [name, value, name, value...] reply (SENTINEL MASTER,
// each entry of SENTINEL REPLICAS).
std::string field(const RedisValue& entry, const std::string& name) {
  for (std::size_t i = 0; i + 1 < entry.elements.size(); i += 2)
    if (entry.elements[i].str == name) return entry.elements[i + 1].str;
  return {};
}

}  // namespace

SentinelSet::SentinelSet(std::string master_name, std::string password, std::optional<TlsFiles> tls)
    : name_(std::move(master_name)), password_(std::move(password)), tls_(std::move(tls)) {
  auto node_args = [&](std::vector<std::string> args) {
    node_tls_ports_.push_back(tls_ ? free_port() : 0);
    if (tls_) {
      const auto more = redis_tls_args(*tls_, node_tls_ports_.back());
      args.insert(args.end(), more.begin(), more.end());
      args.insert(args.end(), {"--tls-replication", "yes"});
    }
    return args;
  };
  // The port the replica and the sentinels know the master by.
  auto master_port = [&] { return tls_ ? node_tls_ports_[0] : nodes_[0]->port(); };
  nodes_.push_back(std::make_unique<RedisServer>(node_args({})));
  nodes_.push_back(std::make_unique<RedisServer>(
      node_args({"--replicaof", "127.0.0.1", std::to_string(master_port())})));
  for (int i = 0; i < 3; ++i) start_sentinel();
  const bool ready = wait_until(
      [&] {
        for (std::size_t i = 0; i < sentinels_.size(); ++i)
          if (!sentinel_ready(i)) return false;
        return true;
      },
      20s, 50ms);
  if (!ready) throw std::runtime_error("the sentinels did not see each other; logs:\n" + logs());
}

SentinelSet::~SentinelSet() {
  for (auto& sentinel : sentinels_) {
    sentinel->signal(SIGKILL);
    sentinel->wait_exit(10s);
  }
}

void SentinelSet::start_sentinel() {
  auto dir = std::make_unique<TempDir>("wsrelay-sentinel");
  const std::uint16_t port = free_port();
  const std::uint16_t tls_port = tls_ ? free_port() : 0;
  // With TLS: a TLS port beside the plain one, and TLS to the master, the
  // replica and the other sentinels.
  const std::string tls_conf = tls_ ? "tls-port " + std::to_string(tls_port) + "\ntls-cert-file " +
                                          tls_->cert + "\ntls-key-file " + tls_->key +
                                          "\ntls-ca-cert-file " + tls_->ca +
                                          "\ntls-auth-clients no\ntls-replication yes\n"
                                    : std::string();
  const std::uint16_t master_port = tls_ ? node_tls_ports_[0] : nodes_[0]->port();
  // Sentinel rewrites its configuration file (what it learns), so it lives
  // in the test's directory.
  write_file(
      dir->file("sentinel.conf"),
      "port " + std::to_string(port) + "\nbind 127.0.0.1\ndaemonize no\ndir " + dir->path() + "\n" +
          tls_conf + "sentinel monitor " + name_ + " 127.0.0.1 " + std::to_string(master_port) +
          " 2\nsentinel down-after-milliseconds " + name_ + " 1000\nsentinel failover-timeout " +
          name_ + " 4000\n" + "sentinel parallel-syncs " + name_ + " 1\n" +
          (password_.empty()
               ? std::string()
               : "requirepass " + password_ + "\nsentinel sentinel-pass " + password_ + "\n"));
  sentinels_.push_back(std::make_unique<Process>(
      std::vector<std::string>{"redis-server", dir->file("sentinel.conf"), "--sentinel"},
      dir->file("sentinel.log")));
  sentinel_ports_.push_back(port);
  sentinel_tls_ports_.push_back(tls_port);
  dirs_.push_back(std::move(dir));
}

bool SentinelSet::sentinel_ready(std::size_t i) const {
  try {
    const auto sentinel = ask(i, 500ms);
    const RedisValue master = sentinel->command({"SENTINEL", "MASTER", name_});
    if (field(master, "num-other-sentinels") != "2" || field(master, "num-slaves") != "1")
      return false;
    const RedisValue replicas = sentinel->command({"SENTINEL", "REPLICAS", name_});
    return replicas.elements.size() == 1 && field(replicas.elements[0], "flags") == "slave" &&
           field(replicas.elements[0], "master-link-status") == "ok";
  } catch (const std::exception&) {
    return false;
  }
}

std::string SentinelSet::url() const {
  std::string out = tls_ ? "rediss+sentinel://" : "redis+sentinel://";
  const auto& ports = tls_ ? sentinel_tls_ports_ : sentinel_ports_;
  for (std::size_t i = 0; i < ports.size(); ++i)
    out += (i == 0 ? "127.0.0.1:" : ",127.0.0.1:") + std::to_string(ports[i]);
  return out + "/" + name_;
}

std::optional<std::uint16_t> SentinelSet::master_port(std::size_t i) const {
  try {
    const auto sentinel = ask(i, 500ms);
    const RedisValue reply = sentinel->command({"SENTINEL", "get-master-addr-by-name", name_});
    if (reply.elements.size() != 2) return std::nullopt;
    return static_cast<std::uint16_t>(std::stoi(reply.elements[1].str));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void SentinelSet::failover() {
  const auto sentinel = ask(0, 5s);
  const RedisValue reply = sentinel->command({"SENTINEL", "FAILOVER", name_});
  if (reply.is_error()) throw std::runtime_error("SENTINEL FAILOVER: " + reply.str + "\n" + logs());
}

std::unique_ptr<RedisSync> SentinelSet::ask(std::size_t i,
                                            std::chrono::milliseconds timeout) const {
  auto sentinel = std::make_unique<RedisSync>(sentinel_ports_.at(i), timeout);
  if (!password_.empty()) {
    const RedisValue reply = sentinel->command({"AUTH", password_});
    if (reply.is_error()) throw std::runtime_error("AUTH to sentinel: " + reply.str);
  }
  return sentinel;
}

std::string SentinelSet::logs() const {
  std::string out;
  for (std::size_t i = 0; i < sentinels_.size(); ++i)
    out += "--- sentinel " + std::to_string(i) + " (port " + std::to_string(sentinel_ports_[i]) +
           ")\n" + sentinels_[i]->log_contents();
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    out += "--- redis " + std::to_string(i) + "\n" + nodes_[i]->log();
  return out;
}

}  // namespace wsrelay::test
