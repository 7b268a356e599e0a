#pragma once
// One plain HTTP/1.1 request to the gateway (health, metrics, a non-upgrade
// request on /ws/...), under a deadline. Also the result type of a WebSocket
// handshake, which is an HTTP response too.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wsrelay::test {

using namespace std::chrono_literals;

using Headers = std::vector<std::pair<std::string, std::string>>;

// The first header called `name` (case-insensitive) in `headers`, if any.
std::optional<std::string> find_header(const Headers& headers, std::string_view name);

struct HttpResult {
  int status = 0;
  std::string body;
  Headers headers;

  // The first header called `name` (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
};

// Throws std::runtime_error when no complete response arrives within
// `timeout` (refused, reset, timed out). Any status is a result.
HttpResult http_get(std::uint16_t port, const std::string& target, const Headers& headers = {},
                    std::chrono::milliseconds timeout = 5s);
// Any method, with `body` (Content-Length set when it is not empty).
HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const Headers& headers = {}, std::string body = {},
                        std::chrono::milliseconds timeout = 5s);

}  // namespace wsrelay::test
