#include <wsrelay/wire/http_answer.hpp>

namespace wsrelay {

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
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

}  // namespace

std::string format_http_answer(int status, std::string_view body, std::string_view extra_headers,
                               bool head_only) {
  std::string answer = "HTTP/1.1 " + std::to_string(status) + " ";
  answer += status_reason(status);
  answer += "\r\n";
  if (extra_headers.find("Content-Type:") == std::string_view::npos)
    answer += "Content-Type: text/plain; charset=utf-8\r\n";
  answer += extra_headers;
  answer += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  if (!head_only) answer += body;
  return answer;
}

}  // namespace wsrelay
