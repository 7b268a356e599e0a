// HttpSession: the request, its route, the checks of an upgrade, the
// authorization, then the hand-over to a WsSession or an HTTP answer.
#include <wsrelay/gateway/http_session.hpp>

#include <boost/asio/write.hpp>

#include <spdlog/spdlog.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <wsrelay/auth/auth.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/gateway/http_request_reader.hpp>
#include <wsrelay/gateway/hub.hpp>
#include <wsrelay/gateway/shard.hpp>
#include <wsrelay/gateway/static_pages.hpp>
#include <wsrelay/gateway/ws_session.hpp>
#include <wsrelay/runtime/log.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/rate_limited_log.hpp>
#include <wsrelay/wire/cidr.hpp>
#include <wsrelay/wire/command_channel.hpp>
#include <wsrelay/wire/http_answer.hpp>
#include <wsrelay/wire/origin.hpp>
#include <wsrelay/wire/printable.hpp>
#include <wsrelay/wire/routes.hpp>
#include <wsrelay/wire/ws_frame.hpp>

namespace wsrelay {

HttpSession::HttpSession(Shard& shard, tcp::socket socket, std::uint64_t id,
                         Admission::Ticket handshake, Admission::Ticket address, Listener listener)
    : shard_(shard),
      socket_(std::move(socket)),
      id_(id),
      listener_(listener),
      handshake_(std::move(handshake)),
      address_(std::move(address)) {}

HttpSession::~HttpSession() = default;

void HttpSession::start() {
  const Config& config = shard_.config();
  deadline_ = shard_.now() + std::chrono::seconds(config.handshake_timeout_seconds);
  request_ = std::make_unique<HttpRequestReader>(
      config.max_header_bytes, config.publish_api_enabled ? config.publish_api_max_body_bytes : 0);
  http::async_read_header(
      socket_, request_->buffer, request_->parser,
      [self = shared_from_this()](error_code ec, std::size_t) { self->on_request(ec); });
}

void HttpSession::on_request(error_code ec) {
  if (state_ != State::reading) return;
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    counts_as_handshake_ = true;
    return respond(431, "request header too large", "request header fields too large\n");
  }
  const bool publish_api = publish_api_here();
  if (ec == http::error::body_limit && publish_api)
    return publish_api_refused(413, "request body over publish_api.max_body_bytes");
  // Where the API is off (or served on the other listener) its path is
  // unknown, and its requests carry a body: 404, not a complaint about it.
  if (!publish_api && publish_api_path_requested() &&
      (ec == http::error::body_limit || (!ec && !request_->parser.is_done())))
    return respond(404, "not found", "not found\n");
  if (ec == http::error::end_of_stream || ec == net::error::eof ||
      ec == net::error::operation_aborted || ec == net::error::connection_reset)
    return finish("closed before the request was complete");
  if (ec) {
    counts_as_handshake_ = true;
    return respond(400, "bad request", "malformed HTTP request: " + ec.message() + "\n");
  }
  if (publish_api) return serve_publish_api();
  if (!request_->parser.is_done()) {  // only publish requests have a body
    counts_as_handshake_ = true;
    return respond(400, "bad request", "malformed HTTP request: unexpected body\n");
  }
  route();
}

void HttpSession::route() {
  const Config& config = shard_.config();
  auto& req = request_->parser.get();
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  // HEAD is answered like GET, without the body (RFC 9110 9.3.2): load
  // balancers and monitors probe with it.
  head_only_ = req.method() == http::verb::head;
  const bool get = req.method() == http::verb::get || head_only_;

  if (listener_ == Listener::admin) {
    if (get && route_probe(path, true)) return;
    return respond(404, "not found", "not found\n");
  }
  if (get && route_probe(path, config.admin_listen.empty())) return;

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

  if (config.command_channel_enabled && path == config.command_channel_path)
    return route_command_channel();

  auto parsed = parse_target(target, config.websocket_url);
  if (!parsed) return respond(404, "not found", "not found\n");
  counts_as_handshake_ = true;
  if (const auto* named = std::get_if<Target>(&*parsed)) target_ = *named;  // for the access line
  if (!origin_passes()) return;
  if (auto* error = std::get_if<TargetError>(&*parsed))
    return respond(error->status, error->reason, error->reason + "\n");
  target_ = std::get<Target>(std::move(*parsed));

  if (!admit_upgrade()) return;
  authorize_upgrade();
}

// The command channel's upgrade: the same checks and authorization as a
// pub/sub one (docs/command-channel.md), asked about command_channel_facility
// with no flag; on_authorized then turns the identity into a key prefix.
void HttpSession::route_command_channel() {
  counts_as_handshake_ = true;
  command_channel_ = true;
  target_ = Target{std::string(command_channel_facility), 0};
  if (!origin_passes()) return;
  if (!admit_upgrade()) return;
  authorize_upgrade();
}

void HttpSession::authorize_upgrade() {
  state_ = State::authorizing;
  shard_.authorizer().authorize(auth_request(target_.facility, target_.flags),
                                [self = shared_from_this()](AuthDecision decision) {
                                  net::post(self->shard_.context(),
                                            [self, decision = std::move(decision)]() mutable {
                                              self->on_authorized(std::move(decision));
                                            });
                                });
}

bool HttpSession::origin_passes() {
  const Config& config = shard_.config();
  Metrics& metrics = shard_.metrics();
  auto& req = request_->parser.get();
  // First of all: a page from another site must not learn whether anything
  // here would have accepted it, nor spend an authorization on it.
  if (!origin_allowed(req[http::field::origin], req[http::field::host], config.allowed_origins)) {
    metrics.handshakes_origin_refused.fetch_add(1, std::memory_order_relaxed);
    // At info: a proxy that rewrites Host (nginx's $host drops the port)
    // refuses every browser, and that must show at the default level. At
    // most one line a second per shard thread, so a client cannot flood it, and
    // both headers escaped, so it cannot forge one either.
    thread_local RateLimitedLog origin_log;
    if (std::uint64_t suppressed = 0; origin_log.should_log(suppressed))
      spdlog::info(
          "session {}: origin \"{}\" refused: not in auth.allowed_origins, or (list empty) not "
          "the Host \"{}\"; behind a proxy, pass the Host with its port (nginx: $http_host) "
          "[{} more refused since the last line]",
          id_, printable(req[http::field::origin]), printable(req[http::field::host]), suppressed);
    respond(403, "origin not allowed", "origin not allowed\n");
    return false;
  }
  return true;
}

bool HttpSession::route_probe(std::string_view path, bool metrics) {
  if (path == "/healthz") {
    respond(200, "ok", "ok\n");
  } else if (path == "/readyz") {
    if (shard_.shutting_down())
      respond(503, "draining", "draining\n");
    else if (shard_.hub().ready())
      respond(200, "ready", "ready\n");
    else
      respond(503, "not ready", "not ready: the backend link is down\n");
  } else if (metrics && path == "/metrics") {
    respond(200, "metrics", shard_.metrics().render_prometheus(),
            "Content-Type: text/plain; version=0.0.4\r\n");
  } else {
    return false;
  }
  return true;
}

bool HttpSession::admit_upgrade() {
  const Config& config = shard_.config();
  Metrics& metrics = shard_.metrics();
  auto& req = request_->parser.get();
  if (!beast::websocket::is_upgrade(req)) {
    respond(400, "not an upgrade", "Client does not wish to upgrade to a websocket\n");
    return false;
  }
  if (req[http::field::sec_websocket_version] != "13") {
    respond(426, "unsupported version", "unsupported Sec-WebSocket-Version; use 13\n",
            "Sec-WebSocket-Version: 13\r\n");
    return false;
  }
  if (!valid_websocket_key(req[http::field::sec_websocket_key])) {
    respond(400, "bad key",
            "missing or malformed Sec-WebSocket-Key (16 bytes in base64 are expected)\n");
    return false;
  }
  if (shard_.shutting_down()) {
    respond(503, "shutting down", "server shutting down\n");
    return false;
  }
  resolve_client();
  if (!admit_address()) return false;
  // The slot is taken here, before the asynchronous authorization, so that
  // handshakes in flight on every shard cannot together pass the limit.
  slot_ = shard_.admission().take_slot(config.max_connections);
  if (!slot_) {
    metrics.connections_over_limit.fetch_add(1, std::memory_order_relaxed);
    respond(503, "too many connections", "too many connections\n");
    return false;
  }
  return true;
}

// A direct peer was counted at accept; behind a trusted proxy the client is
// only known now, from X-Forwarded-For. Then the address's rate: each
// WebSocket request takes a token.
bool HttpSession::admit_address() {
  const Config& config = shard_.config();
  Admission& admission = shard_.admission();
  const char* over = nullptr;
  if (from_trusted_proxy_ && !address_) {
    auto decision = admission.admit_address(client_, config.address_limits);
    if (decision.verdict == AddressLimits::Verdict::too_many_open)
      over = "server.max_connections_per_address";
    address_ = std::move(decision.ticket);
  }
  if (!over && !admission.take_token(address_, config.address_limits))
    over = "server.connect_rate_per_address";
  if (!over) return true;
  shard_.metrics().handshakes_address_limited.fetch_add(1, std::memory_order_relaxed);
  static SharedRateLimitedLog log;  // clients decide how often: one line a second
  if (std::uint64_t suppressed = 0; log.should_log(suppressed))
    spdlog::warn(
        "handshake from {} refused with 429: over {} ({} more refused since the previous "
        "line)",
        client_, over, suppressed);
  const bool too_many = std::string_view(over) == "server.max_connections_per_address";
  respond(429, "address limit",
          too_many ? "too many connections from this address\n"
                   : "too many new connections from this address\n");
  return false;
}

void HttpSession::resolve_client() {
  if (!peer_.empty()) return;
  error_code ignored;
  const auto peer = socket_.remote_endpoint(ignored);
  const Config& config = shard_.config();
  peer_ = ignored ? std::string() : peer.address().to_string();
  from_trusted_proxy_ = address_in(peer_, config.trusted_proxy_blocks);
  std::string forwarded_for;
  for (const auto& field : request_->parser.get()) {
    if (!beast::iequals(field.name_string(), "X-Forwarded-For")) continue;
    if (!forwarded_for.empty()) forwarded_for += ',';
    forwarded_for += field.value();
  }
  client_ = client_address(peer_, forwarded_for, config.trusted_proxy_blocks);
}

AuthRequest HttpSession::auth_request(std::string_view facility, Flags flags) {
  auto& req = request_->parser.get();
  AuthRequest auth;
  auth.facility = std::string(facility);
  auth.requested = flags;
  auth.target = std::string(req.target());
  auth.query_token = take_query_param(auth.target, shard_.config().jwt_query_param);
  auth.cookie = std::string(req[http::field::cookie]);
  auth.authorization = std::string(req[http::field::authorization]);
  auth.origin = std::string(req[http::field::origin]);
  resolve_client();
  auth.peer_address = peer_;
  auth.from_trusted_proxy = from_trusted_proxy_;
  for (const auto& field : req)
    auth.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  auth.remote_address = client_;
  spdlog::debug("session {}: /{} from {} (peer {})", id_, facility, client_, auth.peer_address);
  return auth;
}

// The demo page shows the visitor's personal channel, so the page request is
// authorized as the personal connection's handshake will be. A refusal only
// leaves that panel out: the page itself is public.
void HttpSession::serve_demo_page() {
  shard_.authorizer().authorize(
      auth_request(demo_facility, demo_personal_flags),
      [self = shared_from_this()](AuthDecision decision) {
        net::post(self->shard_.context(), [self, decision = std::move(decision)] {
          if (self->state_ == State::answering || self->state_ == State::done) return;
          Identity identity;
          if (decision.status == 0 && !decision.abstain) identity = decision.identity;
          auto answer = demo_page_answer(self->shard_.config(), identity);
          self->respond(answer.status, answer.reason, answer.body, answer.headers);
        });
      });
}

void HttpSession::on_authorized(AuthDecision decision) {
  if (state_ != State::authorizing) return;
  if (decision.status != 0) {
    // 503: a backend could not reach its source of truth (fails closed).
    int status = decision.status == 401 || decision.status == 503 ? decision.status : 403;
    std::string reason = decision.reason.empty() ? "not allowed" : decision.reason;
    spdlog::debug("session {}: /{} from {} refused with {}: {}", id_, target_.facility, client_,
                  status, reason);
    return respond(status, reason, reason + "\n");
  }
  const Config& config = shard_.config();
  auto& req = request_->parser.get();
  WsUpgrade upgrade;
  // Positions and resume (docs/history.md): only where history is kept.
  if (const HistoryRequest history = parse_history_request(req.target()); history.positions) {
    if (!history.error.empty()) return respond(400, history.error, history.error + "\n");
    const HistoryRule* rule = history_for(config.history_rules, target_.facility);
    if (rule == nullptr) {
      const std::string reason =
          fmt::format("no history is kept for \"{}\" (history.facilities)", target_.facility);
      return respond(400, reason, reason + "\n");
    }
    upgrade.positions = true;
    upgrade.since = history.since;
    upgrade.history_entries = rule->entries;
    upgrade.history_ttl_seconds = rule->ttl_seconds;
  }
  upgrade.id = id_;
  upgrade.facility = target_.facility;
  if (command_channel_) {
    // The identity's own keys (docs/command-channel.md): without the part
    // the prefix names (an anonymous client has no user), no keys at all.
    auto prefix = expand_key_prefix(config.command_channel_key_prefix, decision.identity.user,
                                    decision.identity.session);
    if (!prefix) {
      const char* reason = prefix_needs_user(config.command_channel_key_prefix)
                               ? "the command channel needs a user"
                               : "the command channel needs a session";
      return respond(401, reason, std::string(reason) + "\n");
    }
    upgrade.command_channel = true;
    upgrade.key_prefix = std::move(*prefix);
  } else {
    // On a routed facility only the broadcast flags its routes carry are
    // left (docs/protocol.md §3.1); the ws4redis rule applies to the rest.
    upgrade.flags =
        target_.flags & decision.allowed & route_allowed_flags(config.routes, target_.facility);
    if ((target_.flags & ~echo) != 0 && (upgrade.flags & ~echo) == 0) {
      const std::string reason =
          fmt::format("no requested flag is allowed on \"{}\"", target_.facility);
      return respond(403, reason, reason + "\n");
    }
    auto channels = routed_channels_for(decision.identity, target_.facility, upgrade.flags,
                                        config.prefix, config.routes);
    upgrade.subscribe = std::move(channels.subscribe);
    upgrade.publish = std::move(channels.publish);
  }
  upgrade.client = std::move(client_);
  upgrade.user = decision.identity.user.value_or(std::string());
  upgrade.accepted = accepted_;
  upgrade.response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  upgrade.response += websocket_accept_key(req[http::field::sec_websocket_key]);
  upgrade.response += "\r\n";
  const std::string subprotocol =
      select_subprotocol(req[http::field::sec_websocket_protocol], config.subprotocols);
  if (!subprotocol.empty()) upgrade.response += "Sec-WebSocket-Protocol: " + subprotocol + "\r\n";
  upgrade.response += "\r\n";
  // Bytes the client sent right after its request belong to the WebSocket.
  upgrade.early.assign(static_cast<const char*>(request_->buffer.data().data()),
                       request_->buffer.size());
  upgrade.slot = std::move(slot_);
  upgrade.address = std::move(address_);
  upgrade.deadline = deadline_;
  request_.reset();
  handshake_.reset();  // no request buffer from here on
  state_ = State::done;
  shard_.upgrade(this, std::move(socket_), std::move(upgrade));
}

void HttpSession::respond(int status, std::string_view reason, std::string_view body,
                          std::string_view extra_headers) {
  spdlog::debug("session {}: HTTP {} ({})", id_, status, reason);
  // Counted as it is decided, never counted back: a counter only rises.
  if (counts_as_handshake_) handshake_refused(status, reason);
  answer_ = format_http_answer(status, body, extra_headers, head_only_);
  // No request buffer from here on: what is left is a short answer and a
  // linger bounded by close_timeout_seconds.
  request_.reset();
  handshake_.reset();
  slot_.reset();
  state_ = State::answering;
  deadline_ = shard_.now() + std::chrono::seconds(shard_.config().close_timeout_seconds);
  net::async_write(
      socket_, net::buffer(answer_),
      [self = shared_from_this()](error_code ec, std::size_t) { self->on_written(ec); });
}

// One per connection: respond() runs once (its state moves on), and an
// upgraded connection goes on as a WsSession that logs its own outcome.
void HttpSession::handshake_refused(int status, std::string_view reason) {
  const auto now = clock::now();
  Metrics& metrics = shard_.metrics();
  metrics.count_refusal(status);
  metrics.handshake_duration.observe(shard_.index(), now - accepted_);
  if (!shard_.config().log_access) return;
  std::string client = client_;
  if (client.empty()) {  // refused before X-Forwarded-For was read: the peer
    error_code ignored;
    const auto peer = socket_.remote_endpoint(ignored);
    if (!ignored) client = peer.address().to_string();
  }
  AccessLine line(log_format(), "handshake");
  line.number("session", id_)
      .word("client", client)
      .text("facility", target_.facility)
      .text("user", "")
      .word("flags", flags_to_string(target_.flags))
      .number("status", static_cast<std::uint64_t>(status))
      .text("reason", reason)
      .seconds("duration", now - accepted_);
  log_access(line);
}

void HttpSession::on_written(error_code ec) {
  if (state_ == State::done) return;
  std::string().swap(answer_);
  if (ec) return finish("write failed");
  linger();
}

// Closing a socket that still has unread input sends a reset, and the
// peer's stack may then drop our answer unread (a client still sending an
// oversized header hits exactly this). So: send FIN, read and discard until
// the peer closes too, or the close deadline.
void HttpSession::linger() {
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  socket_.async_wait(tcp::socket::wait_read,
                     [self = shared_from_this()](error_code ec) { self->on_lingering(ec); });
}

void HttpSession::on_lingering(error_code ec) {
  if (state_ == State::done) return;
  if (ec) return finish("read wait failed");
  if (!socket_.non_blocking()) socket_.non_blocking(true, ec);
  for (int round = 0; round < 4; ++round) {
    socket_.read_some(net::buffer(shard_.read_buffer(), Shard::read_buffer_size), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) break;
    if (ec) return finish("closed");
  }
  socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code wait_ec) {
    self->on_lingering(wait_ec);
  });
}

void HttpSession::tick(clock::time_point now) {
  if (state_ == State::done || now < deadline_) return;
  // Waiting on the authorizer: the connection is refused, not dropped.
  if (state_ == State::authorizing) return respond(503, "handshake timeout", "handshake timeout\n");
  finish(state_ == State::answering ? "close timeout" : "handshake timeout");
}

void HttpSession::go_away() {
  if (state_ == State::authorizing) {
    // No answer the authorizer gives could open a WebSocket now.
    return respond(503, "shutting down", "server shutting down\n");
  }
  // A request still on its way gets close_timeout_seconds more, then is
  // answered 503 (route() checks the shard's shutdown) or dropped.
  if (state_ == State::reading)
    deadline_ = std::min(
        deadline_, shard_.now() + std::chrono::seconds(shard_.config().close_timeout_seconds));
}

void HttpSession::finish(std::string_view why) {
  if (finished_) return;
  finished_ = true;
  spdlog::debug("session {}: finish ({})", id_, why);
  error_code ignored;
  socket_.close(ignored);
  state_ = State::done;
  slot_.reset();
  address_.reset();
  handshake_.reset();
  // Posted, so that the shard's list is never changed while it is walked.
  net::post(shard_.context(), [self = shared_from_this()] { self->shard_.remove(self.get()); });
}

}  // namespace wsrelay
