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

// A facility pattern holds no `[` and no backslash: Redis's glob reads it as
// the grammar says.
bool facility_matches(std::string_view pattern, std::string_view facility) {
  return glob_match(pattern, facility);
}

namespace {

// One `[...]` class at pattern[p] (just after the '['): whether `c` is in
// it, and where the pattern goes on (after the ']', or at its end when the
// class is not closed, as Redis reads it).
bool class_match(std::string_view pattern, std::size_t& p, char c) {
  bool negate = false;
  if (p < pattern.size() && pattern[p] == '^') {
    negate = true;
    ++p;
  }
  bool match = false;
  while (p < pattern.size() && pattern[p] != ']') {
    if (pattern[p] == '\\' && p + 1 < pattern.size()) {
      ++p;
      if (pattern[p] == c) match = true;
    } else if (p + 2 < pattern.size() && pattern[p + 1] == '-') {
      char lo = pattern[p];
      char hi = pattern[p + 2];
      if (lo > hi) std::swap(lo, hi);
      if (c >= lo && c <= hi) match = true;
      p += 2;
    } else if (pattern[p] == c) {
      match = true;
    }
    ++p;
  }
  if (p < pattern.size()) ++p;  // the ']'
  return negate ? !match : match;
}

}  // namespace

// Iterative, with one backtrack point for the last `*`: linear in practice,
// and no recursion a pattern of many stars could deepen.
bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size()) {
      const char pc = pattern[p];
      if (pc == '*') {
        star = ++p;
        star_text = t;
        continue;
      }
      if (pc == '?') {
        ++p;
        ++t;
        continue;
      }
      if (pc == '[') {
        std::size_t next = p + 1;
        if (class_match(pattern, next, text[t])) {
          p = next;
          ++t;
          continue;
        }
      } else {
        std::size_t q = p;
        if (pc == '\\' && q + 1 < pattern.size()) ++q;
        if (pattern[q] == text[t]) {
          p = q + 1;
          ++t;
          continue;
        }
      }
    }
    if (star == std::string_view::npos) return false;
    p = star;
    t = ++star_text;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace wsrelay
