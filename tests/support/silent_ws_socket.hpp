#pragma once
// A WebSocket peer on a plain non-blocking POSIX socket that reads only when
// the test says so. RawWsClient reads whenever its io_context runs, which
// includes its own send_raw(); this one can write megabytes (a ping flood)
// without reading a single byte back, so the server's outbound queue for it
// really grows. It can also start many handshakes before reading any answer
// (concurrent handshakes). Every call has a deadline.
//
// Not thread-safe: one thread per socket.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/http_client.hpp"
#include "support/raw_ws_client.hpp"

namespace wsrelay::test {

class SilentWsSocket {
 public:
  enum class SendResult { sent, closed, timeout };

  SilentWsSocket() = default;
  ~SilentWsSocket();
  SilentWsSocket(const SilentWsSocket&) = delete;
  SilentWsSocket& operator=(const SilentWsSocket&) = delete;

  // TCP connect to 127.0.0.1:port; `receive_buffer` > 0 sets SO_RCVBUF
  // first. Throws std::runtime_error on failure.
  void open(std::uint16_t port, int receive_buffer = 0);
  // The hand-written upgrade request for `target` (see RawWsClient).
  static std::string upgrade_request(std::uint16_t port, const std::string& target,
                                     const Headers& headers = {});
  // Reads the response head; returns the HTTP status, 0 when none arrived in
  // time or the connection ended first. Bytes after the head are kept.
  int read_handshake(std::chrono::milliseconds timeout = 5s);
  // open() + upgrade request + read_handshake().
  int connect(std::uint16_t port, const std::string& target, int receive_buffer = 0,
              std::chrono::milliseconds timeout = 5s);

  // Writes every byte of `bytes`, waiting for writability up to `timeout`.
  // `closed` when the peer reset or closed the connection.
  SendResult send_all(std::string_view bytes, std::chrono::milliseconds timeout = 5s);

  // Reads and parses frames until the peer closes the TCP connection (true)
  // or `timeout` passes (false). A reset counts as closed.
  bool read_until_eof(std::chrono::milliseconds timeout);
  const std::vector<RawFrame>& frames() const { return frames_; }
  // Reads whatever has arrived, without waiting, and parses it into
  // frames(); returns frames().size().
  std::size_t read_available();

  // Closes the socket now (the destructor does it too).
  void close();

 private:
  bool wait_for(short events, std::chrono::steady_clock::time_point deadline);
  // One read; false at EOF or on an error other than "would block".
  bool read_some();
  void parse_frames();

  int fd_ = -1;
  bool eof_ = false;
  std::string in_;
  std::vector<RawFrame> frames_;
};

}  // namespace wsrelay::test
