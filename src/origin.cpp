#include <wsrelay/origin.hpp>

#include <algorithm>

#include <fmt/format.h>

namespace wsrelay {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool matches(const std::string& origin, std::string_view pattern) {
  if (pattern == "*") return true;
  const std::string p = lower(pattern);
  const auto star = p.find("://*.");
  if (star == std::string::npos) return origin == p;
  // "https://*.example.com[:port]": same scheme, then at least one label and
  // the rest of the pattern.
  const std::string scheme = p.substr(0, star + 3);
  const std::string rest = p.substr(star + 4);  // ".example.com[:port]"
  if (origin.rfind(scheme, 0) != 0 || !ends_with(origin, rest)) return false;
  const std::string_view label(origin.data() + scheme.size(),
                               origin.size() - scheme.size() - rest.size());
  return !label.empty() && label.find_first_of(":/") == std::string_view::npos;
}

}  // namespace

bool origin_allowed(std::string_view origin, std::string_view host,
                    const std::vector<std::string>& allowed) {
  if (origin.empty()) return true;
  const std::string o = lower(origin);
  if (allowed.empty()) {
    const auto scheme_end = o.find("://");
    if (scheme_end == std::string::npos || host.empty()) return false;
    return o.substr(scheme_end + 3) == lower(host);
  }
  return std::any_of(allowed.begin(), allowed.end(),
                     [&](const std::string& pattern) { return matches(o, pattern); });
}

std::string check_origin_pattern(std::string_view pattern) {
  if (pattern == "*" || pattern == "null") return {};
  const auto scheme_end = pattern.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0 || scheme_end + 3 == pattern.size())
    return fmt::format("\"{}\" is not an origin (scheme://host[:port], e.g. https://example.com)",
                       pattern);
  const std::string_view authority = pattern.substr(scheme_end + 3);
  if (authority.find('/') != std::string_view::npos)
    return fmt::format("\"{}\": an origin has no path (drop everything from the '/')", pattern);
  const auto star = authority.rfind('*');
  if (star != std::string_view::npos && (star != 0 || authority.size() < 3 || authority[1] != '.'))
    return fmt::format(
        "\"{}\": '*' may only stand for the leading labels, as in https://*.example.com", pattern);
  return {};
}

}  // namespace wsrelay
