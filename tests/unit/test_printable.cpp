// printable(): client-supplied text in log lines and HTTP bodies. A value
// must never end a line, start a new one, close its quotes or reach the
// terminal as a control sequence.
#include <string>

#include <catch2/catch.hpp>

#include <wsrelay/wire/printable.hpp>

using wsrelay::printable;

TEST_CASE("printable leaves ordinary text alone", "[printable]") {
  CHECK(printable("") == "");
  CHECK(printable("alice-2024_key.v1") == "alice-2024_key.v1");
  CHECK(printable("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST_CASE("printable escapes what could forge or disguise a line", "[printable]") {
  // A kid that tries to end the line and write one of its own.
  CHECK(printable("k1\r\n2030-01-01 info admin logged in") ==
        "k1\\r\\n2030-01-01 info admin logged in");
  CHECK(printable("a\tb") == "a\\tb");
  CHECK(printable(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(printable("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m");
  CHECK(printable("\x7f") == "\\x7f");
  // Quotes and backslashes: a value cannot close its quotes or fake an escape.
  CHECK(printable("x\" admin=\"yes") == "x\\\" admin=\\\"yes");
  CHECK(printable("\\n") == "\\\\n");
  // Bytes that are not UTF-8, overlong forms and surrogates.
  CHECK(printable("\xff\xfe") == "\\xff\\xfe");
  CHECK(printable("\xc0\xaf") == "\\xc0\\xaf");
  CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");
  CHECK(printable("\xe2\x82") == "\\xe2\\x82");  // cut short
  // C1 controls (CSI), line separators, bidirectional overrides.
  CHECK(printable("\xc2\x9b"
                  "31m") == "\\u{009b}31m");
  CHECK(printable("a\xe2\x80\xa8"
                  "b") == "a\\u{2028}b");
  CHECK(printable("\xe2\x80\xae"
                  "gnp.exe") == "\\u{202e}gnp.exe");
  CHECK(printable("\xe2\x81\xa6x") == "\\u{2066}x");
}

TEST_CASE("printable bounds its output", "[printable]") {
  const std::string long_value(8000, 'a');
  const std::string out = printable(long_value, 100);
  CHECK(out == std::string(100, 'a') + "...(7900 more bytes)");
  // An escape is never cut in half, nor a UTF-8 character.
  CHECK(printable(std::string(99, 'a') + "\n", 100) == std::string(99, 'a') + "...(1 more bytes)");
  CHECK(printable(std::string(99, 'a') + "\xc3\xa9", 100) ==
        std::string(99, 'a') + "...(2 more bytes)");
  CHECK(printable(std::string(98, 'a') + "\xc3\xa9", 100) == std::string(98, 'a') + "\xc3\xa9");
}
