#pragma once
// What every wsrelay fuzz target shares: a check that stops the fuzzer with
// a readable line (a failed property is a finding, like a crash), a way to
// split one input into the pieces a target needs, and an independent UTF-8
// validator to compare wsrelay::valid_utf8 against.
//
// Targets are built by fuzz/CMakeLists.txt with clang's libFuzzer, ASan and
// UBSan; see docs/fuzzing.md.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

// A property that must hold for every input. On failure: one line naming the
// property and the place, then a trap, which libFuzzer reports as a crash and
// saves the input for.
#define FUZZ_CHECK(condition)                                                                   \
  do {                                                                                          \
    if (!(condition)) {                                                                         \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d\n", #condition, __FILE__, __LINE__); \
      __builtin_trap();                                                                         \
    }                                                                                           \
  } while (0)

namespace wsrelay_fuzz {

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Takes the first byte of `in` (0 when empty) and drops it.
inline std::uint8_t take_byte(std::string_view& in) {
  if (in.empty()) return 0;
  const auto b = static_cast<std::uint8_t>(in.front());
  in.remove_prefix(1);
  return b;
}

// A split point in [0, size] chosen by `selector`, spread over the whole
// input whatever its length, so short and long inputs both get split
// anywhere.
inline std::size_t split_point(std::uint8_t selector, std::size_t size) {
  return size * selector / 255;
}

// The next '\n'-terminated field of `in` (the rest when there is no '\n').
inline std::string_view take_line(std::string_view& in) {
  const auto nl = in.find('\n');
  const std::string_view line = in.substr(0, nl);
  in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
  return line;
}

// Well-formed UTF-8 straight from the Unicode standard's table 3-7, written
// byte range by byte range so that it shares no structure with
// wsrelay::valid_utf8 (which decodes code points and has an ASCII fast path).
inline bool reference_valid_utf8(std::string_view s) {
  auto in = [](unsigned char c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    std::size_t len = 0;
    unsigned lo1 = 0x80;
    unsigned hi1 = 0xbf;
    if (b0 <= 0x7f) {
      len = 1;
    } else if (in(b0, 0xc2, 0xdf)) {
      len = 2;
    } else if (b0 == 0xe0) {
      len = 3, lo1 = 0xa0;
    } else if (in(b0, 0xe1, 0xec) || in(b0, 0xee, 0xef)) {
      len = 3;
    } else if (b0 == 0xed) {
      len = 3, hi1 = 0x9f;
    } else if (b0 == 0xf0) {
      len = 4, lo1 = 0x90;
    } else if (in(b0, 0xf1, 0xf3)) {
      len = 4;
    } else if (b0 == 0xf4) {
      len = 4, hi1 = 0x8f;
    } else {
      return false;
    }
    if (n - i < len) return false;
    if (len > 1 && !in(at(1), lo1, hi1)) return false;
    for (std::size_t k = 2; k < len; ++k)
      if (!in(at(k), 0x80, 0xbf)) return false;
    i += len;
  }
  return true;
}

}  // namespace wsrelay_fuzz
