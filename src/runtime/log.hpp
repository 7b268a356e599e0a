#pragma once
// The process log: one stream (stderr), two formats (log.format), and the
// access lines (log.access).
//
// Every line starts with its time in UTC, ISO 8601 with milliseconds and a
// `Z` (2025-01-31T12:00:00.123Z), then its level, named exactly as
// log.level accepts it (trace, debug, info, warn, error, critical). In
// `json` each line is one JSON object: {"time", "level", "msg"}, and an
// access line carries its fields as members of its own. Strings are
// escaped as JSON requires, bytes that are not UTF-8 as U+FFFD, so every
// line parses whatever a message holds.
//
// Access lines (logger "access"): one per handshake outcome, one per close
// of an opened WebSocket (AccessLine below). They are client-caused, so
// every client-chosen value in them goes through printable() first, and
// there are at most two per accepted connection, however the client
// behaves on it.
//
// Pure parts (format_log_line, AccessLine) are functions of their input;
// setup_logging() installs them into spdlog.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <spdlog/common.h>

namespace wsrelay {

enum class LogFormat { text, json };

// "text" / "json"; false for anything else.
bool parse_log_format(std::string_view name, LogFormat& out);

// The name log.level accepts for `level` ("warn", not spdlog's "warning").
std::string_view level_name(spdlog::level::level_enum level);

// `time` as 2025-01-31T12:00:00.123Z.
std::string format_utc_timestamp(std::chrono::system_clock::time_point time);

// `text` as a JSON string, quotes included; invalid UTF-8 becomes U+FFFD.
void append_json_string(std::string& out, std::string_view text);

// One whole line, with its newline. `access` marks a payload built by
// AccessLine for this same format (in JSON: members, spliced in as they are).
struct LogRecord {
  std::chrono::system_clock::time_point time;
  spdlog::level::level_enum level = spdlog::level::info;
  bool access = false;
  std::string_view payload;
};
std::string format_log_line(LogFormat format, const LogRecord& record);

// The payload of an access line. Text: `access: EVENT key=value ...`, with
// strings quoted; JSON: `"event":"EVENT","key":value,...`. Strings given to
// text() are passed through printable() (client bytes).
class AccessLine {
 public:
  AccessLine(LogFormat format, std::string_view event);
  AccessLine& text(std::string_view key, std::string_view value);  // printable(), quoted
  AccessLine& word(std::string_view key, std::string_view value);  // ours: no quotes in text
  AccessLine& number(std::string_view key, std::uint64_t value);
  AccessLine& seconds(std::string_view key, std::chrono::nanoseconds value);  // 0.001234
  const std::string& payload() const { return out_; }

 private:
  void key(std::string_view name);
  LogFormat format_;
  std::string out_;
};

// Installs the loggers (the default one and "access") on one stderr sink,
// with `format` and `level` (a log.level name). Colours the level in text
// on a terminal only.
void setup_logging(LogFormat format, std::string_view level);
// The format setup_logging() installed (text before it).
LogFormat log_format();
// An access line at info.
void log_access(const AccessLine& line);

}  // namespace wsrelay
