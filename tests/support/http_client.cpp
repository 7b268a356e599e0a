#include "support/http_client.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>
#include <wsrelay/runtime/net.hpp>

#include <strings.h>

namespace wsrelay::test {

std::optional<std::string> HttpResult::header(std::string_view name) const {
  return find_header(headers, name);
}

std::optional<std::string> find_header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() && ::strncasecmp(key.data(), name.data(), key.size()) == 0) {
      return value;
    }
  }
  return std::nullopt;
}

HttpResult http_get(std::uint16_t port, const std::string& target, const Headers& headers,
                    std::chrono::milliseconds timeout) {
  return http_request(port, "GET", target, headers, {}, timeout);
}

HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const Headers& headers, std::string body,
                        std::chrono::milliseconds timeout) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  request.set(http::field::connection, "close");
  for (const auto& [key, value] : headers) request.set(key, value);
  if (!body.empty()) {
    request.body() = std::move(body);
    request.prepare_payload();
  }
  http::response<http::string_body> response;
  error_code result = net::error::would_block;
  bool done = false;

  stream.expires_after(timeout);
  stream.async_connect(
      tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), port), [&](error_code ec) {
        if (ec) {
          result = ec;
          done = true;
          return;
        }
        http::async_write(stream, request, [&](error_code ec, std::size_t) {
          if (ec) {
            result = ec;
            done = true;
            return;
          }
          http::async_read(stream, buffer, response, [&](error_code ec, std::size_t) {
            result = ec;
            done = true;
          });
        });
      });
  ioc.run_for(timeout + 1s);  // the stream's own timer fires first
  if (!done) throw std::runtime_error(method + " " + target + ": no answer in time");
  if (result) throw std::runtime_error(method + " " + target + ": " + result.message());

  HttpResult out;
  out.status = static_cast<int>(response.result_int());
  out.body = response.body();
  for (const auto& field : response) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  return out;
}

}  // namespace wsrelay::test
