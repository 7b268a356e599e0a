#pragma once
// HttpSession: a connection from accept until it is a WebSocket or has had
// its HTTP answer. Reads the request (bounded by max_header_bytes and the
// handshake deadline), routes it (health, readiness, metrics, the client
// script, the demo page, /ws/...), runs the checks a WebSocket upgrade must
// pass and the authorization, then either hands the socket and the decision
// to a WsSession (Shard::upgrade) or writes an HTTP answer and closes.
// Lives on one shard and runs only on that shard's thread.
//
// As Beast's examples keep http_session and websocket_session apart: the
// HTTP side's buffers and parser live only as long as the request does, and
// an open WebSocket carries none of them.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <wsrelay/net.hpp>
#include <wsrelay/protocol.hpp>

namespace wsrelay {

class Shard;
struct AuthDecision;
struct AuthRequest;
class HttpRequestReader;

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  using clock = std::chrono::steady_clock;

  HttpSession(Shard& shard, tcp::socket socket, std::uint64_t id);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  void start();
  // Shard thread. The handshake and close deadlines.
  void tick(clock::time_point now);
  // Shard thread. The server is going away.
  void go_away();

 private:
  enum class State { reading, authorizing, answering, done };

  void on_request(error_code ec);
  void route();
  void on_authorized(AuthDecision decision);
  AuthRequest auth_request(std::string_view facility, Flags flags);
  void serve_demo_page();
  void respond(int status, std::string_view reason, std::string_view body,
               std::string_view extra_headers = {});
  void on_written(error_code ec);
  void linger();
  void on_lingering(error_code ec);
  void finish(std::string_view why);

  Shard& shard_;
  tcp::socket socket_;
  std::uint64_t id_;
  State state_ = State::reading;
  std::unique_ptr<HttpRequestReader> request_;
  Target target_;
  std::string client_;       // the client address for logs (X-Forwarded-For behind trusted proxies)
  std::string answer_;       // the HTTP answer being written
  bool head_only_ = false;   // a HEAD request: answers carry no body
  bool holds_slot_ = false;  // counted in connections_open (max_connections)
  bool finished_ = false;
  clock::time_point deadline_;  // handshake deadline, then the close deadline
};

}  // namespace wsrelay
