#include "publisher.hpp"

#include <poll.h>

#include <cctype>
#include <stdexcept>

namespace wsrelay::bench {

Publisher::Publisher(const std::string& host, std::uint16_t port) : socket_(ioc_) {
  tcp::resolver resolver(ioc_);
  const auto results = resolver.resolve(host, std::to_string(port));
  error_code ec = net::error::host_not_found;
  for (const auto& r : results) {
    socket_.close(ec);
    socket_.connect(r.endpoint(), ec);
    if (!ec) break;
  }
  if (ec)
    throw std::runtime_error("publisher: connect " + host + ":" + std::to_string(port) + ": " +
                             ec.message());
  socket_.set_option(tcp::no_delay(true));
  socket_.non_blocking(true);
}

void Publisher::wait_io(bool want_write, int timeout_ms) {
  pollfd p{socket_.native_handle(), static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0};
  ::poll(&p, 1, timeout_ms);
}

void Publisher::read_available() {
  char buf[64 * 1024];
  for (;;) {
    error_code ec;
    const std::size_t n = socket_.read_some(net::buffer(buf), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) break;
    if (ec) throw std::runtime_error("publisher: read: " + ec.message());
    replies_.append(buf, n);
    if (n < sizeof buf) break;
  }
  parse_replies(replies_);
}

void Publisher::flush() {
  std::size_t pos = 0;
  while (pos < batch_.size()) {
    error_code ec;
    pos += socket_.write_some(net::buffer(batch_.data() + pos, batch_.size() - pos), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      wait_io(true, 100);
      read_available();
      continue;
    }
    if (ec) throw std::runtime_error("publisher: write: " + ec.message());
  }
  batch_.clear();
  read_available();
}

bool Publisher::wait_replies(std::uint64_t expected,
                             std::chrono::steady_clock::time_point deadline) {
  while (ok_ + failed_ < expected) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    wait_io(false, static_cast<int>(std::min<long long>(left.count(), 100)));
    read_available();
  }
  return true;
}

// --------------------------------------------------------------------- Redis

RedisPublisher::RedisPublisher(const std::string& host, std::uint16_t port, std::string channel,
                               std::optional<HistoryRule> history)
    : Publisher(host, port), channel_(std::move(channel)), history_(std::move(history)) {
  if (history_) {
    add_command({"SCRIPT", "LOAD", std::string(history_publish_script())});
    script_reply_pending_ = true;
    flush();
  }
}

void RedisPublisher::add_command(const std::vector<std::string>& argv) {
  batch_ += '*';
  batch_ += std::to_string(argv.size());
  batch_ += "\r\n";
  for (const std::string& arg : argv) {
    batch_ += '$';
    batch_ += std::to_string(arg.size());
    batch_ += "\r\n";
    batch_ += arg;
    batch_ += "\r\n";
  }
}

void RedisPublisher::add(std::string_view payload) {
  if (history_) {
    // Expire 0: no stored last message, as the plain PUBLISH stores none.
    add_command(history_publish_args(true, "", channel_, payload, *history_, 0));
    ++sent_;
    return;
  }
  batch_ += "*3\r\n$7\r\nPUBLISH\r\n$";
  batch_ += std::to_string(channel_.size());
  batch_ += "\r\n";
  batch_ += channel_;
  batch_ += "\r\n$";
  batch_ += std::to_string(payload.size());
  batch_ += "\r\n";
  batch_ += payload;
  batch_ += "\r\n";
  ++sent_;
}

void RedisPublisher::parse_replies(std::string& in) {
  // PUBLISH and the history script answer one line: ":<receivers>" or
  // "-<error>". SCRIPT LOAD answers the SHA-1 as a bulk string first.
  std::size_t pos = 0;
  for (;;) {
    const std::size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos) break;
    if (script_reply_pending_) {
      if (in[pos] == '$') {
        const std::size_t sha_end = in.find("\r\n", eol + 2);
        if (sha_end == std::string::npos) break;
        pos = sha_end + 2;
      } else {
        last_error_ = "SCRIPT LOAD: " + in.substr(pos, eol - pos);
        ++failed_;
        pos = eol + 2;
      }
      script_reply_pending_ = false;
      continue;
    }
    if (in[pos] == ':') {
      ++ok_;
    } else {
      ++failed_;
      last_error_ = in.substr(pos, eol - pos);
    }
    pos = eol + 2;
  }
  in.erase(0, pos);
}

// ---------------------------------------------------------------------- HTTP

HttpPublisher::HttpPublisher(const std::string& host, std::uint16_t port, std::string path)
    : Publisher(host, port) {
  head_ = "POST " + path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
          "\r\nContent-Type: text/plain\r\nContent-Length: ";
}

void HttpPublisher::add(std::string_view payload) {
  batch_ += head_;
  batch_ += std::to_string(payload.size());
  batch_ += "\r\n\r\n";
  batch_ += payload;
  ++sent_;
}

void HttpPublisher::parse_replies(std::string& in) {
  // Complete responses with a Content-Length body (no chunked encoding: a
  // publisher endpoint answers with a short, sized status text).
  std::size_t pos = 0;
  for (;;) {
    const std::size_t end = in.find("\r\n\r\n", pos);
    if (end == std::string::npos) break;
    std::size_t length = 0;
    std::size_t line = in.find("\r\n", pos);
    while (line < end) {
      const std::size_t next = in.find("\r\n", line + 2);
      std::string name = in.substr(line + 2, std::min(next, end) - line - 2);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name.rfind("content-length:", 0) == 0) length = std::stoul(name.substr(15));
      line = next;
    }
    if (in.size() < end + 4 + length) break;
    const int status = in.size() > pos + 12 ? std::atoi(in.c_str() + pos + 9) : 0;
    if (status >= 200 && status < 300) {
      ++ok_;
    } else {
      ++failed_;
      last_error_ = in.substr(pos, in.find("\r\n", pos) - pos);
    }
    pos = end + 4 + length;
  }
  in.erase(0, pos);
}

}  // namespace wsrelay::bench
