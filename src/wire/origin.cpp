#include <wsrelay/wire/origin.hpp>

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

// An origin as browsers serialise it (RFC 6454 §6.2): scheme "://" host
// [":" port], lower-cased, nothing else.
struct Origin {
  std::string scheme;
  std::string host;       // a name, or an IPv6 address in brackets; "*.name" in patterns
  std::string port;       // digits, or empty
  std::string authority;  // host[:port], as the Host header would carry it
};

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

// Dot-separated labels of letters, digits, '-' and '_', none empty.
bool valid_name(std::string_view host) {
  if (host.empty() || host.front() == '.' || host.back() == '.') return false;
  char previous = 0;
  for (char c : host) {
    if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.')) return false;
    if (c == '.' && previous == '.') return false;
    previous = c;
  }
  return true;
}

bool valid_host(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    const std::string_view address = host.substr(1, host.size() - 2);
    return std::all_of(address.begin(), address.end(), [](char c) {
      return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
             c == '.';
    });
  }
  return valid_name(host);
}

// Why strict: an Origin such as "https://evil.com#.example.com",
// "https://example.com@evil.com" or "https://evil.com\.example.com" is no
// origin a browser sends, and a matcher working on text can be fooled by
// it. Only the exact shape is taken; everything else is refused first.
std::optional<Origin> parse_origin(std::string_view text, bool wildcard) {
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0 || !is_alpha(text.front()))
    return std::nullopt;
  const std::string_view scheme = text.substr(0, scheme_end);
  if (!std::all_of(scheme.begin(), scheme.end(), [](char c) {
        return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
      }))
    return std::nullopt;
  Origin origin;
  origin.scheme = lower(scheme);
  std::string_view authority = text.substr(scheme_end + 3);
  std::string_view host = authority;
  // The port follows the last ':' outside an IPv6 address's brackets.
  if (const auto colon = authority.rfind(':');
      colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    host = authority.substr(0, colon);
    const std::string_view port = authority.substr(colon + 1);
    unsigned number = 0;
    if (port.size() > 5 || !parse_decimal(port, number) || number > 65535) return std::nullopt;
    origin.port = std::string(port);
  }
  std::string_view name = host;
  if (wildcard && host.substr(0, 2) == "*.") name = host.substr(2);
  if (!valid_host(name)) return std::nullopt;
  origin.host = lower(host);
  origin.authority = lower(authority);
  return origin;
}

bool matches(const Origin& origin, const std::string& pattern) {
  if (pattern == "*") return true;
  const auto allowed = parse_origin(pattern, true);
  if (!allowed || allowed->scheme != origin.scheme || allowed->port != origin.port) return false;
  if (allowed->host.rfind("*.", 0) != 0) return allowed->host == origin.host;
  // "*.example.com": at least one label, then ".example.com".
  const std::string_view suffix = std::string_view(allowed->host).substr(1);
  return origin.host.size() > suffix.size() &&
         origin.host.compare(origin.host.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

bool origin_allowed(std::string_view origin, std::string_view host,
                    const std::vector<std::string>& allowed) {
  if (origin.empty()) return true;
  if (origin == "null")
    return std::any_of(allowed.begin(), allowed.end(), [](const std::string& pattern) {
      return pattern == "null" || pattern == "*";
    });
  const auto parsed = parse_origin(origin, false);
  if (!parsed) return false;
  if (allowed.empty()) return !host.empty() && parsed->authority == lower(host);
  return std::any_of(allowed.begin(), allowed.end(),
                     [&](const std::string& pattern) { return matches(*parsed, pattern); });
}

std::string check_origin_pattern(std::string_view pattern) {
  if (pattern == "*" || pattern == "null") return {};
  if (parse_origin(pattern, true)) return {};
  const auto scheme_end = pattern.find("://");
  if (scheme_end != std::string_view::npos &&
      pattern.find('/', scheme_end + 3) != std::string_view::npos)
    return fmt::format("\"{}\": an origin has no path (drop everything from the '/')", pattern);
  if (pattern.find('*') != std::string_view::npos)
    return fmt::format(
        "\"{}\": '*' may only stand for the leading labels, as in https://*.example.com", pattern);
  return fmt::format(
      "\"{}\" is not an origin (scheme://host[:port], e.g. https://example.com; no user, path, "
      "query or fragment)",
      pattern);
}

}  // namespace wsrelay
