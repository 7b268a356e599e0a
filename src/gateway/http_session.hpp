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

#include <wsrelay/gateway/admission.hpp>
#include <wsrelay/runtime/net.hpp>
#include <wsrelay/wire/protocol.hpp>

namespace wsrelay {

// Which listener accepted a connection: the main one (server.listen) serves
// everything; the admin one (server.admin_listen) only /metrics, /healthz
// and /readyz. With an admin listener, /metrics is served there only.
enum class Listener { main, admin };

class Shard;
struct AuthDecision;
struct AuthRequest;
class HttpRequestReader;
struct PublishBodyReader;

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  using clock = std::chrono::steady_clock;

  // `handshake` (taken at accept) is held until the upgrade or the answer;
  // `address`, when the peer was limited at accept, until the connection
  // closes (it goes on to the WsSession).
  HttpSession(Shard& shard, tcp::socket socket, std::uint64_t id, Admission::Ticket handshake,
              Admission::Ticket address, Listener listener = Listener::main);
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
  void route_command_channel();
  // False when the Origin is refused (and answered 403).
  bool origin_passes();
  void authorize_upgrade();
  // The admin listener's routes; false when `path` is none of them.
  bool route_probe(std::string_view path, bool admin);
  // A refused handshake: counted by status, its duration observed, its access line.
  void handshake_refused(int status, std::string_view reason);
  // The checks a WebSocket upgrade passes before its authorization: the
  // request's form, the address limits behind a trusted proxy, a slot.
  // False when one answered instead.
  bool admit_upgrade();
  // The per-address limits (count behind a trusted proxy, then the rate);
  // false when refused with 429.
  bool admit_address();
  // The TCP peer and the client (X-Forwarded-For behind trusted proxies).
  void resolve_client();
  void on_authorized(AuthDecision decision);
  AuthRequest auth_request(std::string_view facility, Flags flags);
  void serve_demo_page();
  // POST /api/publish (http_publish.cpp): true when it is served on this
  // listener; then the request, its key, its body, the publish and the answer.
  bool publish_api_here() const;
  bool publish_api_path_requested() const;
  void serve_publish_api();
  void on_publish_body(error_code ec);
  void publish(std::string_view content_type, std::string_view query, std::string body);
  void publish_api_refused(int status, std::string_view message,
                           std::string_view extra_headers = {});
  void respond(int status, std::string_view reason, std::string_view body,
               std::string_view extra_headers = {});
  void on_written(error_code ec);
  void linger();
  void on_lingering(error_code ec);
  void finish(std::string_view why);

  Shard& shard_;
  tcp::socket socket_;
  std::uint64_t id_;
  Listener listener_;
  clock::time_point accepted_ = clock::now();
  State state_ = State::reading;
  std::unique_ptr<HttpRequestReader> request_;
  std::shared_ptr<PublishBodyReader> publish_body_;  // a publish request's body, while read
  Target target_;
  std::string peer_;    // the TCP peer's address
  std::string client_;  // the client address for logs (X-Forwarded-For behind trusted proxies)
  bool from_trusted_proxy_ = false;
  std::string answer_;      // the HTTP answer being written
  bool head_only_ = false;  // a HEAD request: answers carry no body
  // A WebSocket handshake (or a request too malformed to tell): an answer
  // other than the upgrade counts in wsrelay_handshakes_refused_total and
  // has an access line.
  bool counts_as_handshake_ = false;
  bool finished_ = false;
  bool command_channel_ = false;  // the request is for command_channel.path
  Admission::Ticket handshake_;   // this connection, in server.max_handshakes
  Admission::Ticket address_;     // its client address's count, once limited
  Admission::Ticket slot_;        // a max_connections slot, from the checks to the upgrade
  clock::time_point deadline_;    // handshake deadline, then the close deadline
};

}  // namespace wsrelay
