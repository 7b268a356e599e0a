// Redis Cluster's pure part (cluster.hpp): hash slots, the slot map from
// CLUSTER SLOTS, and redirect errors.
#include <wsrelay/wire/cluster.hpp>

#include <charconv>
#include <cstddef>

namespace wsrelay {
namespace {

// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as in Redis's
// crc16.c. Bitwise: a key is hashed once per command, and a table would be
// 512 bytes of constants for no measurable gain at these sizes.
std::uint16_t crc16(std::string_view bytes) {
  std::uint16_t crc = 0;
  for (const char c : bytes) {
    crc ^= static_cast<std::uint16_t>(static_cast<unsigned char>(c) << 8);
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc & 0x8000) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                                : static_cast<std::uint16_t>(crc << 1);
  }
  return crc;
}

template <typename Int>
bool parse_int(std::string_view text, Int& out) {
  const auto* end = text.data() + text.size();
  const auto result = std::from_chars(text.data(), end, out);
  return !text.empty() && result.ec == std::errc() && result.ptr == end;
}

// "host:port"; the host may be an IPv6 address (its own colons), so the
// port is after the last colon.
std::optional<HostPort> parse_node_address(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  HostPort out{std::string(text.substr(0, colon)), 0};
  if (!parse_int(text.substr(colon + 1), out.port) || out.port == 0) return std::nullopt;
  return out;
}

}  // namespace

int key_slot(std::string_view key) {
  if (const auto open = key.find('{'); open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close != open + 1)
      key = key.substr(open + 1, close - open - 1);
  }
  return crc16(key) & (cluster_slots - 1);
}

bool SlotMap::complete() const {
  for (const int index : owner)
    if (index < 0) return false;
  return true;
}

const HostPort* SlotMap::owner_of(int slot) const {
  if (slot < 0 || slot >= cluster_slots || owner[slot] < 0) return nullptr;
  return &masters[static_cast<std::size_t>(owner[slot])];
}

int SlotMap::index_of(const HostPort& address) {
  for (std::size_t i = 0; i < masters.size(); ++i)
    if (masters[i] == address) return static_cast<int>(i);
  masters.push_back(address);
  return static_cast<int>(masters.size() - 1);
}

std::optional<SlotMap> read_cluster_slots(const RespValue& reply, const HostPort& asked,
                                          std::string* why) {
  auto fail = [why](std::string reason) -> std::optional<SlotMap> {
    if (why != nullptr) *why = std::move(reason);
    return std::nullopt;
  };
  if (reply.is_error()) return fail(reply.str);
  if (reply.type != RespValue::Type::array) return fail("CLUSTER SLOTS: not an array");
  SlotMap map;
  for (const auto& range : reply.elements) {
    if (range.type != RespValue::Type::array || range.elements.size() < 3 ||
        range.elements[0].type != RespValue::Type::integer ||
        range.elements[1].type != RespValue::Type::integer ||
        range.elements[2].type != RespValue::Type::array || range.elements[2].elements.size() < 2 ||
        range.elements[2].elements[1].type != RespValue::Type::integer)
      return fail("CLUSTER SLOTS: a range of another shape");
    const long long first = range.elements[0].integer;
    const long long last = range.elements[1].integer;
    const long long port = range.elements[2].elements[1].integer;
    if (first < 0 || last < first || last >= cluster_slots || port <= 0 || port > 65535)
      return fail("CLUSTER SLOTS: a range out of bounds");
    HostPort master{range.elements[2].elements[0].str, static_cast<std::uint16_t>(port)};
    // Redis gives "" (or "?") for the node's own address when it does not
    // know which one clients use: that is the node we asked.
    if (master.host.empty() || master.host == "?") master.host = asked.host;
    const int index = map.index_of(master);
    for (long long slot = first; slot <= last; ++slot)
      map.owner[static_cast<std::size_t>(slot)] = index;
  }
  if (map.masters.empty()) return fail("CLUSTER SLOTS: no slot is served");
  return map;
}

std::optional<ClusterRedirect> read_redirect(std::string_view error) {
  ClusterRedirect out;
  if (error.starts_with("MOVED ")) {
    out.kind = ClusterRedirect::Kind::moved;
    error.remove_prefix(6);
  } else if (error.starts_with("ASK ")) {
    out.kind = ClusterRedirect::Kind::ask;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  const auto space = error.find(' ');
  if (space == std::string_view::npos || !parse_int(error.substr(0, space), out.slot) ||
      out.slot < 0 || out.slot >= cluster_slots)
    return std::nullopt;
  auto address = parse_node_address(error.substr(space + 1));
  if (!address) return std::nullopt;
  out.address = std::move(*address);
  return out;
}

}  // namespace wsrelay
