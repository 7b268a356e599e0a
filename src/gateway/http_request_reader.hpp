#pragma once
// HttpRequestReader: the HTTP side of a session (its buffer and the parser
// of its request's header), alive only until the upgrade or the answer.
// Shared by http_session.cpp and http_publish.cpp.
#include <cstddef>
#include <cstdint>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <wsrelay/runtime/net.hpp>

namespace wsrelay {

class HttpRequestReader {
 public:
  // `body_limit`: 0, or publish_api.max_body_bytes when the publish API
  // is on (only its requests have a body; see on_request).
  HttpRequestReader(std::size_t max_header_bytes, std::size_t body_limit)
      : buffer(max_header_bytes + 1024) {
    parser.header_limit(static_cast<std::uint32_t>(max_header_bytes));
    parser.body_limit(body_limit);
  }
  beast::flat_buffer buffer;
  http::request_parser<http::empty_body> parser;
};

}  // namespace wsrelay
