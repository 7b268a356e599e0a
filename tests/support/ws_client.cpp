#include "support/ws_client.hpp"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <stdexcept>

namespace wsrelay::test {

namespace websocket = beast::websocket;

WsClient::WsClient() = default;

WsClient::~WsClient() {
  abort();
}

bool WsClient::run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (ioc_.stopped()) ioc_.restart();
    if (ioc_.run_one_until(deadline) == 0) {
      // Either the deadline passed or there is no pending work left, so
      // nothing can change any more.
      if (std::chrono::steady_clock::now() >= deadline || ioc_.stopped()) return done();
    }
  }
  return true;
}

void WsClient::abort() {
  if (!ws_) return;
  error_code ignored;
  beast::get_lowest_layer(*ws_).socket().close(ignored);
  run_until([] { return false; }, 1s);  // returns as soon as no work is left
}

HandshakeResult WsClient::connect(std::uint16_t port, const std::string& target,
                                  const Headers& headers, std::chrono::milliseconds timeout) {
  if (ws_) throw std::logic_error("WsClient::connect called twice");
  ws_ = std::make_unique<Stream>(ioc_);
  ws_->auto_fragment(false);  // one message = one frame, for size-limit tests
  ws_->set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (const auto& [key, value] : headers) req.set(key, value);
  }));
  websocket::response_type response;
  bool done = false;
  error_code result;

  auto& tcp_layer = beast::get_lowest_layer(*ws_);
  if (!local_address_.empty()) {
    tcp_layer.socket().open(tcp::v4());
    tcp_layer.socket().bind(tcp::endpoint(net::ip::make_address_v4(local_address_), 0));
  }
  tcp_layer.expires_after(timeout);
  tcp_layer.async_connect(tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), port),
                          [&](error_code ec) {
                            if (ec) {
                              result = ec;
                              done = true;
                              return;
                            }
                            ws_->async_handshake(response, "127.0.0.1:" + std::to_string(port),
                                                 target, [&](error_code ec) {
                                                   result = ec;
                                                   done = true;
                                                 });
                          });
  if (!run_until([&] { return done; }, timeout + 1s)) {
    abort();
    throw std::runtime_error("WebSocket handshake for " + target + ": no answer in time");
  }

  HandshakeResult out;
  out.status = static_cast<int>(response.result_int());
  out.body = response.body();
  for (const auto& field : response) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  if (result == websocket::error::upgrade_declined) {
    abort();
    return out;  // e.g. 400 with its reason
  }
  if (result) {
    abort();
    throw std::runtime_error("WebSocket handshake for " + target + ": " + result.message());
  }

  // The WebSocket layer takes over timeouts; the TCP layer's would cut
  // idle-but-healthy connections.
  tcp_layer.expires_never();
  websocket::stream_base::timeout options{};
  options.handshake_timeout = std::chrono::seconds(5);  // also bounds the close handshake
  options.idle_timeout = websocket::stream_base::none();
  options.keep_alive_pings = false;
  ws_->set_option(options);
  opened_ = true;
  start_read();
  return out;
}

void WsClient::start_read() {
  ws_->async_read(buffer_, [this](error_code ec, std::size_t) {
    if (ec) {
      ended_ = true;
      if (ec == websocket::error::closed) {
        const auto code = static_cast<std::uint16_t>(ws_->reason().code);
        close_code_ = code == 0 ? 1005 : code;
      } else if (!close_code_) {
        close_code_ = 1006;
      }
      return;
    }
    inbox_.push_back(Received{beast::buffers_to_string(buffer_.data()), !ws_->got_text()});
    buffer_.consume(buffer_.size());
    start_read();
  });
}

bool WsClient::send(std::string_view data, bool binary, std::chrono::milliseconds timeout) {
  if (!is_open()) return false;
  ws_->binary(binary);
  bool done = false;
  error_code result;
  ws_->async_write(net::buffer(data.data(), data.size()), [&](error_code ec, std::size_t) {
    result = ec;
    done = true;
  });
  if (!run_until([&] { return done; }, timeout)) {
    abort();  // a write that cannot finish leaves the stream unusable
    return false;
  }
  return !result;
}

bool WsClient::send_text(std::string_view data, std::chrono::milliseconds timeout) {
  return send(data, false, timeout);
}

bool WsClient::send_binary(std::string_view data, std::chrono::milliseconds timeout) {
  return send(data, true, timeout);
}

std::optional<Received> WsClient::read(std::chrono::milliseconds timeout) {
  run_until([&] { return !inbox_.empty() || ended_; }, timeout);
  if (inbox_.empty()) return std::nullopt;
  Received message = std::move(inbox_.front());
  inbox_.pop_front();
  return message;
}

bool WsClient::expect_no_message(std::chrono::milliseconds window) {
  run_until([&] { return !inbox_.empty(); }, window);
  return inbox_.empty();
}

std::optional<std::uint16_t> WsClient::wait_close(std::chrono::milliseconds timeout) {
  if (!opened_) return std::nullopt;
  // The code is known as soon as the close frame is read; the closing
  // handshake (answer + TCP teardown) may still be running.
  auto frame_seen = [&] { return close_code().has_value(); };
  if (!run_until(frame_seen, timeout)) return std::nullopt;
  return close_code();
}

std::optional<std::uint16_t> WsClient::close_code() const {
  if (close_code_) return close_code_;
  if (ws_ && ws_->reason().code != 0) return static_cast<std::uint16_t>(ws_->reason().code);
  return std::nullopt;
}

bool WsClient::close(std::uint16_t code, std::chrono::milliseconds timeout) {
  if (!is_open()) return false;
  bool done = false;
  error_code result;
  ws_->async_close(websocket::close_reason(code), [&](error_code ec) {
    result = ec;
    done = true;
  });
  if (!run_until([&] { return done && ended_; }, timeout)) {
    abort();
    return false;
  }
  return !result;
}

bool WsClient::is_open() const {
  return opened_ && !ended_ && ws_ && ws_->is_open();
}

void WsClient::pump() {
  if (ioc_.stopped()) ioc_.restart();
  ioc_.poll();
}

}  // namespace wsrelay::test
