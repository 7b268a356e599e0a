#include <wsrelay/gateway/static_pages.hpp>

#include <algorithm>

#include <nlohmann/json.hpp>

#include <wsrelay/config/config.hpp>
#include <wsrelay/gateway/assets.hpp>

namespace wsrelay {
namespace {

constexpr std::string_view demo_path = "/demo/";
// Placeholders in clients/demo/index.html.
constexpr std::string_view client_src_slot = "__WSRELAY_CLIENT_SRC__";
constexpr std::string_view config_slot = "/*__WSRELAY_DEMO_CONFIG__*/null";

void replace_all(std::string& text, std::string_view slot, std::string_view value) {
  for (auto at = text.find(slot); at != std::string::npos; at = text.find(slot, at + value.size()))
    text.replace(at, slot.size(), value);
}

std::string html_attribute(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// JSON inside a <script> element: "</script>" or "<!--" in a value (a user
// name, a prefix) must not end the element, so every '<' is escaped. '<'
// occurs only inside strings in JSON, where \u003c means the same.
std::string script_json(const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  replace_all(text, "<", "\\u003c");
  return text;
}

// The redis-cli options that reach the configured Redis (never its password).
std::string redis_cli_options(const Config& config) {
  if (!config.redis) return {};
  const RedisEndpoint& r = *config.redis;
  std::string options;
  if (r.is_unix) {
    options += " -s " + r.path;
  } else if (r.is_sentinel()) {
    // The master's address is found at run time; the page cannot name it.
  } else {
    if (r.host != "127.0.0.1" && r.host != "localhost") options += " -h " + r.host;
    if (r.port != 6379) options += " -p " + std::to_string(r.port);
  }
  if (r.db != 0) options += " -n " + std::to_string(r.db);
  return options;
}

// "subscribe-broadcast&publish-broadcast&echo": the flags as a query string.
std::string flags_query(Flags flags) {
  std::string query = flags_to_string(flags);
  std::replace(query.begin(), query.end(), ',', '&');
  return query;
}

}  // namespace

HttpAnswer client_script_answer(std::string_view if_none_match) {
  const assets::Asset& client = assets::client_js();
  HttpAnswer answer;
  // no-cache: browsers keep the file but ask each time, so an upgraded
  // gateway is picked up at once and an unchanged one costs a 304.
  answer.headers = "Content-Type: application/javascript; charset=utf-8\r\nETag: ";
  answer.headers += client.etag;
  answer.headers += "\r\nCache-Control: no-cache\r\n";
  bool matches = if_none_match.find(client.etag) != std::string_view::npos;
  if (if_none_match.find_first_not_of(" \t") != std::string_view::npos &&
      if_none_match.substr(if_none_match.find_first_not_of(" \t")) == "*")
    matches = true;
  if (matches) {
    answer.status = 304;
    answer.reason = "not modified";
    return answer;
  }
  answer.reason = "client script";
  answer.body = std::string(client.body);
  return answer;
}

std::optional<DemoRoute> demo_route(const Config& config, std::string_view path) {
  if (!config.demo) return std::nullopt;
  if (path == demo_path) return DemoRoute::page;
  if (path == demo_path.substr(0, demo_path.size() - 1)) return DemoRoute::redirect;
  return std::nullopt;
}

HttpAnswer demo_page_answer(const Config& config, const Identity& identity) {
  nlohmann::json settings = {
      {"websocket_url", config.websocket_url},
      {"facility", demo_facility},
      {"heartbeat", config.heartbeat.empty() ? nlohmann::json() : nlohmann::json(config.heartbeat)},
      {"room_flags", flags_query(demo_room_flags)},
      {"personal_flags", flags_query(demo_personal_flags)},
      {"room_channel", channel_name(config.prefix, Audience::broadcast, "", demo_facility)},
      {"user", nullptr},
      {"user_channel", nullptr},
      {"redis", config.redis.has_value()},
      {"redis_cli", "redis-cli" + redis_cli_options(config)},
      // The demo facility keeps a history (history.facilities): the page
      // shows positions and resumes after a drop.
      {"history", config.redis.has_value() && history_for(config.history_rules, demo_facility)},
  };
  if (identity.user) {
    settings["user"] = *identity.user;
    settings["user_channel"] =
        channel_name(config.prefix, Audience::user, *identity.user, demo_facility);
  }
  HttpAnswer answer;
  answer.reason = "demo page";
  // The page carries the visitor's identity: never cached, never framed.
  answer.headers =
      "Content-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n"
      "X-Frame-Options: DENY\r\n";
  answer.body = std::string(assets::demo_html().body);
  replace_all(answer.body, client_src_slot, html_attribute(config.client_path));
  replace_all(answer.body, config_slot, script_json(settings));
  return answer;
}

}  // namespace wsrelay
