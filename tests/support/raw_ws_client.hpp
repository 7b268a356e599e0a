#pragma once
// A WebSocket connection done by hand on a bare TCP socket, for what a real
// client library would not do: stay completely silent (never answer a ping,
// never answer a close), or send malformed bytes. It writes only what the
// test tells it to and records every frame the server sends.
//
// Not thread-safe: one thread per client.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/runtime/net.hpp>

#include "support/http_client.hpp"

namespace wsrelay::test {

struct RawFrame {
  std::uint8_t opcode = 0;  // 0x1 text, 0x2 binary, 0x8 close, 0x9 ping, 0xA pong
  std::string payload;
};

class RawWsClient {
 public:
  RawWsClient();
  ~RawWsClient();
  RawWsClient(const RawWsClient&) = delete;
  RawWsClient& operator=(const RawWsClient&) = delete;

  // Caps the kernel's receive buffer (SO_RCVBUF) before connect(), so a
  // client that does not read makes the server's queue grow sooner.
  void set_receive_buffer_size(int bytes);

  // Sends a hand-written upgrade request and reads the response head.
  // Returns the HTTP status (101 on success). Throws std::runtime_error on a
  // connection failure or timeout.
  int connect(std::uint16_t port, const std::string& target, const Headers& headers = {},
              std::chrono::milliseconds timeout = 5s);

  // Opens the TCP connection only, for a request the test writes itself with
  // send_raw() (byte by byte, malformed, oversized). What the server sends
  // back is kept as bytes (received()), not parsed as frames. Throws
  // std::runtime_error on a connection failure or timeout.
  void connect_tcp(std::uint16_t port, std::chrono::milliseconds timeout = 5s);
  // After connect_tcp(): waits for a complete HTTP response (the head, then
  // Content-Length bytes of body, or the body up to EOF without one; only
  // the head for a 1xx such as 101); nullopt when none arrives within
  // `timeout`.
  std::optional<HttpResult> wait_http_response(std::chrono::milliseconds timeout);
  // After connect_tcp(): every byte the server sent so far.
  const std::string& received() const { return in_; }

  // Writes bytes exactly as given (build frames with masked_frame()).
  bool send_raw(std::string_view bytes, std::chrono::milliseconds timeout = 2s);

  // Runs what is ready (collects frames, notices EOF); never blocks.
  void pump();
  // True once the server sent a close frame or closed the TCP connection.
  bool closed() const { return eof_ || close_code_.has_value(); }
  bool eof() const { return eof_; }
  // Waits until closed(); returns the close frame's code (1005 without a
  // code), 1006 for an EOF without close frame, nullopt on timeout.
  std::optional<std::uint16_t> wait_close(std::chrono::milliseconds timeout);
  // Waits until the server closes the TCP connection; false on timeout.
  bool wait_eof(std::chrono::milliseconds timeout);

  const std::vector<RawFrame>& frames() const { return frames_; }

  // A client frame (FIN set, masked with a fixed key) with `opcode` and
  // `payload`.
  static std::string masked_frame(std::uint8_t opcode, std::string_view payload, bool fin = true);

 private:
  void start_read();
  void parse_frames();
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);

  net::io_context ioc_;
  tcp::socket socket_;
  std::string in_;  // received bytes not parsed yet
  std::vector<char> chunk_;
  std::vector<RawFrame> frames_;
  bool reading_ = false;
  bool raw_bytes_ = false;  // connect_tcp(): keep what arrives, do not parse frames
  bool eof_ = false;
  std::optional<std::uint16_t> close_code_;
};

}  // namespace wsrelay::test
