// HttpSession's POST /api/publish (docs/publishing.md, "HTTP"): the key is
// checked before the body is read, the body is bounded by
// publish_api.max_body_bytes and the handshake deadline, and the message goes
// through the hub to the engine, as a browser's publish does: with the redis
// engine every gateway on that Redis delivers it, with the memory engine this
// one does, with no Redis at all.
#include <wsrelay/gateway/http_session.hpp>

#include <algorithm>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <wsrelay/config/config.hpp>
#include <wsrelay/gateway/http_request_reader.hpp>
#include <wsrelay/gateway/hub.hpp>
#include <wsrelay/gateway/publish_request.hpp>
#include <wsrelay/gateway/shard.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/rate_limited_log.hpp>
#include <wsrelay/wire/printable.hpp>
#include <wsrelay/wire/routes.hpp>
#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

constexpr std::string_view json_type = "Content-Type: application/json\r\n";

// The media type of a Content-Type value, without parameters, lower case.
std::string media_type(std::string_view value) {
  std::string type(trim(value.substr(0, value.find(';'))));
  for (char& c : type)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return type;
}

}  // namespace

// The request's header went to the parser that read it; the body is read
// into a string by one that continues from it.
struct PublishBodyReader {
  explicit PublishBodyReader(http::request_parser<http::empty_body>&& header)
      : parser(std::move(header)) {}
  http::request_parser<http::string_body> parser;
};

bool HttpSession::publish_api_path_requested() const {
  if (!request_) return false;
  const std::string_view target = request_->parser.get().target();
  return target.substr(0, target.find('?')) == publish_api_path;
}

bool HttpSession::publish_api_here() const {
  const Config& config = shard_.config();
  if (!config.publish_api_enabled) return false;
  if (listener_ == Listener::main && config.publish_api_admin_only) return false;
  return publish_api_path_requested();
}

void HttpSession::publish_api_refused(int status, std::string_view message,
                                      std::string_view extra_headers) {
  shard_.metrics().api_publish_refused.fetch_add(1, std::memory_order_relaxed);
  std::string headers(json_type);
  headers += extra_headers;
  respond(status, "publish refused", publish_error_json(message), headers);
}

void HttpSession::serve_publish_api() {
  auto& req = request_->parser.get();
  if (req.method() != http::verb::post)
    return publish_api_refused(405, "use POST", "Allow: POST\r\n");
  const std::string_view authorization = req[http::field::authorization];
  if (!publish_key_accepted(authorization, shard_.config().publish_api_key_list)) {
    resolve_client();
    // One line a second at most, whatever a client sends; nothing of the
    // request but whether it had a key, and the address it came from.
    static SharedRateLimitedLog log;
    if (std::uint64_t suppressed = 0; log.should_log(suppressed))
      spdlog::warn(
          "publish API: request from {} refused with 401: {} ({} more since the "
          "previous line)",
          printable(client_), authorization.empty() ? "no API key" : "wrong API key", suppressed);
    return publish_api_refused(401,
                               authorization.empty()
                                   ? "missing API key: send Authorization: Bearer <key>"
                                   : "wrong API key",
                               "WWW-Authenticate: Bearer\r\n");
  }
  if (request_->parser.is_done()) return publish(req[http::field::content_type], req.target(), {});
  publish_body_ = std::make_shared<PublishBodyReader>(std::move(request_->parser));
  publish_body_->parser.body_limit(shard_.config().publish_api_max_body_bytes);
  http::async_read(
      socket_, request_->buffer, publish_body_->parser,
      [self = shared_from_this()](error_code ec, std::size_t) { self->on_publish_body(ec); });
}

void HttpSession::on_publish_body(error_code ec) {
  if (state_ != State::reading) return;
  if (ec == http::error::body_limit)
    return publish_api_refused(413, "request body over publish_api.max_body_bytes");
  if (ec) return finish("publish request body not complete");
  auto message = publish_body_->parser.release();
  publish_body_.reset();
  publish(message[http::field::content_type], message.target(), std::move(message.body()));
}

void HttpSession::publish(std::string_view content_type, std::string_view target,
                          std::string body) {
  const auto q = target.find('?');
  const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  const std::string type = media_type(content_type);
  ParsedPublishRequest parsed;
  if (type == "application/json") {
    if (!query.empty())
      return publish_api_refused(
          400, "the JSON form takes its target from the body, not the query string");
    parsed = parse_publish_json(body);
  } else if (type == "application/octet-stream") {
    parsed = parse_publish_query(query, std::move(body));
  } else {
    return publish_api_refused(
        415,
        "Content-Type must be application/json, or application/octet-stream with the "
        "target in the query string");
  }
  if (const auto* error = std::get_if<PublishRequestError>(&parsed))
    return publish_api_refused(error->status, error->message);
  if (shard_.shutting_down()) return publish_api_refused(503, "server shutting down");
  // Down, the engine would hold the message in its pending queue; an
  // application that gets 503 can retry, or keep it itself.
  if (!shard_.hub().ready()) return publish_api_refused(503, "backend unavailable: try again");

  const Config& config = shard_.config();
  auto& request = std::get<PublishRequest>(parsed);
  const int expire = request.expire_seconds.value_or(config.expire_seconds);
  // On a routed facility the broadcast audience is its routes: the ones
  // the operator lets the gateway publish on (publish-broadcast), as for a
  // browser's publish-broadcast. The other audiences keep their names.
  std::vector<std::string> channels;
  if (request.target.broadcast && is_routed(config.routes, request.target.facility)) {
    channels = routed_channels_for({}, request.target.facility, publish_broadcast, config.prefix,
                                   config.routes)
                   .publish;
    if (channels.empty())
      return publish_api_refused(
          422, fmt::format("facility {} is routed and none of its routes lists "
                           "publish-broadcast: publish on the application's channel",
                           request.target.facility));
    request.target.broadcast = false;
    for (auto& channel : target_channels(request.target, config.prefix))
      if (std::find(channels.begin(), channels.end(), channel) == channels.end())
        channels.push_back(std::move(channel));
  } else {
    channels = target_channels(request.target, config.prefix);
  }
  for (const std::string& channel : channels)
    shard_.hub().publish(channel, request.message, expire, {});
  shard_.metrics().api_publishes.fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("session {}: publish API: {} bytes on {} channel(s) of /{}", id_,
                request.message.size(), channels.size(), request.target.facility);
  respond(202, "published", fmt::format("{{\"channels\":{}}}\n", channels.size()), json_type);
}

}  // namespace wsrelay
