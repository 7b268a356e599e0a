// Log lines: UTC timestamps with a Z, the level names log.level accepts,
// JSON lines that parse whatever the message holds, access lines whose
// client bytes cannot forge a line or a field.
#include <chrono>
#include <regex>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <wsrelay/config/config.hpp>
#include <wsrelay/runtime/log.hpp>

using namespace wsrelay;
using json = nlohmann::json;

namespace {

LogRecord record(std::string_view payload, spdlog::level::level_enum level = spdlog::level::info,
                 bool access = false) {
  LogRecord r;
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
  r.level = level;
  r.access = access;
  r.payload = payload;
  return r;
}

}  // namespace

TEST_CASE("log timestamps are UTC in ISO 8601 with milliseconds and a Z", "[log]") {
  using namespace std::chrono;
  CHECK(format_utc_timestamp(system_clock::time_point(milliseconds(1'700'000'000'123))) ==
        "2023-11-14T22:13:20.123Z");
  CHECK(format_utc_timestamp(system_clock::time_point(milliseconds(0))) ==
        "1970-01-01T00:00:00.000Z");
  CHECK(format_log_line(LogFormat::text, record("hello")) ==
        "2023-11-14T22:13:20.123Z info hello\n");
}

TEST_CASE("the level printed is the name log.level accepts", "[log]") {
  for (const char* name : {"trace", "debug", "info", "warn", "error", "critical"}) {
    INFO(name);
    // The config takes it...
    Config config;
    CHECK_NOTHROW(set_config_value(config, "log.level", name));
    // ...and a line at that level prints it.
    const auto level = spdlog::level::from_str(name);
    CHECK(level_name(level) == name);
    const std::string line = format_log_line(LogFormat::text, record("x", level));
    CHECK(line == std::string("2023-11-14T22:13:20.123Z ") + name + " x\n");
  }
}

TEST_CASE("log.format accepts text and json only", "[log][config]") {
  LogFormat format = LogFormat::text;
  CHECK(parse_log_format("json", format));
  CHECK(format == LogFormat::json);
  CHECK_FALSE(parse_log_format("JSON", format));
  Config config;
  CHECK_NOTHROW(set_config_value(config, "log.format", "json"));
  CHECK_THROWS_WITH(set_config_value(config, "log.format", "xml"),
                    "log.format: must be text or json; got \"xml\"");
}

TEST_CASE("a JSON log line is one valid object whatever the message holds", "[log]") {
  const std::string nasty = std::string("quote \" backslash \\ newline \n cr \r tab \t nul ") +
                            std::string(1, '\0') +
                            " esc \x1b[2J del \x7f bad \xff\xfe utf8 \xc3\xa9 "
                            "cut \xe2\x82 end";
  const std::string line = format_log_line(LogFormat::json, record(nasty, spdlog::level::warn));
  REQUIRE(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);  // one line
  const json parsed = json::parse(line);
  CHECK(parsed["time"] == "2023-11-14T22:13:20.123Z");
  CHECK(parsed["level"] == "warn");
  const std::string msg = parsed["msg"];
  CHECK(msg.find("quote \" backslash \\ newline \n cr") == 0);
  CHECK(msg.find("\xc3\xa9") != std::string::npos);                      // valid UTF-8 kept
  CHECK(msg.find("bad \xef\xbf\xbd\xef\xbf\xbd") != std::string::npos);  // invalid: U+FFFD
}

TEST_CASE("an access line escapes client bytes in text and carries fields in JSON",
          "[log][access]") {
  const std::string forged = "bob\r\n2023-11-14T22:13:20.123Z info access: close status=101";
  for (LogFormat format : {LogFormat::text, LogFormat::json}) {
    AccessLine line(format, "handshake");
    line.number("session", 7)
        .word("client", "203.0.113.9")
        .text("facility", "chat")
        .text("user", forged)
        .word("flags", "subscribe-broadcast,echo")
        .number("status", 101)
        .text("reason", "")
        .seconds("duration", std::chrono::microseconds(1500));
    const std::string out = format_log_line(format, record(line.payload(), spdlog::level::info,
                                                           /*access=*/true));
    INFO(out);
    CHECK(out.find('\n') == out.size() - 1);
    CHECK(out.find('\r') == std::string::npos);
    if (format == LogFormat::text) {
      CHECK(out ==
            "2023-11-14T22:13:20.123Z info access: handshake session=7 client=203.0.113.9 "
            "facility=\"chat\" user=\"bob\\r\\n2023-11-14T22:13:20.123Z info access: close "
            "status=101\" flags=subscribe-broadcast,echo status=101 reason=\"\" "
            "duration=0.001500\n");
    } else {
      const json parsed = json::parse(out);
      CHECK(parsed["msg"] == "access");
      CHECK(parsed["event"] == "handshake");
      CHECK(parsed["session"] == 7);
      CHECK(parsed["client"] == "203.0.113.9");
      CHECK(parsed["user"] == "bob\\r\\n2023-11-14T22:13:20.123Z info access: close status=101");
      CHECK(parsed["status"] == 101);
      CHECK(parsed["duration"].get<double>() == Approx(0.0015));
    }
  }
}
