#include "support/raw_ws_client.hpp"
#include "support/silent_ws_socket.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>
#include <stdexcept>

namespace wsrelay::test {

RawWsClient::RawWsClient() : socket_(ioc_), chunk_(16 * 1024) {}

RawWsClient::~RawWsClient() {
  error_code ignored;
  socket_.close(ignored);
  run_until([] { return false; }, 1s);  // let aborted handlers finish
}

bool RawWsClient::run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (ioc_.stopped()) ioc_.restart();
    if (ioc_.run_one_until(deadline) == 0) {
      if (std::chrono::steady_clock::now() >= deadline || ioc_.stopped()) return done();
    }
  }
  return true;
}

void RawWsClient::set_receive_buffer_size(int bytes) {
  if (!socket_.is_open()) socket_.open(tcp::v4());
  socket_.set_option(net::socket_base::receive_buffer_size(bytes));
}

int RawWsClient::connect(std::uint16_t port, const std::string& target, const Headers& headers,
                         std::chrono::milliseconds timeout) {
  const std::string request = SilentWsSocket::upgrade_request(port, target, headers);

  bool done = false;
  error_code result;
  socket_.async_connect(
      tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), port), [&](error_code ec) {
        if (ec) {
          result = ec;
          done = true;
          return;
        }
        net::async_write(socket_, net::buffer(request), [&](error_code ec, std::size_t) {
          if (ec) {
            result = ec;
            done = true;
            return;
          }
          net::async_read_until(socket_, net::dynamic_buffer(in_), "\r\n\r\n",
                                [&](error_code ec, std::size_t) {
                                  result = ec;
                                  done = true;
                                });
        });
      });
  if (!run_until([&] { return done; }, timeout)) {
    error_code ignored;
    socket_.close(ignored);
    throw std::runtime_error("raw upgrade of " + target + ": no answer in time");
  }
  if (result) throw std::runtime_error("raw upgrade of " + target + ": " + result.message());

  const auto head_end = in_.find("\r\n\r\n") + 4;
  const std::string head = in_.substr(0, head_end);
  in_.erase(0, head_end);
  // "HTTP/1.1 101 Switching Protocols"
  const auto space = head.find(' ');
  const int status = space == std::string::npos ? 0 : std::atoi(head.c_str() + space + 1);
  if (status == 101) {
    parse_frames();
    start_read();
  }
  return status;
}

void RawWsClient::connect_tcp(std::uint16_t port, std::chrono::milliseconds timeout) {
  bool done = false;
  error_code result;
  socket_.async_connect(tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), port),
                        [&](error_code ec) {
                          result = ec;
                          done = true;
                        });
  if (!run_until([&] { return done; }, timeout)) {
    error_code ignored;
    socket_.close(ignored);
    throw std::runtime_error("raw connect to port " + std::to_string(port) + ": no answer in time");
  }
  if (result) throw std::runtime_error("raw connect: " + result.message());
  raw_bytes_ = true;
  start_read();
}

std::optional<HttpResult> RawWsClient::wait_http_response(std::chrono::milliseconds timeout) {
  // Parses in_ as far as it goes; true once the response is complete.
  HttpResult out;
  auto parse = [&]() {
    const auto head_end = in_.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    out = HttpResult{};
    const auto space = in_.find(' ');
    out.status = space < head_end ? std::atoi(in_.c_str() + space + 1) : 0;
    std::size_t line = in_.find("\r\n") + 2;
    while (line < head_end) {
      const auto end = in_.find("\r\n", line);
      const auto colon = in_.find(':', line);
      if (colon != std::string::npos && colon < end) {
        std::string value = in_.substr(colon + 1, end - colon - 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
          value.erase(0, 1);
        }
        out.headers.emplace_back(in_.substr(line, colon - line), std::move(value));
      }
      line = end + 2;
    }
    // 1xx responses have no body: after a 101 come the WebSocket's frames.
    if (out.status >= 100 && out.status < 200) return true;
    const std::string body = in_.substr(head_end + 4);
    if (auto length = out.header("Content-Length")) {
      const auto want = static_cast<std::size_t>(std::atoll(length->c_str()));
      out.body = body.substr(0, want);
      return body.size() >= want;
    }
    out.body = body;
    return eof_;
  };
  if (!run_until([&] { return parse() || eof_; }, timeout)) return std::nullopt;
  if (!parse() && in_.find("\r\n\r\n") == std::string::npos) return std::nullopt;
  return out;
}

void RawWsClient::start_read() {
  reading_ = true;
  socket_.async_read_some(net::buffer(chunk_), [this](error_code ec, std::size_t n) {
    reading_ = false;
    if (ec) {
      eof_ = true;  // EOF, reset or our own close: the connection is over
      return;
    }
    in_.append(chunk_.data(), n);
    if (!raw_bytes_) parse_frames();
    start_read();
  });
}

void RawWsClient::parse_frames() {
  for (;;) {
    if (in_.size() < 2) return;
    const auto b0 = static_cast<std::uint8_t>(in_[0]);
    const auto b1 = static_cast<std::uint8_t>(in_[1]);
    std::size_t header = 2;
    std::uint64_t length = b1 & 0x7f;
    if (length == 126) {
      if (in_.size() < 4) return;
      length = (static_cast<std::uint8_t>(in_[2]) << 8) | static_cast<std::uint8_t>(in_[3]);
      header = 4;
    } else if (length == 127) {
      if (in_.size() < 10) return;
      length = 0;
      for (int i = 2; i < 10; ++i) length = (length << 8) | static_cast<std::uint8_t>(in_[i]);
      header = 10;
    }
    if ((b1 & 0x80) != 0) header += 4;  // servers must not mask, but tolerate it
    if (in_.size() < header + length) return;
    RawFrame frame;
    frame.opcode = b0 & 0x0f;
    frame.payload = in_.substr(header, length);
    in_.erase(0, header + length);
    if (frame.opcode == 0x8 && !close_code_) {
      close_code_ =
          frame.payload.size() >= 2
              ? static_cast<std::uint16_t>((static_cast<std::uint8_t>(frame.payload[0]) << 8) |
                                           static_cast<std::uint8_t>(frame.payload[1]))
              : std::uint16_t{1005};
    }
    frames_.push_back(std::move(frame));
  }
}

bool RawWsClient::send_raw(std::string_view bytes, std::chrono::milliseconds timeout) {
  bool done = false;
  error_code result;
  net::async_write(socket_, net::buffer(bytes.data(), bytes.size()),
                   [&](error_code ec, std::size_t) {
                     result = ec;
                     done = true;
                   });
  if (!run_until([&] { return done; }, timeout)) {
    error_code ignored;
    socket_.close(ignored);
    return false;
  }
  return !result;
}

void RawWsClient::pump() {
  if (ioc_.stopped()) ioc_.restart();
  ioc_.poll();
}

std::optional<std::uint16_t> RawWsClient::wait_close(std::chrono::milliseconds timeout) {
  if (!run_until([&] { return closed(); }, timeout)) return std::nullopt;
  if (close_code_) return close_code_;
  return std::uint16_t{1006};
}

bool RawWsClient::wait_eof(std::chrono::milliseconds timeout) {
  return run_until([&] { return eof_; }, timeout);
}

std::string RawWsClient::masked_frame(std::uint8_t opcode, std::string_view payload, bool fin) {
  static constexpr std::uint8_t kKey[4] = {0x12, 0x34, 0x56, 0x78};
  std::string frame;
  frame.push_back(static_cast<char>((fin ? 0x80 : 0x00) | (opcode & 0x0f)));
  const std::size_t n = payload.size();
  if (n < 126) {
    frame.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xffff) {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>((n >> 8) & 0xff));
    frame.push_back(static_cast<char>(n & 0xff));
  } else {
    frame.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      frame.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xff));
    }
  }
  for (auto k : kKey) frame.push_back(static_cast<char>(k));
  for (std::size_t i = 0; i < n; ++i) {
    frame.push_back(static_cast<char>(static_cast<std::uint8_t>(payload[i]) ^ kKey[i % 4]));
  }
  return frame;
}

}  // namespace wsrelay::test
