// The shared text steps: one trim, one decimal parser, one percent-decoder.
#include <cstdint>

#include <catch2/catch.hpp>

#include <wsrelay/wire/text.hpp>

using namespace wsrelay;

TEST_CASE("text: trim takes the given characters off both ends only", "[text]") {
  CHECK(trim("  a b\t") == "a b");
  CHECK(trim("\t\t") == "");
  CHECK(trim("") == "");
  CHECK(trim("\na\n") == "\na\n");  // blanks only by default
  CHECK(trim("\r\n a \f\v", white_space) == "a");
  CHECK(trim(", a, b ,", " \t,") == "a, b");
}

TEST_CASE("text: parse_decimal takes the whole text as a number in range", "[text]") {
  unsigned u = 0;
  CHECK(parse_decimal("65535", u));
  CHECK(u == 65535);
  CHECK_FALSE(parse_decimal("", u));
  CHECK_FALSE(parse_decimal("-1", u));
  CHECK_FALSE(parse_decimal("+1", u));
  CHECK_FALSE(parse_decimal(" 1", u));
  CHECK_FALSE(parse_decimal("1x", u));
  CHECK_FALSE(parse_decimal("99999999999999999999", u));
  std::int64_t s = 0;
  CHECK(parse_decimal("-42", s));
  CHECK(s == -42);
  std::uint8_t small = 0;
  CHECK_FALSE(parse_decimal("256", small));
}

TEST_CASE("text: percent_decode decodes %XX and refuses a broken escape", "[text]") {
  CHECK(percent_decode("a%2Fb%2fc") == std::optional<std::string>("a/b/c"));
  CHECK(percent_decode("p%40ss+word") == std::optional<std::string>("p@ss+word"));
  CHECK(percent_decode("%00") == std::optional<std::string>(std::string(1, '\0')));
  CHECK(percent_decode("") == std::optional<std::string>(""));
  CHECK_FALSE(percent_decode("%"));
  CHECK_FALSE(percent_decode("%4"));
  CHECK_FALSE(percent_decode("abc%4"));
  CHECK_FALSE(percent_decode("%g1"));
  CHECK_FALSE(percent_decode("%-1"));
}
