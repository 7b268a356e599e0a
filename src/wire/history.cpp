#include <wsrelay/wire/history.hpp>

#include <algorithm>

#include <fmt/format.h>

#include <wsrelay/wire/facility_pattern.hpp>
#include <wsrelay/wire/resp.hpp>
#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

std::string_view without_prefix(std::string_view prefix, std::string_view channel) {
  if (prefix.empty()) return channel;
  if (channel.size() > prefix.size() && channel.substr(0, prefix.size()) == prefix &&
      channel[prefix.size()] == ':')
    return channel.substr(prefix.size() + 1);
  return channel;
}

std::string prefixed(std::string_view prefix, std::string_view rest) {
  return prefix.empty() ? std::string(rest) : fmt::format("{}:{}", prefix, rest);
}

struct ChannelRead {
  bool exists = false;
  std::vector<HistoryEntry> entries;
  std::vector<std::string> previous;  // `p` of each entry
};

bool read_channel(const RespValue& value, std::size_t index, ChannelRead& out) {
  if (value.type != RespValue::Type::array || value.elements.size() != 2) return false;
  out.exists = value.elements[0].type == RespValue::Type::integer && value.elements[0].integer > 0;
  const RespValue& entries = value.elements[1];
  if (entries.type != RespValue::Type::array) return false;
  for (const RespValue& entry : entries.elements) {
    if (entry.type != RespValue::Type::array || entry.elements.size() != 2) return false;
    auto id = parse_stream_id(entry.elements[0].str);
    const RespValue& fields = entry.elements[1];
    if (!id || fields.type != RespValue::Type::array) return false;
    HistoryEntry parsed{index, *id, {}};
    std::string previous;
    for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
      if (fields.elements[i].str == "d") parsed.message = fields.elements[i + 1].str;
      if (fields.elements[i].str == "p") previous = fields.elements[i + 1].str;
    }
    out.entries.push_back(std::move(parsed));
    out.previous.push_back(std::move(previous));
  }
  return true;
}

// True when entries after `since` may be missing from `read`.
bool has_gap(const ChannelRead& read, StreamId since, std::size_t limit, std::uint64_t ttl_ms,
             std::uint64_t now_ms) {
  if (read.entries.size() > limit) return true;
  if (read.entries.empty()) return !read.exists && since.ms + ttl_ms <= now_ms;
  const std::string& previous = read.previous.front();
  if (previous.empty()) return read.entries.front().id.ms >= since.ms + ttl_ms;
  const auto before = parse_stream_id(previous);
  return !before || *before > since;
}

}  // namespace

std::optional<HistoryRule> parse_history_rule(std::string_view text, int default_ttl,
                                              std::string& error) {
  const auto eq = text.find('=');
  const auto usage = [&] {
    error = fmt::format(
        "\"{}\": expected FACILITY_GLOB=ENTRIES or FACILITY_GLOB=ENTRIES/TTL_SECONDS, e.g. "
        "\"chat*=1000/86400\"",
        text);
    return std::nullopt;
  };
  if (eq == std::string_view::npos) return usage();
  const std::string_view glob = trim(text.substr(0, eq));
  std::string_view rest = trim(text.substr(eq + 1));
  if (auto error_text = check_facility_pattern(glob); !error_text.empty()) {
    error = fmt::format("\"{}\": {}", text, error_text);
    return std::nullopt;
  }
  HistoryRule rule{std::string(glob), 0, default_ttl};
  const auto slash = rest.find('/');
  if (!parse_decimal(trim(rest.substr(0, slash)), rule.entries)) return usage();
  if (slash != std::string_view::npos &&
      !parse_decimal(trim(rest.substr(slash + 1)), rule.ttl_seconds))
    return usage();
  if (rule.entries < 1 || rule.entries > max_history_entries) {
    error = fmt::format("\"{}\": ENTRIES must be between 1 and {}", text, max_history_entries);
    return std::nullopt;
  }
  if (rule.ttl_seconds < 1 || rule.ttl_seconds > max_history_ttl_seconds) {
    error =
        fmt::format("\"{}\": TTL_SECONDS must be between 1 and {}", text, max_history_ttl_seconds);
    return std::nullopt;
  }
  return rule;
}

const HistoryRule* history_for(const std::vector<HistoryRule>& rules, std::string_view facility) {
  for (const HistoryRule& rule : rules)
    if (facility_matches(rule.glob, facility)) return &rule;
  return nullptr;
}

const HistoryRule* history_for_channel(const std::vector<HistoryRule>& rules,
                                       std::string_view prefix, std::string_view channel) {
  if (rules.empty()) return nullptr;
  const std::string_view rest = without_prefix(prefix, channel);
  if (!prefix.empty() && rest.size() == channel.size()) return nullptr;
  if (!rest.starts_with("broadcast:") && !rest.starts_with("user:") &&
      !rest.starts_with("group:") && !rest.starts_with("session:"))
    return nullptr;
  const auto colon = channel.rfind(':');
  if (colon == std::string_view::npos) return nullptr;
  return history_for(rules, channel.substr(colon + 1));
}

std::optional<StreamId> parse_stream_id(std::string_view text) {
  const auto dash = text.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash > 20 || text.size() - dash - 1 > 20)
    return std::nullopt;
  StreamId id;
  for (char c : text)
    if ((c < '0' || c > '9') && c != '-') return std::nullopt;
  if (!parse_decimal(text.substr(0, dash), id.ms) || !parse_decimal(text.substr(dash + 1), id.seq))
    return std::nullopt;
  return id;
}

std::string to_string(StreamId id) {
  return fmt::format("{}-{}", id.ms, id.seq);
}

std::string history_stream_key(std::string_view prefix, std::string_view channel) {
  return prefixed(prefix, fmt::format("history:{}", without_prefix(prefix, channel)));
}

std::string history_clock_key(std::string_view prefix) {
  return prefixed(prefix, "history:clock");
}

std::optional<MarkedPayload> parse_marked(std::string_view payload) {
  if (payload.substr(0, history_marker.size()) != history_marker) return std::nullopt;
  const std::string_view envelope = payload.substr(history_marker.size());
  const auto space = envelope.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto id = parse_stream_id(envelope.substr(0, space));
  if (!id) return std::nullopt;
  return MarkedPayload{*id, envelope.substr(0, space), envelope, envelope.substr(space + 1)};
}

std::string unpositioned_envelope(std::string_view message) {
  std::string out;
  out.reserve(message.size() + 2);
  out += "- ";
  out += message;
  return out;
}

HistoryReplay decide_history_replay(const RespValue& reply, std::optional<StreamId> since,
                                    std::size_t limit, int ttl_seconds) {
  HistoryReplay replay;
  replay.watermark = since.value_or(StreamId{});
  std::uint64_t now_ms = 0;
  if (reply.type != RespValue::Type::array || reply.elements.size() < 2 ||
      !parse_decimal(reply.elements[1].str, now_ms)) {
    replay.reset = true;
    return replay;
  }
  if (auto clock = parse_stream_id(reply.elements[0].str))
    replay.watermark = std::max(replay.watermark, *clock);
  const std::uint64_t ttl_ms = static_cast<std::uint64_t>(ttl_seconds) * 1000;
  for (std::size_t i = 2; i < reply.elements.size(); ++i) {
    ChannelRead read;
    if (!read_channel(reply.elements[i], i - 2, read) ||
        (since && has_gap(read, *since, limit, ttl_ms, now_ms))) {
      replay.reset = true;
      replay.entries.clear();
      return replay;
    }
    for (auto& entry : read.entries) replay.entries.push_back(std::move(entry));
  }
  std::stable_sort(replay.entries.begin(), replay.entries.end(),
                   [](const HistoryEntry& a, const HistoryEntry& b) { return a.id < b.id; });
  return replay;
}

HistoryRequest parse_history_request(std::string_view target) {
  HistoryRequest request;
  const auto q = target.find('?');
  if (q == std::string_view::npos) return request;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = item.find('=');
    const std::string_view name = item.substr(0, eq);
    if (iequals(name, "history")) request.positions = true;
    if (!iequals(name, "since") || request.since || !request.error.empty()) continue;
    request.positions = true;
    const std::string_view value = eq == std::string_view::npos ? "" : item.substr(eq + 1);
    request.since = parse_stream_id(value);
    if (!request.since)
      request.error =
          "since must be a position the gateway sent, <ms>-<seq> (e.g. 1700000000000-0)";
  }
  return request;
}

}  // namespace wsrelay
