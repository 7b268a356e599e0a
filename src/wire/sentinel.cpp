#include <wsrelay/wire/sentinel.hpp>

#include <utility>

#include <fmt/format.h>

#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

std::optional<std::uint16_t> read_port(std::string_view text) {
  unsigned value = 0;
  if (text.size() > 5 || !parse_decimal(text, value) || value == 0 || value > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

bool is_text(const RespValue& value) {
  return value.type == RespValue::Type::string || value.type == RespValue::Type::status;
}

// A host as a server gave it, fit for a log line and a resolver: no
// control character, no blank, bounded.
bool plausible_host(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  for (const char c : host)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  return true;
}

}  // namespace

std::string describe_host_port(const HostPort& address) {
  if (address.host.find(':') != std::string::npos)
    return fmt::format("[{}]:{}", address.host, address.port);
  return fmt::format("{}:{}", address.host, address.port);
}

MasterAddressReply read_master_address_reply(const RespValue& reply) {
  MasterAddressReply out;
  if (reply.is_nil()) {
    out.kind = MasterAddressReply::Kind::unknown_name;
    return out;
  }
  if (reply.is_error()) {
    out.reason = reply.str;
    return out;
  }
  if (reply.type == RespValue::Type::array && reply.elements.size() == 2 &&
      is_text(reply.elements[0]) && is_text(reply.elements[1])) {
    const auto port = read_port(reply.elements[1].str);
    if (port && plausible_host(reply.elements[0].str)) {
      out.kind = MasterAddressReply::Kind::address;
      out.address = HostPort{reply.elements[0].str, *port};
      return out;
    }
  }
  out.reason = "not an address reply (is it a sentinel?)";
  return out;
}

RoleReply read_role_reply(const RespValue& reply) {
  RoleReply out;
  if (reply.is_error()) {
    out.reason = "ROLE refused: " + reply.str;
    return out;
  }
  if (reply.type != RespValue::Type::array || reply.elements.empty() ||
      !is_text(reply.elements[0])) {
    out.reason = "ROLE gave no role";
    return out;
  }
  const std::string& role = reply.elements[0].str;
  if (role == "master") {
    out.is_master = true;
    return out;
  }
  if (role == "slave" && reply.elements.size() >= 3 && is_text(reply.elements[1])) {
    const std::string port = reply.elements[2].type == RespValue::Type::integer
                                 ? std::to_string(reply.elements[2].integer)
                                 : reply.elements[2].str;
    out.reason = fmt::format("a replica of {}:{}", reply.elements[1].str, port);
    return out;
  }
  out.reason = role == "sentinel" ? std::string("a sentinel") : "of role " + role;
  return out;
}

std::optional<HostPort> read_switch_master(std::string_view payload, std::string_view master_name) {
  std::vector<std::string_view> words;
  while (!payload.empty() && words.size() < 6) {
    const auto space = payload.find(' ');
    words.push_back(payload.substr(0, space));
    payload = space == std::string_view::npos ? std::string_view{} : payload.substr(space + 1);
  }
  if (words.size() != 5 || words[0] != master_name) return std::nullopt;
  const auto port = read_port(words[4]);
  if (!port || !plausible_host(words[3])) return std::nullopt;
  return HostPort{std::string(words[3]), *port};
}

SentinelDiscovery::SentinelDiscovery(std::vector<HostPort> sentinels, std::string master_name)
    : sentinels_(std::move(sentinels)), master_name_(std::move(master_name)) {}

std::vector<std::string> SentinelDiscovery::command() const {
  return {"SENTINEL", "get-master-addr-by-name", master_name_};
}

void SentinelDiscovery::answered() {
  reasons_.clear();
}

bool SentinelDiscovery::failed(std::string reason) {
  reasons_.push_back(describe_host_port(current()) + ": " + std::move(reason));
  rotate();
  if (reasons_.size() < sentinels_.size()) return true;
  last_round_ = std::exchange(reasons_, {});
  return false;
}

void SentinelDiscovery::master_unusable() {
  rotate();
}

std::string SentinelDiscovery::round_summary() const {
  std::string out = fmt::format("no sentinel gave the address of master \"{}\"", master_name_);
  for (std::size_t i = 0; i < last_round_.size(); ++i)
    out += (i == 0 ? " (" : "; ") + last_round_[i];
  if (!last_round_.empty()) out += ")";
  return out;
}

void SentinelDiscovery::rotate() {
  current_ = (current_ + 1) % sentinels_.size();
}

}  // namespace wsrelay
