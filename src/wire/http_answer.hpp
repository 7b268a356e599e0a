#pragma once
// The bytes of an HTTP/1.1 answer that closes the connection (pure): the
// plain endpoints, the refusals of an upgrade, the 503 of a WebSocket whose
// channels were not confirmed in time.
#include <string>
#include <string_view>

namespace wsrelay {

// "HTTP/1.1 <status> <reason phrase>", a text/plain Content-Type unless
// `extra_headers` (lines ending in \r\n) has one, Content-Length,
// "Connection: close", then `body` unless `head_only` (a HEAD request).
std::string format_http_answer(int status, std::string_view body,
                               std::string_view extra_headers = {}, bool head_only = false);

}  // namespace wsrelay
