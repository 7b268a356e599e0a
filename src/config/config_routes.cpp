#include <wsrelay/config/config.hpp>
#include <wsrelay/config/config_routes.hpp>

#include <fmt/format.h>

namespace wsrelay {
namespace {

constexpr std::size_t kMaxChannelBytes = 1024;
constexpr std::size_t kMaxRoutes = 1024;

std::string where(std::string_view source, const toml::node& node, std::size_t index,
                  std::string_view key) {
  return fmt::format("{}:{}: routes[{}]{}{}", source, node.source().begin.line, index,
                     key.empty() ? "" : ".", key);
}

std::string check_channel(std::string_view channel) {
  if (channel.empty()) return "must not be empty";
  if (channel.size() > kMaxChannelBytes)
    return fmt::format("longer than {} bytes", kMaxChannelBytes);
  for (char ch : channel)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f)
      return "must not contain control characters";
  return {};
}

Flags parse_flags(const toml::node& node, const std::string& origin) {
  const auto* array = node.as_array();
  if (!array) throw ConfigError(origin + ": expected an array of flag names");
  Flags flags = 0;
  for (const toml::node& item : *array) {
    const auto* name = item.as_string();
    const auto flag = name ? flag_from_name(name->get()) : std::nullopt;
    if (!flag || (*flag & route_flag_mask) == 0)
      throw ConfigError(origin +
                        ": a route carries only \"subscribe-broadcast\" and \"publish-broadcast\"");
    flags |= *flag;
  }
  if (flags == 0) throw ConfigError(origin + ": must list at least one flag");
  return flags;
}

bool parse_bool(const toml::node& node, const std::string& origin) {
  const auto* value = node.as_boolean();
  if (!value) throw ConfigError(origin + ": expected true or false");
  return value->get();
}

Route parse_route(const toml::table& table, std::string_view source, std::size_t index) {
  Route route;
  bool has_facility = false;
  bool has_channel = false;
  for (auto&& [key, node] : table) {
    const std::string origin = where(source, node, index, key.str());
    if (key.str() == "facility" || key.str() == "channel") {
      const auto* text = node.as_string();
      if (!text) throw ConfigError(origin + ": expected a string");
      if (key.str() == "facility") {
        route.facility = text->get();
        if (!valid_facility(route.facility))
          throw ConfigError(origin +
                            ": must be 1-128 characters of A-Z a-z 0-9 _ . - (not only "
                            "dots), as a client names it");
        has_facility = true;
      } else {
        route.channel = text->get();
        if (auto error = check_channel(route.channel); !error.empty())
          throw ConfigError(origin + ": " + error);
        has_channel = true;
      }
    } else if (key.str() == "flags") {
      route.flags = parse_flags(node, origin);
    } else if (key.str() == "pattern") {
      route.pattern = parse_bool(node, origin);
    } else if (key.str() == "replay") {
      route.replay = parse_bool(node, origin);
    } else {
      throw ConfigError(origin +
                        ": unknown key (a route has facility, channel, flags, pattern, replay)");
    }
  }
  const std::string origin = where(source, table, index, {});
  if (!has_facility) throw ConfigError(origin + ".facility: missing");
  if (!has_channel) throw ConfigError(origin + ".channel: missing");
  if (route.pattern && (route.flags & publish_broadcast))
    throw ConfigError(origin + ".flags: a pattern route cannot carry \"publish-broadcast\"");
  if (route.pattern && route.replay)
    throw ConfigError(origin + ".replay: a pattern has no stored value to replay");
  return route;
}

}  // namespace

// TOML basic strings: escape what the grammar forbids raw; UTF-8 passes as is.
void append_toml_string(std::string& out, std::string_view s) {
  static constexpr std::string_view kRaw = "\"\\\b\t\n\f\r";
  static constexpr std::string_view kEscaped = "\"\\btnfr";
  out += '"';
  for (char ch : s) {
    if (const auto i = kRaw.find(ch); i != std::string_view::npos) {
      out += '\\';
      out += kEscaped[i];
    } else if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      out += fmt::format("\\u{:04X}", static_cast<unsigned char>(ch));
    } else {
      out += ch;
    }
  }
  out += '"';
}

void parse_routes(RouteSettings& settings, const toml::node& node, std::string_view source) {
  const auto* array = node.as_array();
  if (!array || !array->is_array_of_tables())
    throw ConfigError(
        fmt::format("{}:{}: routes: expected [[routes]] tables", source, node.source().begin.line));
  if (array->size() > kMaxRoutes)
    throw ConfigError(fmt::format("{}:{}: routes: more than {} routes", source,
                                  node.source().begin.line, kMaxRoutes));
  settings.routes.clear();
  for (std::size_t i = 0; i < array->size(); ++i)
    settings.routes.push_back(parse_route(*array->get(i)->as_table(), source, i + 1));
  validate_routes(settings);
}

void validate_routes(const RouteSettings& settings) {
  const auto& routes = settings.routes;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      const Route& a = routes[j];
      const Route& b = routes[i];
      if (a.facility == b.facility && a.channel == b.channel && a.pattern == b.pattern)
        throw ConfigError(
            fmt::format("routes[{}]: the same facility and channel as routes[{}]", i + 1, j + 1));
      if (!a.pattern && !b.pattern && a.channel == b.channel && a.replay != b.replay)
        throw ConfigError(
            fmt::format("routes[{}].replay: routes[{}] names the same channel with another replay",
                        i + 1, j + 1));
    }
  }
}

void append_routes_toml(std::string& out, const RouteSettings& settings) {
  for (const Route& route : settings.routes) {
    out += "\n[[routes]]\nfacility = ";
    append_toml_string(out, route.facility);
    out += "\nchannel = ";
    append_toml_string(out, route.channel);
    out += fmt::format("\npattern = {}\nreplay = {}\nflags = [", route.pattern, route.replay);
    const char* sep = "";
    for (Flag flag : {subscribe_broadcast, publish_broadcast}) {
      if (!(route.flags & flag)) continue;
      out += sep;
      append_toml_string(out, flags_to_string(flag));
      sep = ", ";
    }
    out += "]\n";
  }
}

}  // namespace wsrelay
