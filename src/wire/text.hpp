#pragma once
// The small text steps every parser of the tree shares (pure): trimming,
// decimal numbers, percent-decoding. One of each, so that a header value,
// a configuration entry and a URL part are read by the same rules. Also the
// ASCII case-insensitive comparison of names (headers, cookies).
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace wsrelay {

// Spaces and tabs: what HTTP allows around a header value or list item.
inline constexpr std::string_view blanks = " \t";
// Every ASCII white-space character: around a configuration value.
inline constexpr std::string_view white_space = " \t\n\r\f\v";

// `text` without the leading and trailing characters that are in `chars`.
std::string_view trim(std::string_view text, std::string_view chars = blanks);

// `a` and `b` equal but for the case of ASCII letters (header names).
bool iequals(std::string_view a, std::string_view b);

// The whole of `text` as a base-10 number of type Int: no sign for an
// unsigned type, no '+', no blanks, no leading or trailing junk, and not
// out of Int's range.
template <typename Int>
bool parse_decimal(std::string_view text, Int& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// `%XX` escapes decoded (either case of hex digit); nullopt when a '%' is
// not followed by two hex digits. '+' stays '+'.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace wsrelay
