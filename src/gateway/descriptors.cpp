#include <wsrelay/gateway/descriptors.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include <fmt/format.h>

#include <wsrelay/wire/http_answer.hpp>

namespace wsrelay {
namespace {

std::uint64_t nr_open() {
  std::ifstream in("/proc/sys/fs/nr_open");
  std::uint64_t value = 0;
  if (in >> value && value > 0) return value;
  return 1024 * 1024;  // the kernel's default
}

bool is_health_probe(std::string_view request) {
  for (std::string_view method : {"GET /healthz", "HEAD /healthz"}) {
    if (request.substr(0, method.size()) != method) continue;
    const std::string_view after = request.substr(method.size());
    return !after.empty() && (after.front() == ' ' || after.front() == '?');
  }
  return false;
}

}  // namespace

DescriptorLimit raise_descriptor_limit() {
  DescriptorLimit limit;
  rlimit current{};
  if (getrlimit(RLIMIT_NOFILE, &current) != 0) return limit;
  limit.soft_before = limit.soft = current.rlim_cur;
  limit.hard = current.rlim_max;
  // RLIM_INFINITY is not a value setrlimit takes for RLIMIT_NOFILE.
  const std::uint64_t target = current.rlim_max == RLIM_INFINITY ? nr_open() : current.rlim_max;
  if (current.rlim_cur != RLIM_INFINITY && current.rlim_cur >= target) return limit;
  rlimit raised = current;
  raised.rlim_cur = target;
  if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit.soft = target;
  return limit;
}

std::string descriptor_limit_warning(const DescriptorLimit& limit, std::size_t connections) {
  if (limit.soft == RLIM_INFINITY || connections + descriptors_kept <= limit.soft) return {};
  const std::uint64_t usable = limit.soft > descriptors_kept ? limit.soft - descriptors_kept : 0;
  return fmt::format(
      "the open-file limit ({}) is lower than the {} connections the configuration allows (plus "
      "about {} the daemon keeps for itself): from about {} connections on, new clients get 503; "
      "raise the hard limit (systemd: LimitNOFILE=, docker: --ulimit nofile=) or lower "
      "server.max_connections",
      limit.soft, connections, descriptors_kept, usable);
}

DescriptorReserve::DescriptorReserve() : fd_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {}

DescriptorReserve::~DescriptorReserve() {
  if (fd_ >= 0) ::close(fd_);
}

DescriptorReserve::Outcome DescriptorReserve::refuse_one(int listener) {
  if (fd_ < 0) fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return Outcome::failed;
  ::close(fd_);
  fd_ = -1;
  const int client = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  const int accept_error = errno;
  if (client >= 0) refuse_connection(client, 503, "server out of file descriptors\n");
  // Taken back at once; if another thread took the free slot meanwhile, the
  // next call tries again.
  fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (client >= 0) return Outcome::refused;
  if (accept_error == EAGAIN || accept_error == EWOULDBLOCK) return Outcome::none_waiting;
  return Outcome::failed;
}

void refuse_connection(int fd, int status, std::string_view reason) {
  // Only the start is looked at (the request line); the rest is read to be
  // discarded.
  char request[2048];
  const ssize_t got = ::recv(fd, request, sizeof request, MSG_DONTWAIT);
  const std::size_t kept = got > 0 ? static_cast<std::size_t>(got) : 0;
  char discard[4096];
  for (int round = 0; got > 0 && round < 16; ++round)
    if (::recv(fd, discard, sizeof discard, MSG_DONTWAIT) <= 0) break;
  const std::string_view received(request, kept);
  const bool probe = is_health_probe(received);
  const std::string answer = format_http_answer(probe ? 200 : status, probe ? "ok\n" : reason, {},
                                                received.substr(0, 5) == "HEAD ");
  // One non-blocking write: an empty socket buffer takes a few hundred
  // bytes; if it does not, the client is refused without an answer.
  [[maybe_unused]] const ssize_t sent =
      ::send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

}  // namespace wsrelay
