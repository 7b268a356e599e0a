#include "support/silent_ws_socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace wsrelay::test {

SilentWsSocket::~SilentWsSocket() {
  close();
}

void SilentWsSocket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void SilentWsSocket::open(std::uint16_t port, int receive_buffer) {
  close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  if (receive_buffer > 0 &&
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer) != 0) {
    throw std::runtime_error(std::string("SO_RCVBUF: ") + std::strerror(errno));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // A loopback connect completes (or is refused) at once.
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  }
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

std::string SilentWsSocket::upgrade_request(std::uint16_t port, const std::string& target,
                                            const Headers& headers) {
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n";
  for (const auto& [key, value] : headers) request += key + ": " + value + "\r\n";
  request += "\r\n";
  return request;
}

bool SilentWsSocket::wait_for(short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) return false;
    pollfd p{fd_, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
    if (r > 0) return true;  // ready, or an error/hang-up the next call reports
    if (r < 0 && errno != EINTR) return false;
  }
}

bool SilentWsSocket::read_some() {
  char chunk[16 * 1024];
  const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n > 0) {
    in_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
  eof_ = true;  // EOF or reset
  return false;
}

int SilentWsSocket::read_handshake(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (in_.find("\r\n\r\n") == std::string::npos) {
    if (eof_ || !wait_for(POLLIN, deadline)) return 0;
    read_some();
  }
  const auto head_end = in_.find("\r\n\r\n") + 4;
  const std::string head = in_.substr(0, head_end);
  in_.erase(0, head_end);
  const auto space = head.find(' ');
  return space == std::string::npos ? 0 : std::atoi(head.c_str() + space + 1);
}

int SilentWsSocket::connect(std::uint16_t port, const std::string& target, int receive_buffer,
                            std::chrono::milliseconds timeout) {
  open(port, receive_buffer);
  if (send_all(upgrade_request(port, target), timeout) != SendResult::sent) return 0;
  return read_handshake(timeout);
}

SilentWsSocket::SendResult SilentWsSocket::send_all(std::string_view bytes,
                                                    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_for(POLLOUT, deadline)) return SendResult::timeout;
      continue;
    }
    return SendResult::closed;  // EPIPE, ECONNRESET
  }
  return SendResult::sent;
}

bool SilentWsSocket::read_until_eof(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!eof_) {
    if (!wait_for(POLLIN, deadline)) break;
    read_some();
    parse_frames();
  }
  parse_frames();
  return eof_;
}

std::size_t SilentWsSocket::read_available() {
  for (;;) {
    const std::size_t before = in_.size();
    if (eof_ || !read_some() || in_.size() == before) break;
  }
  parse_frames();
  return frames_.size();
}

void SilentWsSocket::parse_frames() {
  // One erase at the end: a flood leaves thousands of small frames here.
  std::size_t at = 0;
  auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(in_[at + i]); };
  for (;;) {
    const std::size_t left = in_.size() - at;
    if (left < 2) break;
    std::size_t header = 2;
    std::uint64_t length = byte(1) & 0x7f;
    if (length == 126) {
      if (left < 4) break;
      length = (byte(2) << 8) | byte(3);
      header = 4;
    } else if (length == 127) {
      if (left < 10) break;
      length = 0;
      for (std::size_t i = 2; i < 10; ++i) length = (length << 8) | byte(i);
      header = 10;
    }
    if ((byte(1) & 0x80) != 0) header += 4;
    if (left < header + length) break;
    RawFrame frame;
    frame.opcode = byte(0) & 0x0f;
    frame.payload = in_.substr(at + header, length);
    at += header + length;
    frames_.push_back(std::move(frame));
  }
  in_.erase(0, at);
}

}  // namespace wsrelay::test
