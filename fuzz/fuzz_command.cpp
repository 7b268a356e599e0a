// Fuzzes what a client of the command channel controls: the string form
// (tokenize_command), the argv that prepare_command turns into the one sent
// (in both key modes, with every command of the table allowed), and the key
// prefix of an identity (expand_key_prefix): whatever the bytes, a command
// that passes is in the table, never always refused, within the limits, and
// every key it sends is a plain key under the connection's prefix; and two
// different identities never get prefixes where one starts the other.
//
// Input: newline-separated fields, missing ones empty:
//   1 the command, string form ("SET key1 15")
//   2 a key prefix template ("cmd:{user}:")
//   3 a user name     4 another user name (or a session key)
//   5... one argument a line: the array form
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <wsrelay/wire/command_channel.hpp>
#include <wsrelay/wire/command_table.hpp>

#include "fuzz_support.hpp"

namespace {

using namespace wsrelay;
using wsrelay_fuzz::take_line;

const std::vector<std::string>& every_command() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& spec : command_table()) out.emplace_back(spec.name);
    return out;
  }();
  return names;
}

void check_plain_key(std::string_view key) {
  FUZZ_CHECK(!key.empty());
  for (const char c : key) {
    const auto b = static_cast<unsigned char>(c);
    FUZZ_CHECK(b >= 0x20 && b != 0x7f && c != ' ');
    FUZZ_CHECK(c != '*' && c != '?' && c != '[' && c != ']' && c != '\\');
  }
}

void check_prepared(const Argv& client, std::string_view prefix, KeyMode mode) {
  CommandPolicy policy;
  policy.allowed = &every_command();
  policy.max_args = 16;
  policy.max_arg_bytes = 256;
  policy.max_command_bytes = 1024;
  policy.key_mode = mode;
  const auto result = prepare_command(client, prefix, policy);
  if (const auto* error = std::get_if<CommandError>(&result)) {
    FUZZ_CHECK(!error->code.empty());
    return;
  }
  const Argv& sent = std::get<Argv>(result);
  FUZZ_CHECK(sent.size() == client.size());
  FUZZ_CHECK(sent.size() <= policy.max_args);
  const CommandSpec* spec = find_command(sent.front());
  FUZZ_CHECK(spec != nullptr);
  FUZZ_CHECK(!always_refused(sent.front()));
  for (std::size_t i = 1; i < sent.size(); ++i) {
    if (!is_key_position(spec->keys, i - 1)) {
      FUZZ_CHECK(sent[i] == client[i]);  // values are sent as given
      continue;
    }
    FUZZ_CHECK(sent[i].size() > prefix.size());
    FUZZ_CHECK(std::string_view(sent[i]).substr(0, prefix.size()) == prefix);
    check_plain_key(std::string_view(sent[i]).substr(prefix.size()));
    if (mode == KeyMode::confined) FUZZ_CHECK(sent[i] == std::string(prefix) + client[i]);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest = wsrelay_fuzz::as_view(data, size);
  const std::string_view text = take_line(rest);
  const std::string_view templ = take_line(rest);
  const std::string user(take_line(rest));
  const std::string other(take_line(rest));
  Argv array;
  while (!rest.empty() && array.size() < 32) array.emplace_back(take_line(rest));

  std::string prefix = "cmd:u:";
  if (check_key_prefix_template(templ).empty()) {
    const auto mine = expand_key_prefix(templ, user, other);
    const auto theirs = expand_key_prefix(templ, other, user);
    if (mine) {
      check_plain_key(*mine);
      prefix = *mine;
    }
    // Two identities, two prefixes, neither starting the other.
    if (mine && theirs && user != other) {
      FUZZ_CHECK(*mine != *theirs);
      FUZZ_CHECK(!mine->starts_with(*theirs) && !theirs->starts_with(*mine));
    }
  }

  const auto tokens = tokenize_command(text);
  if (const auto* argv = std::get_if<Argv>(&tokens)) {
    FUZZ_CHECK(!argv->empty());
    std::string joined;
    for (const auto& token : *argv) {
      FUZZ_CHECK(!token.empty());
      for (const char c : token) {
        const auto b = static_cast<unsigned char>(c);
        FUZZ_CHECK(b >= 0x20 && b != 0x7f && c != ' ' && c != '"' && c != '\'' && c != '\\');
      }
      if (!joined.empty()) joined += ' ';
      joined += token;
    }
    FUZZ_CHECK(joined.size() <= text.size());
    check_prepared(*argv, prefix, KeyMode::confined);
    check_prepared(*argv, prefix, KeyMode::explicit_prefix);
  }
  if (!array.empty()) {
    check_prepared(array, prefix, KeyMode::confined);
    check_prepared(array, prefix, KeyMode::explicit_prefix);
  }
  return 0;
}
