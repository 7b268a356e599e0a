#include <wsrelay/wire/printable.hpp>

#include <cstdint>

#include <fmt/format.h>

namespace wsrelay {
std::size_t decode_utf8(std::string_view s, std::uint32_t& code_point) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  std::uint32_t min = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    code_point = lead & 0x1f;
    min = 0x80;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    code_point = lead & 0x0f;
    min = 0x800;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    code_point = lead & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i) & 0x3f);
  }
  if (code_point < min || code_point > 0x10ffff || (code_point >= 0xd800 && code_point <= 0xdfff))
    return 0;
  return length;
}

bool append_backslash_escape(std::string& out, unsigned char c) {
  switch (c) {
    case '\\':
    case '"':
      out += '\\';
      out += static_cast<char>(c);
      return true;
    case '\n':
      out += "\\n";
      return true;
    case '\r':
      out += "\\r";
      return true;
    case '\t':
      out += "\\t";
      return true;
    default:
      return false;
  }
}

namespace {

// Code points that are valid text yet change how a line reads.
bool disguising(std::uint32_t c) {
  return (c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 || c == 0x061c || c == 0x200e ||
         c == 0x200f || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

}  // namespace

std::string printable(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(text.size() < max_bytes ? text.size() : max_bytes);
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t mark = out.size();
    const unsigned char c = static_cast<unsigned char>(text[i]);
    std::size_t consumed = 1;
    if (append_backslash_escape(out, c)) {  // \\ " \n \r \t: written
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      std::uint32_t code_point = 0;
      consumed = decode_utf8(text.substr(i), code_point);
      if (consumed == 0) {
        consumed = 1;
        out += fmt::format("\\x{:02x}", c);
      } else if (disguising(code_point)) {
        out += fmt::format("\\u{{{:04x}}}", code_point);
      } else {
        out.append(text.substr(i, consumed));
      }
    }
    if (out.size() > max_bytes) {
      out.resize(mark);
      out += fmt::format("...({} more bytes)", text.size() - i);
      return out;
    }
    i += consumed;
  }
  return out;
}

}  // namespace wsrelay
