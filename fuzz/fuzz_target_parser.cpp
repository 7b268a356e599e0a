// Fuzzes what a client controls in the upgrade request: the target and its
// flags (parse_target), the channels they give (channels_for), the
// subprotocol choice, the session cookie, valid_utf8 (compared with an
// independent validator), and printable(), which every such value goes
// through before it is logged or echoed.
//
// Input: newline-separated fields, missing ones empty:
//   1 request target ("/ws/demo?subscribe-broadcast&echo")
//   2 Cookie header             3 Sec-WebSocket-Protocol header
//   4 accepted subprotocols, comma-separated (the `subprotocols` setting)
//   5 channel prefix            6 user name     7 group names, comma-separated
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <wsrelay/wire/printable.hpp>
#include <wsrelay/wire/protocol.hpp>

#include "fuzz_support.hpp"

namespace {

using namespace wsrelay;
using wsrelay_fuzz::take_line;

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const auto comma = s.find(',');
    out.emplace_back(s.substr(0, comma));
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
  }
  return out;
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

void check_utf8(std::string_view s) {
  FUZZ_CHECK(valid_utf8(s) == wsrelay_fuzz::reference_valid_utf8(s));
}

// parse_target against `base`; returns the target when it was accepted.
std::optional<Target> check_parse_target(std::string_view target, std::string_view base) {
  const auto result = parse_target(target, base);
  const std::string_view path = target.substr(0, target.find('?'));
  if (!result) {
    FUZZ_CHECK(path.substr(0, base.size()) != base);
    return std::nullopt;
  }
  FUZZ_CHECK(path.substr(0, base.size()) == base);
  if (const auto* error = std::get_if<TargetError>(&*result)) {
    FUZZ_CHECK(error->status == 400);
    FUZZ_CHECK(!error->reason.empty());
    return std::nullopt;
  }
  const Target& t = std::get<Target>(*result);
  // Whatever the escapes, only a safe facility gets through.
  FUZZ_CHECK(valid_facility(t.facility));
  FUZZ_CHECK(t.facility.size() >= 1 && t.facility.size() <= 128);
  FUZZ_CHECK((t.flags & ~all_flags) == 0);
  const std::string_view raw_facility = path.substr(base.size());
  if (raw_facility.find('%') == std::string_view::npos) FUZZ_CHECK(t.facility == raw_facility);

  // Written back in canonical form, the target parses to the same thing.
  std::string canonical = std::string(base) + t.facility;
  const std::string flag_list = flags_to_string(t.flags);
  if (!flag_list.empty()) {
    canonical += '?';
    for (char c : flag_list) canonical += c == ',' ? '&' : c;
  }
  const auto again = parse_target(canonical, base);
  FUZZ_CHECK(again && std::holds_alternative<Target>(*again));
  FUZZ_CHECK(std::get<Target>(*again).facility == t.facility);
  FUZZ_CHECK(std::get<Target>(*again).flags == t.flags);

  // flags_to_string names exactly the flags that are set.
  Flags named = 0;
  for (const std::string& name : split_commas(flag_list)) {
    const auto flag = flag_from_name(name);
    FUZZ_CHECK(flag.has_value());
    named |= *flag;
  }
  FUZZ_CHECK(named == t.flags);
  return t;
}

void check_channel_list(const std::vector<std::string>& list, std::string_view facility,
                        std::string_view prefix) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string& channel = list[i];
    FUZZ_CHECK(channel.size() > facility.size());
    FUZZ_CHECK(std::string_view(channel).substr(channel.size() - facility.size()) == facility);
    FUZZ_CHECK(channel[channel.size() - facility.size() - 1] == ':');
    if (!prefix.empty()) {
      FUZZ_CHECK(channel.size() > prefix.size() && channel.compare(0, prefix.size(), prefix) == 0 &&
                 channel[prefix.size()] == ':');
    }
    for (std::size_t j = 0; j < i; ++j) FUZZ_CHECK(list[j] != channel);
  }
}

void check_channels(const Identity& identity, std::string_view facility, Flags flags,
                    std::string_view prefix) {
  const ChannelSet set = channels_for(identity, facility, flags, prefix);
  check_channel_list(set.subscribe, facility, prefix);
  check_channel_list(set.publish, facility, prefix);
  constexpr Flags subscribe_flags =
      subscribe_broadcast | subscribe_user | subscribe_group | subscribe_session;
  if (!(flags & subscribe_flags)) FUZZ_CHECK(set.subscribe.empty());
  if (!(flags & publish_flags)) FUZZ_CHECK(set.publish.empty());
  FUZZ_CHECK(set.subscribe.size() <= 3 + identity.groups.size());
  FUZZ_CHECK(set.publish.size() <= 3 + identity.groups.size());
  const std::string broadcast = channel_name(prefix, Audience::broadcast, {}, facility);
  const auto has = [](const std::vector<std::string>& list, const std::string& channel) {
    return std::find(list.begin(), list.end(), channel) != list.end();
  };
  if (flags & subscribe_broadcast) FUZZ_CHECK(has(set.subscribe, broadcast));
  if (flags & publish_broadcast) FUZZ_CHECK(has(set.publish, broadcast));
}

void check_subprotocol(std::string_view offered, const std::vector<std::string>& accepted) {
  const std::string chosen = select_subprotocol(offered, accepted);
  bool any_offered = false;
  bool chosen_offered = false;
  for (const std::string& item : split_commas(offered)) {
    std::string_view trimmed = item;
    while (!trimmed.empty() && is_blank(trimmed.front())) trimmed.remove_prefix(1);
    while (!trimmed.empty() && is_blank(trimmed.back())) trimmed.remove_suffix(1);
    if (is_token(trimmed)) any_offered = true;
    if (trimmed == chosen) chosen_offered = true;
  }
  if (chosen.empty()) {
    // With no accepted list the first offered token is taken, so "none"
    // means no token was offered.
    if (accepted.empty()) FUZZ_CHECK(!any_offered);
    return;
  }
  FUZZ_CHECK(chosen_offered);
  FUZZ_CHECK(is_token(chosen));  // it is echoed in the 101
  FUZZ_CHECK(chosen.find(',') == std::string::npos);
  FUZZ_CHECK(!is_blank(chosen.front()) && !is_blank(chosen.back()));
  if (!accepted.empty())
    FUZZ_CHECK(std::find(accepted.begin(), accepted.end(), chosen) != accepted.end());
}

// Whatever a client sends, printable() gives one line of valid UTF-8 without
// control characters, about as long as asked.
void check_printable(std::string_view text) {
  for (std::size_t max_bytes : {std::size_t{0}, std::size_t{16}, std::size_t{200}}) {
    const std::string out = printable(text, max_bytes);
    FUZZ_CHECK(wsrelay_fuzz::reference_valid_utf8(out));
    for (unsigned char c : out) FUZZ_CHECK(c >= 0x20 && c != 0x7f);
    // The cut is at most one escape past max_bytes, plus the "...(N more bytes)" note.
    FUZZ_CHECK(out.size() <= max_bytes + 10 + 40);
    if (out.size() <= max_bytes && out.find('\\') == std::string::npos) FUZZ_CHECK(out == text);
  }
}

std::optional<std::string> check_cookie(std::string_view header, std::string_view name) {
  auto value = cookie_value(header, name);
  if (value) {
    FUZZ_CHECK(value->find(';') == std::string::npos);
    FUZZ_CHECK(value->size() <= header.size());
    FUZZ_CHECK(header.find(name) != std::string_view::npos);
  }
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = wsrelay_fuzz::as_view(data, size);

  // valid_utf8 reads eight bytes at a time once aligned to nothing in
  // particular; every start offset gives the fast path a different phase.
  for (std::size_t offset = 0; offset < 8 && offset <= input.size(); ++offset)
    check_utf8(input.substr(offset));
  check_printable(input);

  std::string_view rest = input;
  const std::string_view target = take_line(rest);
  const std::string_view cookie_header = take_line(rest);
  const std::string_view offered = take_line(rest);
  const std::vector<std::string> accepted = split_commas(take_line(rest));
  const std::string_view prefix = take_line(rest);
  const std::string_view user = take_line(rest);
  const std::vector<std::string> groups = split_commas(take_line(rest));

  std::optional<Target> parsed = check_parse_target(target, "/ws/");
  check_parse_target(target, "/");

  check_subprotocol(offered, accepted);
  check_subprotocol(offered, {});

  Identity identity;
  identity.session = check_cookie(cookie_header, "sessionid");
  check_cookie(cookie_header, prefix);
  if (!user.empty()) identity.user = std::string(user);
  identity.groups = groups;

  if (parsed) {
    check_channels(identity, parsed->facility, parsed->flags, prefix);
  } else if (!target.empty()) {
    // channels_for is pure: even a facility parse_target would refuse must
    // not break it.
    check_channels(identity, target, all_flags, prefix);
  }
  return 0;
}
