#include <wsrelay/runtime/log.hpp>

#include <unistd.h>

#include <ctime>
#include <memory>

#include <fmt/format.h>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <wsrelay/wire/printable.hpp>

namespace wsrelay {
namespace {

LogFormat installed_format = LogFormat::text;

// The spdlog side: each line through format_log_line(); in text on a
// terminal the level is coloured (the sink colours color_range).
class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(LogFormat format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    LogRecord record;
    record.time = msg.time;
    record.level = msg.level;
    record.access = std::string_view(msg.logger_name.data(), msg.logger_name.size()) == "access";
    record.payload = std::string_view(msg.payload.data(), msg.payload.size());
    const std::string line = format_log_line(format_, record);
    if (format_ == LogFormat::text) {
      // "<time> <level> ...": the level is the second word.
      const auto start = line.find(' ') + 1;
      msg.color_range_start = start;
      msg.color_range_end = start + level_name(msg.level).size();
    }
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(format_);
  }

 private:
  LogFormat format_;
};

}  // namespace

bool parse_log_format(std::string_view name, LogFormat& out) {
  if (name == "text") {
    out = LogFormat::text;
    return true;
  }
  if (name == "json") {
    out = LogFormat::json;
    return true;
  }
  return false;
}

std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

std::string format_utc_timestamp(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto since_epoch = time.time_since_epoch();
  auto whole = duration_cast<seconds>(since_epoch);
  auto millis = duration_cast<milliseconds>(since_epoch - whole).count();
  if (millis < 0) {  // before 1970: floor, not truncate
    whole -= seconds(1);
    millis += 1000;
  }
  // gmtime_r once a second per thread: a busy log writes many lines a second.
  thread_local std::time_t cached_second = -1;
  thread_local char cached[32];
  const std::time_t second = static_cast<std::time_t>(whole.count());
  if (second != cached_second) {
    std::tm parts{};
    gmtime_r(&second, &parts);
    std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &parts);
    cached_second = second;
  }
  return fmt::format("{}.{:03}Z", cached, millis);
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (append_backslash_escape(out, c)) {  // \\ " \n \r \t: written
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04x}", c);
    } else if (c >= 0x80) {
      std::uint32_t code_point = 0;
      const std::size_t length = decode_utf8(text.substr(i), code_point);
      if (length == 0) {
        out += "\\ufffd";
      } else {
        out.append(text.substr(i, length));
        i += length;
        continue;
      }
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
}

std::string format_log_line(LogFormat format, const LogRecord& record) {
  std::string line;
  line.reserve(64 + record.payload.size());
  if (format == LogFormat::text) {
    line += format_utc_timestamp(record.time);
    line += ' ';
    line += level_name(record.level);
    line += ' ';
    line += record.payload;
    line += '\n';
    return line;
  }
  line += "{\"time\":\"";
  line += format_utc_timestamp(record.time);
  line += "\",\"level\":\"";
  line += level_name(record.level);
  line += "\",";
  if (record.access) {
    line += "\"msg\":\"access\",";
    line += record.payload;  // members, built by AccessLine for JSON
  } else {
    line += "\"msg\":";
    append_json_string(line, record.payload);
  }
  line += "}\n";
  return line;
}

AccessLine::AccessLine(LogFormat format, std::string_view event) : format_(format) {
  out_.reserve(256);
  if (format_ == LogFormat::text) {
    out_ += "access: ";
    out_ += event;
  } else {
    out_ += "\"event\":";
    append_json_string(out_, event);
  }
}

void AccessLine::key(std::string_view name) {
  if (format_ == LogFormat::text) {
    out_ += ' ';
    out_ += name;
    out_ += '=';
  } else {
    out_ += ",\"";
    out_ += name;
    out_ += "\":";
  }
}

AccessLine& AccessLine::text(std::string_view name, std::string_view value) {
  key(name);
  const std::string safe = printable(value);
  if (format_ == LogFormat::text) {
    out_ += '"';
    out_ += safe;
    out_ += '"';
  } else {
    append_json_string(out_, safe);
  }
  return *this;
}

AccessLine& AccessLine::word(std::string_view name, std::string_view value) {
  key(name);
  if (format_ == LogFormat::text)
    out_ += value.empty() ? std::string_view("-") : value;
  else
    append_json_string(out_, value);
  return *this;
}

AccessLine& AccessLine::number(std::string_view name, std::uint64_t value) {
  key(name);
  out_ += fmt::format("{}", value);
  return *this;
}

AccessLine& AccessLine::seconds(std::string_view name, std::chrono::nanoseconds value) {
  key(name);
  const auto count = value.count() < 0 ? 0 : value.count();
  out_ += fmt::format("{}.{:06}", count / 1'000'000'000, (count % 1'000'000'000) / 1000);
  return *this;
}

void setup_logging(LogFormat format, std::string_view level) {
  installed_format = format;
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  // Colours only where someone reads them: a journal or a file gets none.
  if (!::isatty(STDERR_FILENO)) sink->set_color_mode(spdlog::color_mode::never);
  sink->set_formatter(std::make_unique<LineFormatter>(format));
  auto main_logger = std::make_shared<spdlog::logger>("wsrelay", sink);
  auto access_logger = std::make_shared<spdlog::logger>("access", sink);
  spdlog::set_default_logger(main_logger);
  spdlog::register_logger(access_logger);
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

LogFormat log_format() {
  return installed_format;
}

void log_access(const AccessLine& line) {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    auto found = spdlog::get("access");
    return found ? found : spdlog::default_logger();
  }();
  logger->info("{}", line.payload());
}

}  // namespace wsrelay
