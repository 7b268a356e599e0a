#include <wsrelay/wire/facility_pattern.hpp>

#include <algorithm>

#include <fmt/format.h>

namespace wsrelay {
namespace {

bool pattern_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-' || c == '*' || c == '?';
}

}  // namespace

bool valid_facility_pattern(std::string_view pattern) {
  return !pattern.empty() && std::all_of(pattern.begin(), pattern.end(), pattern_char);
}

std::string check_facility_pattern(std::string_view pattern) {
  if (pattern.empty()) return "empty facility pattern";
  if (!valid_facility_pattern(pattern))
    return fmt::format("\"{}\": a facility pattern holds [A-Za-z0-9_.-], '*' and '?' only",
                       pattern);
  return {};
}

bool facility_matches(std::string_view pattern, std::string_view facility) {
  std::size_t p = 0;
  std::size_t f = 0;
  std::size_t star = std::string_view::npos;
  std::size_t resume = 0;
  while (f < facility.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == facility[f])) {
      ++p;
      ++f;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = f;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      f = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace wsrelay
