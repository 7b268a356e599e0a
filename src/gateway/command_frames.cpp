// The Redis command channel's requests and answers (pure).
#include <wsrelay/gateway/command_frames.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <wsrelay/wire/protocol.hpp>

namespace wsrelay {
namespace {

using json = nlohmann::json;

// {"command": [...], ...}: an array inside an object, nothing deeper.
constexpr int max_json_depth = 2;

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16 |
                       static_cast<unsigned char>(bytes[i + 1]) << 8 |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += i + 1 < bytes.size() ? kAlphabet[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

json to_json(const RespValue& reply) {
  switch (reply.type) {
    case RespValue::Type::string:
      if (valid_utf8(reply.str)) return reply.str;
      return json{{"base64", base64(reply.str)}};
    case RespValue::Type::status:
      return reply.str;
    case RespValue::Type::error:  // inside an array (none of the table's commands gives one)
      return json{{"error", reply.str}};
    case RespValue::Type::integer:
      return reply.integer;
    case RespValue::Type::nil:
      return nullptr;
    case RespValue::Type::array: {
      json out = json::array();
      for (const auto& element : reply.elements) out.push_back(to_json(element));
      return out;
    }
  }
  return nullptr;
}

// The answer's head: the echoed date and sessionId, in that order.
std::string head(const CommandRequest& request) {
  std::string out = "{\"date\":" + request.date;
  if (request.session_id)
    out += ",\"sessionId\":" +
           json(*request.session_id).dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

}  // namespace

CommandRequest parse_command_request(std::string_view payload, std::int64_t now_ms) {
  CommandRequest request;
  request.date = std::to_string(now_ms);
  auto malformed = [&request](std::string message) {
    request.command = CommandError{command_error::bad_json, std::move(message)};
    return std::move(request);
  };
  bool too_deep = false;
  json doc;
  try {
    doc = json::parse(payload, [&](int depth, json::parse_event_t, json&) {
      if (depth > max_json_depth) too_deep = true;
      return !too_deep;
    });
  } catch (const json::parse_error& e) {
    return malformed(fmt::format("malformed JSON at byte {}", e.byte));
  }
  if (too_deep) return malformed("nested too deep: a request is a flat object");
  if (!doc.is_object()) return malformed("a request is a JSON object with a \"command\"");

  if (const auto date = doc.find("date"); date != doc.end()) {
    if (!date->is_number()) return malformed("\"date\" must be a number");
    request.date = date->dump();
  }
  if (const auto id = doc.find("sessionId"); id != doc.end()) {
    if (!id->is_string()) return malformed("\"sessionId\" must be a string");
    if (id->get_ref<const std::string&>().size() > max_command_session_id_bytes)
      return malformed(fmt::format("\"sessionId\" is over {} bytes", max_command_session_id_bytes));
    request.session_id = id->get<std::string>();
  }
  const auto command = doc.find("command");
  if (command == doc.end()) return malformed("no \"command\"");
  if (command->is_string()) {
    request.command = tokenize_command(command->get_ref<const std::string&>());
    return request;
  }
  if (!command->is_array()) return malformed("\"command\" must be a string or an array of strings");
  Argv argv;
  argv.reserve(command->size());
  for (const json& arg : *command) {
    if (arg.is_string()) {
      argv.push_back(arg.get<std::string>());
    } else if (arg.is_number_integer()) {
      argv.push_back(arg.dump());
    } else {
      return malformed("\"command\" must be a string or an array of strings (or integers)");
    }
  }
  request.command = std::move(argv);
  return request;
}

std::string encode_command_error(const CommandRequest& request, const CommandError& error) {
  std::string out = head(request);
  out += ",\"ok\":false,\"error\":";
  out += json{{"code", error.code}, {"message", error.message}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
  out += '}';
  return out;
}

std::string encode_command_reply(const CommandRequest& request, const RespValue& reply,
                                 std::size_t max_reply_bytes) {
  if (reply.is_error())
    return encode_command_error(request, CommandError{command_error::redis_error, reply.str});
  if (const std::size_t bytes = reply_bytes(reply); bytes > max_reply_bytes)
    return encode_command_error(request,
                                CommandError{command_error::reply_too_large,
                                             fmt::format("a reply of about {} bytes, over "
                                                         "command_channel.max_reply_bytes ({})",
                                                         bytes, max_reply_bytes)});
  std::string out = head(request);
  out += ",\"ok\":true,\"result\":";
  out += to_json(reply).dump(-1, ' ', false, json::error_handler_t::replace);
  out += '}';
  return out;
}

}  // namespace wsrelay
