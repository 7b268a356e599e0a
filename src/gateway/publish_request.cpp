// The HTTP publish API's requests, keys and answers (pure).
#include <wsrelay/gateway/publish_request.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

using json = nlohmann::json;

// A request is flat: an object whose values are scalars or arrays of
// strings. Anything nested deeper is refused before it is built.
constexpr int max_json_depth = 2;

// The checks both forms end with: the target, then the fan-out's cost.
ParsedPublishRequest finish(PublishRequest request) {
  if (auto error = check_target(request.target); !error.empty())
    return PublishRequestError{400, error};
  const std::size_t channels = target_channels(request.target, {}).size();
  if (channels > max_publish_channels)
    return PublishRequestError{413, fmt::format("{} channels named; at most {} per request",
                                                channels, max_publish_channels)};
  if (channels * request.message.size() > max_publish_fanout_bytes)
    return PublishRequestError{
        413, fmt::format("{} channels x {} message bytes is over {} bytes per request", channels,
                         request.message.size(), max_publish_fanout_bytes)};
  return request;
}

std::optional<std::string> take_names(const json& value, std::string_view field,
                                      std::vector<std::string>& out) {
  if (!value.is_array()) return fmt::format("\"{}\" must be an array of strings", field);
  for (const json& item : value) {
    if (!item.is_string()) return fmt::format("\"{}\" must be an array of strings", field);
    out.push_back(item.get<std::string>());
  }
  return std::nullopt;
}

std::optional<std::string> take_expire(std::optional<int>& out, auto value) {
  if (value < 0 || value > max_publish_expire_seconds)
    return fmt::format("\"expire\" must be from 0 to {} seconds", max_publish_expire_seconds);
  out = static_cast<int>(value);
  return std::nullopt;
}

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

}  // namespace

ParsedPublishRequest parse_publish_json(std::string_view body) {
  bool too_deep = false;
  json doc;
  try {
    doc = json::parse(body, [&](int depth, json::parse_event_t, json&) {
      if (depth > max_json_depth) too_deep = true;
      return !too_deep;
    });
  } catch (const json::parse_error& e) {
    return PublishRequestError{
        400, fmt::format("malformed JSON at byte {} (a message must be valid UTF-8 JSON; send "
                         "binary as application/octet-stream)",
                         e.byte)};
  }
  if (too_deep) return PublishRequestError{400, "nested too deep: the request is a flat object"};
  if (!doc.is_object()) return PublishRequestError{400, "the body must be a JSON object"};

  PublishRequest request;
  bool has_facility = false;
  bool has_message = false;
  for (const auto& [key, value] : doc.items()) {
    std::optional<std::string> error;
    if (key == "facility") {
      if (!value.is_string())
        error = "\"facility\" must be a string";
      else
        request.target.facility = value.get<std::string>();
      has_facility = true;
    } else if (key == "message") {
      if (!value.is_string())
        error = "\"message\" must be a string (binary: POST it as application/octet-stream)";
      else
        request.message = value.get<std::string>();
      has_message = true;
    } else if (key == "broadcast") {
      if (!value.is_boolean())
        error = "\"broadcast\" must be true or false";
      else
        request.target.broadcast = value.get<bool>();
    } else if (key == "users") {
      error = take_names(value, key, request.target.users);
    } else if (key == "groups") {
      error = take_names(value, key, request.target.groups);
    } else if (key == "sessions") {
      error = take_names(value, key, request.target.sessions);
    } else if (key == "expire") {
      if (value.is_number_unsigned())
        error = take_expire(request.expire_seconds, value.get<std::uint64_t>());
      else if (value.is_number_integer())
        error = take_expire(request.expire_seconds, value.get<std::int64_t>());
      else
        error = "\"expire\" must be a whole number of seconds";
    } else {
      // The key is the client's: quoted by dump(), with invalid UTF-8 replaced.
      error = fmt::format(
          "unknown field {} (expected facility, broadcast, users, groups, sessions, message, "
          "expire)",
          json(key).dump(-1, ' ', false, json::error_handler_t::replace));
    }
    if (error) return PublishRequestError{400, std::move(*error)};
  }
  if (!has_facility) return PublishRequestError{400, "missing \"facility\""};
  if (!has_message) return PublishRequestError{400, "missing \"message\""};
  return finish(std::move(request));
}

ParsedPublishRequest parse_publish_query(std::string_view query, std::string body) {
  PublishRequest request;
  request.message = std::move(body);
  bool has_facility = false;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const std::string_view name = item.substr(0, eq);
    auto value = percent_decode(eq == std::string_view::npos ? "" : item.substr(eq + 1));
    if (!value) return PublishRequestError{400, "malformed percent-escape in the query string"};
    if (name == "facility") {
      request.target.facility = std::move(*value);
      has_facility = true;
    } else if (name == "broadcast") {
      if (*value == "" || *value == "1" || *value == "true")
        request.target.broadcast = true;
      else if (*value == "0" || *value == "false")
        request.target.broadcast = false;
      else
        return PublishRequestError{400, "broadcast must be empty, 1, true, 0 or false"};
    } else if (name == "user") {
      request.target.users.push_back(std::move(*value));
    } else if (name == "group") {
      request.target.groups.push_back(std::move(*value));
    } else if (name == "session") {
      request.target.sessions.push_back(std::move(*value));
    } else if (name == "expire") {
      int seconds = 0;
      if (!parse_decimal(*value, seconds) || seconds < 0 || seconds > max_publish_expire_seconds)
        return PublishRequestError{
            400, fmt::format("expire must be from 0 to {} seconds", max_publish_expire_seconds)};
      request.expire_seconds = seconds;
    } else {
      return PublishRequestError{
          400,
          "unknown query parameter (expected facility, broadcast, user, group, session, "
          "expire)"};
    }
  }
  if (!has_facility) return PublishRequestError{400, "missing facility in the query string"};
  return finish(std::move(request));
}

bool publish_key_accepted(std::string_view authorization, const std::vector<std::string>& keys) {
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() <= scheme.size()) return false;
  // The scheme is case-insensitive (RFC 9110 11.1); the key is not.
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if ((authorization[i] | 0x20) != (scheme[i] | 0x20)) return false;
  const auto offered = sha256(trim(authorization.substr(scheme.size())));
  bool accepted = false;
  for (const std::string& key : keys) {
    const auto wanted = sha256(key);
    accepted |= CRYPTO_memcmp(offered.data(), wanted.data(), offered.size()) == 0;
  }
  return accepted;
}

std::string publish_error_json(std::string_view message) {
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace wsrelay
