#include "support/cluster_set.hpp"

#include <algorithm>
#include <csignal>
#include <stdexcept>

#include "support/ports.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

namespace wsrelay::test {
namespace {

constexpr std::size_t kNodes = 6;
constexpr std::size_t kMasters = 3;

// A redis-server in cluster mode. Its nodes.conf is relative to its --dir
// (redis-server chdirs there), so each node has its own. The bus port is
// chosen apart: port + 10000 (the default) may be above 65535. CLUSTER SLOTS
// leaves out a replica while its replication offset is 0, i.e. until its
// master sends a first PING down the link (every 10 s by default): a 1 s
// period lists replicas about 2 s after creation rather than 10. A full sync
// starts at once instead of waiting 5 s for more replicas.
// With TLS, `tls_port` is set to the node's TLS port.
std::unique_ptr<RedisServer> start_node(const std::optional<TlsFiles>& tls,
                                        std::uint16_t& tls_port) {
  for (int attempt = 0;; ++attempt) {
    tls_port = tls ? free_port() : 0;
    std::vector<std::string> args{"--cluster-enabled",
                                  "yes",
                                  "--cluster-config-file",
                                  "nodes.conf",
                                  "--cluster-node-timeout",
                                  "1000",
                                  "--cluster-port",
                                  std::to_string(free_port()),
                                  "--repl-diskless-sync-delay",
                                  "0",
                                  "--repl-ping-replica-period",
                                  "1"};
    if (tls) {
      const auto more = redis_tls_args(*tls, tls_port);
      args.insert(args.end(), more.begin(), more.end());
      args.insert(args.end(), {"--tls-cluster", "yes", "--tls-replication", "yes"});
    }
    try {
      return std::make_unique<RedisServer>(std::move(args));
    } catch (const std::runtime_error&) {
      if (attempt == 1) throw;  // a port was taken twice: give up
    }
  }
}

std::string text_of(const std::vector<std::string>& argv, const RedisValue& reply) {
  std::string command;
  for (const auto& arg : argv) command += (command.empty() ? "" : " ") + arg;
  return command + " -> " + (reply.is_error() ? "-" : "") + reply.str;
}

// Runs `argv` on `port`; throws when the node does not answer or answers an
// error.
RedisValue must(std::uint16_t port, const std::vector<std::string>& argv) {
  RedisSync client(port);
  RedisValue reply = client.command(argv);
  if (reply.is_error())
    throw std::runtime_error("on port " + std::to_string(port) + ": " + text_of(argv, reply));
  return reply;
}

// An INFO or CLUSTER INFO section; "" when the node does not answer.
std::string info(std::uint16_t port, const std::vector<std::string>& argv) {
  try {
    RedisSync client(port, 500ms);
    return client.command(argv).str;
  } catch (const std::exception&) {
    return {};
  }
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\r\n") != std::string::npos;
}

std::optional<std::uint16_t> owner_in(const std::vector<ClusterSet::SlotRange>& view, int slot) {
  for (const auto& range : view)
    if (range.start <= slot && slot <= range.end) return range.master;
  return std::nullopt;
}

bool covers_every_slot(const std::vector<ClusterSet::SlotRange>& view) {
  int next = 0;
  for (const auto& range : view) {
    if (range.start != next) return false;
    next = range.end + 1;
  }
  return next == ClusterSet::kSlots;
}

}  // namespace

ClusterSet::ClusterSet(std::optional<TlsFiles> tls)
    : dir_("wsrelay-cluster"), tls_(std::move(tls)) {
  for (std::size_t i = 0; i < kNodes; ++i) {
    std::uint16_t tls_port = 0;
    nodes_.push_back(start_node(tls_, tls_port));
    if (tls_) tls_ports_[nodes_.back()->port()] = tls_port;
  }
  std::vector<std::string> argv{"redis-cli", "--cluster", "create"};
  for (const auto& node : nodes_) argv.push_back("127.0.0.1:" + std::to_string(node->port()));
  argv.insert(argv.end(), {"--cluster-replicas", "1", "--cluster-yes"});
  {
    Process create(argv, dir_.file("create.log"));
    const std::optional<int> status = create.wait_exit(30s);
    if (status != 0) {
      create.signal(SIGKILL);
      create.wait_exit(5s);
      throw std::runtime_error(
          "redis-cli --cluster create " +
          (status ? "exited with " + std::to_string(*status) : std::string("timed out")) +
          "; logs:\n" + logs());
    }
  }
  wait_or_throw(
      [&] {
        const auto view = agreed_view();
        if (!view) return false;
        std::vector<std::uint16_t> masters;
        for (const auto& range : *view) {
          if (range.replicas.size() != 1) return false;
          if (std::find(masters.begin(), masters.end(), range.master) == masters.end())
            masters.push_back(range.master);
        }
        return masters.size() == kMasters && replicas_linked();
      },
      30s, "the cluster did not come up");
  // The masters at creation, in the order they were started.
  const std::vector<std::uint16_t> masters = master_ports();
  for (const auto& node : nodes_)
    if (std::find(masters.begin(), masters.end(), node->port()) != masters.end())
      seeds_.push_back(node->port());
}

ClusterSet::~ClusterSet() {
  for (auto& node : nodes_) node->stop();
}

std::string ClusterSet::url() const {
  std::string out = tls_ ? "rediss+cluster://" : "redis+cluster://";
  for (std::size_t i = 0; i < seeds_.size(); ++i)
    out += (i == 0 ? "127.0.0.1:" : ",127.0.0.1:") +
           std::to_string(tls_ ? tls_port(seeds_[i]) : seeds_[i]);
  return out;
}

std::uint16_t ClusterSet::tls_port(std::uint16_t port) const {
  const auto found = tls_ports_.find(port);
  if (found == tls_ports_.end())
    throw std::runtime_error("no TLS port for cluster node " + std::to_string(port));
  return found->second;
}

RedisServer& ClusterSet::node(std::uint16_t port) {
  for (auto& node : nodes_)
    if (node->port() == port) return *node;
  throw std::runtime_error("no cluster node on port " + std::to_string(port));
}

std::vector<std::uint16_t> ClusterSet::live_ports() const {
  std::vector<std::uint16_t> ports;
  for (const auto& node : nodes_)
    if (node->running()) ports.push_back(node->port());
  return ports;
}

std::optional<std::vector<ClusterSet::SlotRange>> ClusterSet::slots_view(std::uint16_t port) {
  try {
    RedisSync client(port, 500ms);
    const RedisValue reply = client.command({"CLUSTER", "SLOTS"});
    if (reply.kind != RedisValue::Kind::array) return std::nullopt;
    std::vector<SlotRange> view;
    for (const auto& entry : reply.elements) {
      if (entry.elements.size() < 3) return std::nullopt;
      SlotRange range;
      range.start = static_cast<int>(entry.elements[0].integer);
      range.end = static_cast<int>(entry.elements[1].integer);
      range.master = static_cast<std::uint16_t>(entry.elements[2].elements.at(1).integer);
      for (std::size_t i = 3; i < entry.elements.size(); ++i)
        range.replicas.push_back(
            static_cast<std::uint16_t>(entry.elements[i].elements.at(1).integer));
      std::sort(range.replicas.begin(), range.replicas.end());
      view.push_back(std::move(range));
    }
    std::sort(view.begin(), view.end(),
              [](const SlotRange& a, const SlotRange& b) { return a.start < b.start; });
    return view;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<std::vector<ClusterSet::SlotRange>> ClusterSet::agreed_view() const {
  std::optional<std::vector<SlotRange>> agreed;
  for (const std::uint16_t port : live_ports()) {
    if (!has(info(port, {"CLUSTER", "INFO"}), "cluster_state:ok")) return std::nullopt;
    auto view = slots_view(port);
    if (!view || !covers_every_slot(*view)) return std::nullopt;
    if (!agreed) {
      agreed = std::move(view);
    } else if (*agreed != *view) {
      return std::nullopt;
    }
  }
  return agreed;
}

std::vector<ClusterSet::SlotRange> ClusterSet::any_view() const {
  for (const std::uint16_t port : live_ports()) {
    auto view = slots_view(port);
    if (view && !view->empty()) return *view;
  }
  throw std::runtime_error("no cluster node answers CLUSTER SLOTS; logs:\n" + logs());
}

bool ClusterSet::replicas_linked() const {
  for (const std::uint16_t port : live_ports()) {
    const std::string replication = info(port, {"INFO", "replication"});
    if (replication.empty()) return false;
    if (has(replication, "role:slave") && !has(replication, "master_link_status:up")) return false;
  }
  return true;
}

std::vector<std::uint16_t> ClusterSet::master_ports() const {
  std::vector<std::uint16_t> masters;
  for (const auto& range : any_view())
    if (std::find(masters.begin(), masters.end(), range.master) == masters.end())
      masters.push_back(range.master);
  std::sort(masters.begin(), masters.end());
  return masters;
}

std::vector<std::uint16_t> ClusterSet::replica_ports(std::uint16_t master_port) const {
  std::vector<std::uint16_t> replicas;
  for (const auto& range : any_view()) {
    if (range.master != master_port) continue;
    for (const std::uint16_t replica : range.replicas)
      if (std::find(replicas.begin(), replicas.end(), replica) == replicas.end())
        replicas.push_back(replica);
  }
  std::sort(replicas.begin(), replicas.end());
  return replicas;
}

std::string ClusterSet::node_id(std::uint16_t port) const {
  return must(port, {"CLUSTER", "MYID"}).str;
}

int ClusterSet::key_slot(std::string_view key) {
  const std::size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const std::size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close != open + 1)
      key = key.substr(open + 1, close - open - 1);
  }
  std::uint32_t crc = 0;  // CRC16-XMODEM: polynomial 0x1021, initial 0, no reflection
  for (const char c : key) {
    crc ^= static_cast<std::uint32_t>(static_cast<unsigned char>(c)) << 8;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
    crc &= 0xffff;
  }
  return static_cast<int>(crc % kSlots);
}

std::uint16_t ClusterSet::slot_owner(int slot) const {
  const auto owner = owner_in(any_view(), slot);
  if (!owner) throw std::runtime_error("no node owns slot " + std::to_string(slot));
  return *owner;
}

void ClusterSet::migrate_slot(int slot, std::uint16_t to_port) {
  begin_migration(slot, to_port);
  move_keys(slot);
  finish_migration(slot);
}

void ClusterSet::begin_migration(int slot, std::uint16_t to_port) {
  const std::uint16_t source = slot_owner(slot);
  if (source == to_port)
    throw std::runtime_error("slot " + std::to_string(slot) + " is already on port " +
                             std::to_string(to_port));
  const std::string slot_text = std::to_string(slot);
  must(to_port, {"CLUSTER", "SETSLOT", slot_text, "IMPORTING", node_id(source)});
  must(source, {"CLUSTER", "SETSLOT", slot_text, "MIGRATING", node_id(to_port)});
  migrations_[slot] = Migration{source, to_port};
}

void ClusterSet::move_keys(int slot) {
  const auto migration = migrations_.find(slot);
  if (migration == migrations_.end())
    throw std::runtime_error("move_keys: no migration of slot " + std::to_string(slot) + " begun");
  const auto [source, target] = migration->second;
  RedisSync client(source);
  wait_or_throw(
      [&] {
        const RedisValue keys =
            client.command({"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "100"});
        if (keys.is_error()) throw std::runtime_error("CLUSTER GETKEYSINSLOT: " + keys.str);
        if (keys.elements.empty()) return true;
        std::vector<std::string> argv{"MIGRATE", "127.0.0.1", std::to_string(target), "", "0",
                                      "5000",    "KEYS"};
        for (const auto& key : keys.elements) argv.push_back(key.str);
        const RedisValue reply = client.command(argv);
        if (reply.is_error()) throw std::runtime_error(text_of(argv, reply));
        return false;
      },
      20s, "the keys of slot " + std::to_string(slot) + " were not all moved");
}

void ClusterSet::finish_migration(int slot) {
  const auto migration = migrations_.find(slot);
  if (migration == migrations_.end())
    throw std::runtime_error("finish_migration: no migration of slot " + std::to_string(slot) +
                             " begun");
  const auto [source, target] = migration->second;
  const std::string slot_text = std::to_string(slot);
  const std::string target_id = node_id(target);
  std::vector<std::uint16_t> order{target, source};
  for (const std::uint16_t master : master_ports())
    if (master != target && master != source) order.push_back(master);
  for (const std::uint16_t port : order)
    must(port, {"CLUSTER", "SETSLOT", slot_text, "NODE", target_id});
  migrations_.erase(migration);
  wait_or_throw(
      [&] {
        const auto view = agreed_view();
        return view && owner_in(*view, slot) == target;
      },
      10s,
      "the nodes did not agree that slot " + slot_text + " moved to " + std::to_string(target));
}

std::uint16_t ClusterSet::failover(std::uint16_t master_port) {
  std::vector<SlotRange> owned;
  for (const auto& range : any_view())
    if (range.master == master_port) owned.push_back(range);
  if (owned.empty() || owned.front().replicas.empty())
    throw std::runtime_error("failover: port " + std::to_string(master_port) +
                             " is not a master with a replica\n" + state());
  const std::uint16_t replica = owned.front().replicas.front();
  must(replica, {"CLUSTER", "FAILOVER"});
  wait_or_throw(
      [&] {
        const auto view = agreed_view();
        if (!view) return false;
        for (const auto& range : owned)
          if (owner_in(*view, range.start) != replica || owner_in(*view, range.end) != replica)
            return false;
        const std::string replication = info(master_port, {"INFO", "replication"});
        return has(replication, "role:slave") &&
               has(replication, "master_port:" + std::to_string(replica)) &&
               has(replication, "master_link_status:up");
      },
      20s,
      "the failover of " + std::to_string(master_port) + " to " + std::to_string(replica) +
          " did not complete");
  return replica;
}

void ClusterSet::kill(std::uint16_t port) {
  RedisServer& victim = node(port);
  Killed killed;
  for (const auto& range : any_view())
    if (range.master == port) {
      killed.ranges.push_back(range);
      for (const std::uint16_t replica : range.replicas)
        if (std::find(killed.replicas.begin(), killed.replicas.end(), replica) ==
            killed.replicas.end())
          killed.replicas.push_back(replica);
    }
  victim.stop();
  killed_[port] = std::move(killed);
}

std::uint16_t ClusterSet::wait_promoted(std::uint16_t old_master_port) {
  const auto found = killed_.find(old_master_port);
  if (found == killed_.end() || found->second.ranges.empty())
    throw std::runtime_error("wait_promoted: port " + std::to_string(old_master_port) +
                             " was not a killed master");
  const Killed& killed = found->second;
  std::uint16_t promoted = 0;
  wait_or_throw(
      [&] {
        const auto view = agreed_view();
        if (!view) return false;
        const auto owner = owner_in(*view, killed.ranges.front().start);
        if (!owner || std::find(killed.replicas.begin(), killed.replicas.end(), *owner) ==
                          killed.replicas.end())
          return false;
        for (const auto& range : killed.ranges)
          if (owner_in(*view, range.start) != owner || owner_in(*view, range.end) != owner)
            return false;
        promoted = *owner;
        return true;
      },
      20s, "no replica of the killed " + std::to_string(old_master_port) + " took over");
  return promoted;
}

void ClusterSet::restart(std::uint16_t port) {
  node(port).start();
  killed_.erase(port);
  wait_or_throw(
      [&] {
        const auto view = agreed_view();
        if (!view) return false;
        bool listed = false;
        for (const auto& range : *view)
          if (range.master == port ||
              std::find(range.replicas.begin(), range.replicas.end(), port) != range.replicas.end())
            listed = true;
        return listed && replicas_linked();
      },
      20s, "the restarted " + std::to_string(port) + " did not rejoin");
}

std::string ClusterSet::state() const {
  std::string out;
  for (const std::uint16_t port : live_ports())
    out += "--- CLUSTER NODES on " + std::to_string(port) + "\n" + info(port, {"CLUSTER", "NODES"});
  return out;
}

void ClusterSet::wait_or_throw(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                               const std::string& what) const {
  if (!wait_until(pred, timeout, 20ms))
    throw std::runtime_error(what + " within " + std::to_string(timeout.count()) + " ms\n" +
                             state() + "logs:\n" + logs());
}

std::string ClusterSet::logs() const {
  std::string out = "--- redis-cli --cluster create\n" + read_file(dir_.file("create.log"));
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    out += "--- node " + std::to_string(i) + " (port " + std::to_string(nodes_[i]->port()) +
           (nodes_[i]->running() ? "" : ", killed") + ")\n" + nodes_[i]->log();
  return out;
}

}  // namespace wsrelay::test
