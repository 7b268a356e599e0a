#pragma once
// A real WebSocket client (Beast) for tests. Every operation takes a deadline:
// the client runs its own io_context only inside its calls, for at most the
// time given, so nothing here can hang a test.
//
// After a successful connect() one read is always pending, so messages are
// collected in arrival order (read() pops the oldest), pings are answered and
// a close frame from the server is seen. Pings are answered only while one of
// the client's calls runs: call pump() from a wait loop to keep a client
// responsive while the test waits on something else.
//
// Not thread-safe: one thread per client.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <wsrelay/runtime/net.hpp>

#include "support/http_client.hpp"

namespace wsrelay::test {

using HandshakeResult = HttpResult;

struct Received {
  std::string data;
  bool binary = false;
};

class WsClient {
 public:
  WsClient();
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Opens a TCP connection to 127.0.0.1:port and sends the upgrade request
  // for `target` with `headers` added (Cookie, Origin, Sec-WebSocket-Protocol
  // ...). A 101 opens the WebSocket; any other status is returned with its
  // body and the client stays closed. Throws std::runtime_error when no
  // response arrives within `timeout` or the connection fails.
  HandshakeResult connect(std::uint16_t port, const std::string& target,
                          const Headers& headers = {}, std::chrono::milliseconds timeout = 5s);
  // Before connect(): the local address to connect from (another loopback
  // address, e.g. "127.0.0.2", tells this client apart from a proxy on
  // 127.0.0.1).
  void set_local_address(std::string address) { local_address_ = std::move(address); }

  // False when the write did not complete within `timeout` or failed.
  bool send_text(std::string_view data, std::chrono::milliseconds timeout = 5s);
  bool send_binary(std::string_view data, std::chrono::milliseconds timeout = 5s);

  // The oldest message not read yet, waiting up to `timeout` for one.
  std::optional<Received> read(std::chrono::milliseconds timeout = 5s);
  // True when no message arrives within `window` (a close is not a message).
  bool expect_no_message(std::chrono::milliseconds window = 250ms);

  // The close code the server sent: 1005 for a close frame without a code,
  // 1006 when the connection ended without a close frame; nullopt when it is
  // still open after `timeout`. Unread messages stay readable.
  std::optional<std::uint16_t> wait_close(std::chrono::milliseconds timeout = 5s);
  // The close code seen so far (see wait_close), without waiting: call
  // pump() first to process what has arrived.
  std::optional<std::uint16_t> close_code() const;
  // Client-initiated close handshake; true when it completed in time.
  bool close(std::uint16_t code = 1000, std::chrono::milliseconds timeout = 2s);

  // Open: handshake done and no close or error seen yet.
  bool is_open() const;
  // Runs whatever is ready (answers pings, collects messages); never blocks.
  void pump();
  // Number of messages received and not read yet (after a pump()).
  std::size_t pending() const { return inbox_.size(); }

 private:
  using Stream = beast::websocket::stream<beast::tcp_stream>;

  bool send(std::string_view data, bool binary, std::chrono::milliseconds timeout);
  void start_read();
  // Runs handlers until `done()` or the deadline; returns done().
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
  // Closes the socket and lets every pending handler finish.
  void abort();

  net::io_context ioc_;
  std::unique_ptr<Stream> ws_;
  beast::flat_buffer buffer_;
  std::deque<Received> inbox_;
  bool opened_ = false;
  bool ended_ = false;  // the read loop stopped: closed or failed
  std::optional<std::uint16_t> close_code_;
  std::string local_address_;
};

}  // namespace wsrelay::test
