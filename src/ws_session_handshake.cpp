// WsSession's HTTP side, alive until the upgrade or a plain HTTP answer:
// reading the request (bounded by max_header_bytes and the handshake
// deadline), routing it (health, readiness, metrics, the client script, the
// demo page, /ws/...), the checks a WebSocket upgrade must pass, the
// authorization, and the 101 that opens the WebSocket or the HTTP error that
// closes the connection. The constructor and destructor are here because
// HttpRequestReader is a complete type only in this file.
#include <wsrelay/ws_session.hpp>

#include <spdlog/spdlog.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <wsrelay/auth.hpp>
#include <wsrelay/cidr.hpp>
#include <wsrelay/config.hpp>
#include <wsrelay/hub.hpp>
#include <wsrelay/metrics.hpp>
#include <wsrelay/origin.hpp>
#include <wsrelay/shard.hpp>
#include <wsrelay/static_pages.hpp>

namespace wsrelay {

// The HTTP side of a session, alive only until the upgrade.
class HttpRequestReader {
 public:
  explicit HttpRequestReader(std::size_t max_header_bytes) : buffer(max_header_bytes + 1024) {
    parser.header_limit(static_cast<std::uint32_t>(max_header_bytes));
    parser.body_limit(0);
  }
  beast::flat_buffer buffer;
  http::request_parser<http::empty_body> parser;
};

namespace {

std::string_view status_reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 301:
      return "Moved Permanently";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 426:
      return "Upgrade Required";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

}  // namespace

WsSession::WsSession(Shard& shard, tcp::socket socket, std::uint64_t id)
    : shard_(shard), socket_(std::move(socket)), id_(id) {}

WsSession::~WsSession() = default;

void WsSession::start() {
  const Config& config = shard_.config();
  deadline_ = shard_.now() + std::chrono::seconds(config.handshake_timeout_seconds);
  request_ = std::make_unique<HttpRequestReader>(config.max_header_bytes);
  http::async_read(
      socket_, request_->buffer, request_->parser,
      [self = shared_from_this()](error_code ec, std::size_t) { self->on_request(ec); });
}

void WsSession::on_request(error_code ec) {
  if (state_ != State::handshake) return;
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    shard_.metrics().handshakes_rejected.fetch_add(1, std::memory_order_relaxed);
    return respond(431, "request header too large", "request header fields too large\n");
  }
  if (ec == http::error::end_of_stream || ec == net::error::eof ||
      ec == net::error::operation_aborted || ec == net::error::connection_reset)
    return finish("closed before the request was complete");
  if (ec) {
    shard_.metrics().handshakes_rejected.fetch_add(1, std::memory_order_relaxed);
    return respond(400, "bad request", "malformed HTTP request: " + ec.message() + "\n");
  }
  route();
}

void WsSession::route() {
  const Config& config = shard_.config();
  Metrics& metrics = shard_.metrics();
  auto& req = request_->parser.get();
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  // HEAD is answered like GET, without the body (RFC 9110 9.3.2): load
  // balancers and monitors probe with it.
  head_only_ = req.method() == http::verb::head;
  const bool get = req.method() == http::verb::get || head_only_;

  if (get && path == "/healthz") return respond(200, "ok", "ok\n");
  if (get && path == "/readyz") {
    if (shard_.shutting_down()) return respond(503, "draining", "draining\n");
    if (shard_.hub().ready()) return respond(200, "ready", "ready\n");
    return respond(503, "not ready", "not ready: the backend link is down\n");
  }
  if (get && path == "/metrics")
    return respond(200, "metrics", metrics.render_prometheus(),
                   "Content-Type: text/plain; version=0.0.4\r\n");

  if (get && !config.client_path.empty() && path == config.client_path) {
    auto answer = client_script_answer(req[http::field::if_none_match]);
    return respond(answer.status, answer.reason, answer.body, answer.headers);
  }
  if (get) {
    if (auto demo = demo_route(config, path)) {
      if (*demo == DemoRoute::redirect)
        return respond(301, "demo redirect", "", "Location: /demo/\r\n");
      return serve_demo_page();
    }
  }

  auto parsed = parse_target(target, config.websocket_url);
  if (!parsed) return respond(404, "not found", "not found\n");
  metrics.handshakes_rejected.fetch_add(1, std::memory_order_relaxed);  // undone on success
  // First of all: a page from another site must not learn whether anything
  // here would have accepted it, nor spend an authorization on it.
  if (!origin_allowed(req[http::field::origin], req[http::field::host], config.allowed_origins)) {
    metrics.handshakes_origin_refused.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("session {}: origin \"{}\" refused (host \"{}\")", id_,
                  std::string_view(req[http::field::origin]),
                  std::string_view(req[http::field::host]));
    return respond(403, "origin not allowed", "origin not allowed\n");
  }
  if (auto* error = std::get_if<TargetError>(&*parsed))
    return respond(error->status, error->reason, error->reason + "\n");
  target_ = std::get<Target>(std::move(*parsed));

  if (!beast::websocket::is_upgrade(req))
    return respond(400, "not an upgrade", "Client does not wish to upgrade to a websocket\n");
  if (req[http::field::sec_websocket_version] != "13")
    return respond(426, "unsupported version", "unsupported Sec-WebSocket-Version; use 13\n",
                   "Sec-WebSocket-Version: 13\r\n");
  std::string_view key = req[http::field::sec_websocket_key];
  if (key.size() != 24) return respond(400, "bad key", "missing or malformed Sec-WebSocket-Key\n");
  if (shard_.shutting_down()) return respond(503, "shutting down", "server shutting down\n");
  // The slot is taken here, before the asynchronous authorization, so that
  // handshakes in flight on every shard cannot together pass the limit.
  if (static_cast<std::size_t>(metrics.connections_open.fetch_add(1, std::memory_order_relaxed)) >=
      config.max_connections) {
    metrics.connections_open.fetch_sub(1, std::memory_order_relaxed);
    metrics.connections_over_limit.fetch_add(1, std::memory_order_relaxed);
    return respond(503, "too many connections", "too many connections\n");
  }
  holds_slot_ = true;

  shard_.authorizer().authorize(auth_request(target_.facility, target_.flags),
                                [self = shared_from_this()](AuthDecision decision) {
                                  net::post(self->shard_.context(),
                                            [self, decision = std::move(decision)]() mutable {
                                              self->on_authorized(std::move(decision));
                                            });
                                });
}

AuthRequest WsSession::auth_request(std::string_view facility, Flags flags) {
  auto& req = request_->parser.get();
  AuthRequest auth;
  auth.facility = std::string(facility);
  auth.requested = flags;
  auth.target = std::string(req.target());
  auth.query_token = take_query_param(auth.target, shard_.config().jwt_query_param);
  auth.cookie = std::string(req[http::field::cookie]);
  auth.authorization = std::string(req[http::field::authorization]);
  auth.origin = std::string(req[http::field::origin]);
  error_code ignored;
  auto peer = socket_.remote_endpoint(ignored);
  const Config& config = shard_.config();
  auth.peer_address = ignored ? std::string() : peer.address().to_string();
  auth.from_trusted_proxy = address_in(auth.peer_address, config.trusted_proxy_blocks);
  std::string forwarded_for;
  for (const auto& field : req) {
    auth.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    if (beast::iequals(field.name_string(), "X-Forwarded-For")) {
      if (!forwarded_for.empty()) forwarded_for += ',';
      forwarded_for += field.value();
    }
  }
  auth.remote_address =
      client_address(auth.peer_address, forwarded_for, config.trusted_proxy_blocks);
  client_ = auth.remote_address;
  spdlog::debug("session {}: /{} from {} (peer {})", id_, facility, client_, auth.peer_address);
  return auth;
}

// The demo page shows the visitor's personal channel, so the page request is
// authorized as the personal connection's handshake will be. A refusal only
// leaves that panel out: the page itself is public.
void WsSession::serve_demo_page() {
  shard_.authorizer().authorize(
      auth_request(demo_facility, demo_personal_flags),
      [self = shared_from_this()](AuthDecision decision) {
        net::post(self->shard_.context(), [self, decision = std::move(decision)] {
          if (self->state_ != State::handshake) return;
          Identity identity;
          if (decision.status == 0 && !decision.abstain) identity = decision.identity;
          auto answer = demo_page_answer(self->shard_.config(), identity);
          self->respond(answer.status, answer.reason, answer.body, answer.headers);
        });
      });
}

void WsSession::on_authorized(AuthDecision decision) {
  if (state_ != State::handshake) return;
  if (decision.status != 0) {
    holds_slot_ = false;
    shard_.metrics().connections_open.fetch_sub(1, std::memory_order_relaxed);
    // 503: a backend could not reach its source of truth (fails closed).
    int status = decision.status == 401 || decision.status == 503 ? decision.status : 403;
    std::string reason = decision.reason.empty() ? "not allowed" : decision.reason;
    spdlog::debug("session {}: /{} from {} refused with {}: {}", id_, target_.facility, client_,
                  status, reason);
    return respond(status, reason, reason + "\n");
  }
  const Config& config = shard_.config();
  flags_ = target_.flags & decision.allowed;
  auto channels = channels_for(decision.identity, target_.facility, flags_, config.prefix);
  subscribe_ = std::move(channels.subscribe);
  publish_ = std::move(channels.publish);
  auto& req = request_->parser.get();
  open_websocket(select_subprotocol(req[http::field::sec_websocket_protocol], config.subprotocols));
}

void WsSession::open_websocket(const std::string& subprotocol) {
  const Config& config = shard_.config();
  Metrics& metrics = shard_.metrics();
  auto& req = request_->parser.get();
  std::string response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  response += websocket_accept_key(req[http::field::sec_websocket_key]);
  response += "\r\n";
  if (!subprotocol.empty()) response += "Sec-WebSocket-Protocol: " + subprotocol + "\r\n";
  response += "\r\n";

  // Bytes the client sent right after its request belong to the WebSocket.
  std::string early(static_cast<const char*>(request_->buffer.data().data()),
                    request_->buffer.size());
  request_.reset();

  metrics.handshakes_rejected.fetch_sub(1, std::memory_order_relaxed);
  state_ = subscribe_.empty() ? State::open : State::replaying;
  auto now = shard_.now();
  last_read_ = last_data_ = last_ping_ = now;
  parser_ = std::make_unique<FrameParser>(config.max_message_bytes);
  push_own(std::move(response));
  spdlog::debug("session {}: open /{} from {} flags={} subscribe={} publish={}", id_,
                target_.facility, client_, flags_to_string(flags_), subscribe_.size(),
                publish_.size());

  if (!subscribe_.empty()) {
    shard_.subscribe(this, subscribe_);
    shard_.hub().open(shard_.index(), subscribe_, weak_from_this(),
                      [weak = weak_from_this()](std::vector<std::optional<std::string>> values) {
                        if (auto self = weak.lock()) self->on_replay(std::move(values));
                      });
  }
  if (!early.empty() && !parser_->feed(early, *this)) return;
  do_read();
}

void WsSession::respond(int status, std::string_view reason, std::string_view body,
                        std::string_view extra_headers) {
  spdlog::debug("session {}: HTTP {} ({})", id_, status, reason);
  std::string response = "HTTP/1.1 " + std::to_string(status) + " ";
  response += status_reason(status);
  response += "\r\n";
  if (extra_headers.find("Content-Type:") == std::string_view::npos)
    response += "Content-Type: text/plain; charset=utf-8\r\n";
  response += extra_headers;
  response += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  if (!head_only_) response += body;
  request_.reset();
  state_ = State::closing;
  deadline_ = shard_.now() + std::chrono::seconds(shard_.config().close_timeout_seconds);
  close_after_write_ = true;
  push_own(std::move(response));
}

}  // namespace wsrelay
