#include <wsrelay/wire/command_channel.hpp>

#include <algorithm>

#include <fmt/format.h>

#include <wsrelay/wire/command_table.hpp>
#include <wsrelay/wire/printable.hpp>

namespace wsrelay {
namespace {

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

bool is_glob(char c) {
  return c == '*' || c == '?' || c == '[' || c == ']' || c == '\\';
}

// The bytes an encoded identity value is made of (expand_key_prefix).
bool is_identity_byte(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

constexpr std::string_view kUser = "{user}";
constexpr std::string_view kSession = "{session}";

// Shown in messages: at most this much of a client's argument.
std::string excerpt(std::string_view text) {
  constexpr std::size_t kMax = 64;
  if (text.size() <= kMax) return printable(text);
  return printable(text.substr(0, kMax)) + "...";
}

std::optional<CommandError> check_key(std::string_view key) {
  if (key.empty()) return CommandError{command_error::bad_key, "empty key"};
  for (const char c : key) {
    if (is_control(static_cast<unsigned char>(c)) || c == ' ')
      return CommandError{
          command_error::bad_key,
          fmt::format("key \"{}\" holds a space or a control character", excerpt(key))};
    if (is_glob(c))
      return CommandError{
          command_error::bad_key,
          fmt::format("key \"{}\" holds a glob character (* ? [ ] \\)", excerpt(key))};
  }
  return std::nullopt;
}

}  // namespace

ArgvOrError tokenize_command(std::string_view text) {
  Argv argv;
  std::size_t at = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"' || c == '\'' || c == '\\')
      return CommandError{command_error::bad_command,
                          "quotes and backslashes are not taken in the string form; send an "
                          "array of arguments"};
    if (is_control(static_cast<unsigned char>(c)))
      return CommandError{command_error::bad_command,
                          "control characters (CR, LF, TAB, NUL, ...) are not taken in the "
                          "string form; send an array of arguments"};
  }
  while (at < text.size()) {
    while (at < text.size() && text[at] == ' ') ++at;
    if (at == text.size()) break;
    const std::size_t end = std::min(text.find(' ', at), text.size());
    argv.emplace_back(text.substr(at, end - at));
    at = end;
  }
  if (argv.empty()) return CommandError{command_error::bad_command, "empty command"};
  return argv;
}

std::string check_key_prefix_template(std::string_view templ) {
  if (templ.empty()) return "must not be empty";
  if (templ.front() == '{')
    return "must start with literal text (e.g. \"cmd:{user}:\"), so that its keys are apart from "
           "every other key";
  bool named = false;
  for (std::size_t i = 0; i < templ.size(); ++i) {
    const char c = templ[i];
    if (is_control(static_cast<unsigned char>(c)) || c == ' ' || is_glob(c))
      return "must not contain spaces, control characters or glob characters (* ? [ ] \\)";
    if (c == '}') return "has a \"}\" without its \"{\"";
    if (c != '{') continue;
    const std::string_view rest = templ.substr(i);
    std::size_t length = 0;
    if (rest.starts_with(kUser)) {
      length = kUser.size();
    } else if (rest.starts_with(kSession)) {
      length = kSession.size();
    } else {
      return "knows only the placeholders {user} and {session}";
    }
    named = true;
    i += length;
    if (i >= templ.size() || is_identity_byte(templ[i]) || templ[i] == '%' || templ[i] == '{')
      return fmt::format(
          "{} must be followed by a separator such as ':' (not a letter, digit, _ . - % or "
          "another placeholder), or one identity's keys could start with another's",
          rest.substr(0, length));
    --i;
  }
  if (!named) return "must name {user} or {session}, so that each identity has keys of its own";
  return {};
}

bool prefix_needs_user(std::string_view templ) {
  return templ.find(kUser) != std::string_view::npos;
}

bool prefix_needs_session(std::string_view templ) {
  return templ.find(kSession) != std::string_view::npos;
}

std::optional<std::string> expand_key_prefix(std::string_view templ,
                                             const std::optional<std::string>& user,
                                             const std::optional<std::string>& session) {
  std::string out;
  auto encode = [&out](std::string_view value) {
    for (const char c : value) {
      if (is_identity_byte(c)) {
        out += c;
      } else {
        out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
      }
    }
  };
  for (std::size_t i = 0; i < templ.size();) {
    const std::string_view rest = templ.substr(i);
    if (rest.starts_with(kUser)) {
      if (!user || user->empty()) return std::nullopt;
      encode(*user);
      i += kUser.size();
    } else if (rest.starts_with(kSession)) {
      if (!session || session->empty()) return std::nullopt;
      encode(*session);
      i += kSession.size();
    } else {
      out += templ[i++];
    }
  }
  return out;
}

ArgvOrError prepare_command(Argv argv, std::string_view prefix, const CommandPolicy& policy) {
  if (argv.empty()) return CommandError{command_error::bad_command, "empty command"};
  if (argv.size() > policy.max_args)
    return CommandError{command_error::too_many_args,
                        fmt::format("{} arguments, over command_channel.max_args ({})", argv.size(),
                                    policy.max_args)};
  std::size_t total = 0;
  for (const auto& arg : argv) {
    if (arg.size() > policy.max_arg_bytes)
      return CommandError{command_error::arg_too_large,
                          fmt::format("an argument of {} bytes, over command_channel.max_arg_bytes "
                                      "({})",
                                      arg.size(), policy.max_arg_bytes)};
    total += arg.size();
  }
  if (total > policy.max_command_bytes)
    return CommandError{command_error::command_too_large,
                        fmt::format("{} bytes of arguments, over command_channel.max_command_bytes "
                                    "({})",
                                    total, policy.max_command_bytes)};

  std::string& name = argv.front();
  for (char& c : name) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  const bool plain_name = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == '|' || (c >= '0' && c <= '9');
  });
  if (!plain_name)
    return CommandError{command_error::not_allowed,
                        fmt::format("\"{}\" is not a command", excerpt(name))};
  if (always_refused(name))
    return CommandError{command_error::forbidden_command,
                        fmt::format("{} is never run through the command channel", name)};
  const CommandSpec* spec = find_command(name);
  const bool listed =
      policy.allowed != nullptr &&
      std::find(policy.allowed->begin(), policy.allowed->end(), name) != policy.allowed->end();
  if (spec == nullptr || !listed)
    return CommandError{command_error::not_allowed,
                        fmt::format("{} is not allowed on the command channel", name)};

  const int args = static_cast<int>(argv.size() - 1);
  if (args < spec->min_args || (spec->max_args >= 0 && args > spec->max_args) ||
      (spec->keys == KeySpec::pairs && args % 2 != 0))
    return CommandError{command_error::wrong_arity,
                        fmt::format("wrong number of arguments for {}", name)};

  for (std::size_t i = 1; i < argv.size(); ++i) {
    if (!is_key_position(spec->keys, i - 1)) continue;
    std::string& key = argv[i];
    if (policy.key_mode == KeyMode::explicit_prefix) {
      if (!key.starts_with(prefix) || key.size() == prefix.size())
        return CommandError{command_error::key_outside_prefix,
                            fmt::format("key \"{}\" is not under this connection's prefix \"{}\"",
                                        excerpt(key), printable(prefix))};
      if (auto error = check_key(std::string_view(key).substr(prefix.size()))) return *error;
    } else {
      if (auto error = check_key(key)) return *error;
      key.insert(0, prefix);
    }
  }
  return argv;
}

std::size_t reply_bytes(const RespValue& reply) {
  std::size_t bytes = 16 + reply.str.size();
  for (const auto& element : reply.elements) bytes += reply_bytes(element);
  return bytes;
}

}  // namespace wsrelay
