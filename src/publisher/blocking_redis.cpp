// BlockingRedis: a plain socket, poll() deadlines, the daemon's RESP code.
#include <wsrelay/publisher/blocking_redis.hpp>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>

#include <fmt/format.h>

#include <wsrelay/wire/cluster.hpp>
#include <wsrelay/wire/sentinel.hpp>

namespace wsrelay {
namespace {

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits until `fd` is ready for `events`; false on timeout (errno = ETIMEDOUT).
bool wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n == 0) {
      errno = ETIMEDOUT;
      return false;
    }
    if (errno != EINTR) return false;
  }
}

// A non-blocking connect to `address`, finished under `deadline`; the
// socket or -1 with errno set.
int connect_socket(int family, const sockaddr* address, socklen_t length,
                   std::chrono::steady_clock::time_point deadline) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (::connect(fd, address, length) != 0 && errno != EINPROGRESS) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  int error = 0;
  socklen_t size = sizeof(error);
  if (!wait_for(fd, POLLOUT, deadline) || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) ||
      error != 0) {
    const int saved = error != 0 ? error : errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

}  // namespace

BlockingRedis::BlockingRedis(RedisEndpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {}

BlockingRedis::~BlockingRedis() {
  close();
}

void BlockingRedis::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  reader_ = RespReader();
}

void BlockingRedis::fail(const std::string& what) {
  close();
  throw RedisError(fmt::format("redis at {}: {}", describe_redis_endpoint(target_), what));
}

void BlockingRedis::connect(clock::time_point deadline) {
  close();
  target_ = endpoint_;
  if (endpoint_.tls) fail(std::string(tls_not_supported));
  if (endpoint_.is_cluster()) return connect_cluster(deadline);
  if (!endpoint_.is_sentinel()) return open(deadline, false);
  // Sentinel: each one in turn, as the daemon does (wire/sentinel.hpp),
  // within the one deadline.
  SentinelDiscovery discovery(endpoint_.sentinels, endpoint_.master_name);
  for (;;) {
    target_ = RedisEndpoint{};
    target_.host = discovery.current().host;
    target_.port = discovery.current().port;
    target_.password = endpoint_.sentinel_password;  // the sentinels' own (requirepass)
    const std::string prefix = fmt::format("redis at {}: ", describe_redis_endpoint(target_));
    std::string reason;
    try {
      open(deadline, false);
      const auto command = discovery.command();
      const MasterAddressReply answer =
          read_master_address_reply(exchange({command}, deadline).at(0));
      close();
      if (answer.kind == MasterAddressReply::Kind::address) {
        target_ = endpoint_;
        target_.sentinels.clear();
        target_.host = answer.address.host;
        target_.port = answer.address.port;
        return open(deadline, true);
      }
      reason = answer.kind == MasterAddressReply::Kind::unknown_name ? "does not know that master"
                                                                     : answer.reason;
    } catch (const RedisError& e) {
      reason = e.what();
      if (reason.starts_with(prefix)) reason.erase(0, prefix.size());
      if (!target_.master_name.empty()) throw;  // the master itself failed
    }
    if (!discovery.failed(std::move(reason))) break;
  }
  target_ = endpoint_;
  fail(discovery.round_summary());
}

void BlockingRedis::connect_cluster(clock::time_point deadline) {
  std::string reasons;
  for (const HostPort& seed : endpoint_.cluster_seeds) {
    target_ = endpoint_;
    target_.cluster_seeds.clear();
    target_.host = seed.host;
    target_.port = seed.port;
    try {
      return open(deadline, false);
    } catch (const RedisError& e) {
      reasons += (reasons.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  target_ = endpoint_;
  throw RedisError("redis cluster: no seed answered: " + reasons);
}

void BlockingRedis::follow_redirects(const std::vector<std::vector<std::string>>& commands,
                                     std::vector<RespValue>& replies) {
  constexpr int max_redirects = 5;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    for (int hop = 0; hop < max_redirects && replies[i].is_error(); ++hop) {
      const auto redirect = read_redirect(replies[i].str);
      if (!redirect) break;
      std::vector<std::vector<std::string>> again;
      if (redirect->kind == ClusterRedirect::Kind::ask) again.push_back({"ASKING"});
      again.push_back(commands[i]);
      replies[i] = node(redirect->address).pipeline(again).back();
    }
  }
}

BlockingRedis& BlockingRedis::node(const HostPort& address) {
  auto& node = nodes_[describe_host_port(address)];
  if (!node) {
    RedisEndpoint where = endpoint_;
    where.cluster_seeds.clear();
    where.host = address.host;
    where.port = address.port;
    node = std::make_unique<BlockingRedis>(std::move(where), timeout_);
  }
  return *node;
}

std::vector<RespValue> BlockingRedis::pipeline_at(
    std::string_view key, const std::vector<std::vector<std::string>>& commands) {
  if (!endpoint_.is_cluster()) return pipeline(commands);
  constexpr int max_redirects = 16;
  const int slot = key_slot(key);
  const auto deadline = clock::now() + timeout_;
  for (int hop = 0;; ++hop) {
    std::vector<RespValue> replies;
    if (const auto owner = owners_.find(slot); owner != owners_.end()) {
      try {
        replies = node(owner->second).pipeline(commands);
      } catch (const RedisError&) {
        // Gone (a failover): forgotten, and asked through the seeds again,
        // which answer -MOVED to the slot's master now.
        if (hop == max_redirects) throw;
        nodes_.erase(describe_host_port(owner->second));
        owners_.erase(owner);
        continue;
      }
    } else {
      if (fd_ < 0) connect(deadline);
      replies = exchange(commands, deadline);
    }
    std::optional<ClusterRedirect> redirect;
    for (const RespValue& reply : replies)
      if (reply.is_error() && (redirect = read_redirect(reply.str))) break;
    if (!redirect || hop == max_redirects) return replies;
    if (redirect->kind == ClusterRedirect::Kind::moved) {
      owners_[slot] = redirect->address;
      continue;
    }
    if (clock::now() + std::chrono::milliseconds(50) >= deadline) return replies;
    ::poll(nullptr, 0, 50);  // -ASK: the migration of this slot is under way
  }
}

void BlockingRedis::open(clock::time_point deadline, bool check_role) {
  int error = 0;
  if (target_.is_unix) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (target_.path.size() >= sizeof(address.sun_path)) fail("unix socket path too long");
    std::memcpy(address.sun_path, target_.path.c_str(), target_.path.size() + 1);
    fd_ = connect_socket(AF_UNIX, reinterpret_cast<const sockaddr*>(&address), sizeof(address),
                         deadline);
    error = errno;
  } else {
    // getaddrinfo has no timeout of its own; the endpoints are addresses or
    // names in /etc/hosts in practice (a tool, not the daemon's threads).
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(target_.port);
    if (const int rc = ::getaddrinfo(target_.host.c_str(), port.c_str(), &hints, &found); rc != 0)
      fail(fmt::format("cannot resolve {}: {}", target_.host, ::gai_strerror(rc)));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, ::freeaddrinfo);
    for (const addrinfo* a = found; a != nullptr && fd_ < 0; a = a->ai_next) {
      fd_ = connect_socket(a->ai_family, a->ai_addr, a->ai_addrlen, deadline);
      error = errno;
    }
    if (fd_ >= 0) {
      const int one = 1;
      ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
  }
  if (fd_ < 0) fail(fmt::format("cannot connect: {}", std::strerror(error)));

  std::vector<std::vector<std::string>> hello;
  if (!target_.password.empty()) {
    if (target_.user.empty())
      hello.push_back({"AUTH", target_.password});
    else
      hello.push_back({"AUTH", target_.user, target_.password});
  }
  if (target_.db != 0) hello.push_back({"SELECT", std::to_string(target_.db)});
  if (check_role) hello.push_back({"ROLE"});
  if (hello.empty()) return;
  const auto replies = exchange(hello, deadline);
  for (std::size_t i = 0; i < replies.size(); ++i)
    if (replies[i].is_error() && hello[i][0] != "ROLE")
      fail(fmt::format("{} refused: {}", hello[i][0], replies[i].str));  // never the password
  if (check_role)
    if (const RoleReply role = read_role_reply(replies.back()); !role.is_master)
      fail("not the master: " + role.reason);
}

std::vector<RespValue> BlockingRedis::pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  const auto deadline = clock::now() + timeout_;
  if (fd_ < 0) connect(deadline);
  auto replies = exchange(commands, deadline);
  if (endpoint_.is_cluster()) follow_redirects(commands, replies);
  return replies;
}

std::vector<RespValue> BlockingRedis::exchange(
    const std::vector<std::vector<std::string>>& commands, clock::time_point deadline) {
  std::string out;
  for (const auto& command : commands)
    out += format_command(std::vector<std::string_view>(command.begin(), command.end()));
  for (std::size_t sent = 0; sent < out.size();) {
    const ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_for(fd_, POLLOUT, deadline)) fail(fmt::format("write: {}", std::strerror(errno)));
    } else {
      fail(fmt::format("write: {}", std::strerror(errno)));
    }
  }
  std::vector<RespValue> replies;
  replies.reserve(commands.size());
  char buffer[16 * 1024];
  while (replies.size() < commands.size()) {
    if (auto reply = reader_.next()) {
      replies.push_back(std::move(*reply));
      continue;
    }
    if (reader_.failed()) fail("protocol error: " + reader_.error());
    if (!wait_for(fd_, POLLIN, deadline))
      fail(errno == ETIMEDOUT ? "no answer in time" : std::strerror(errno));
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n == 0) fail("connection closed by the server");
    if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
      fail(fmt::format("read: {}", std::strerror(errno)));
    if (n > 0) reader_.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
  }
  return replies;
}

}  // namespace wsrelay
