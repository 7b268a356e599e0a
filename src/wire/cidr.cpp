#include <wsrelay/wire/cidr.hpp>

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

struct Address {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
};

std::optional<Address> parse_address(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string s(text);
  Address a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) return a;
  a.v6 = true;
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  // ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket.
  static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.bytes.data(), mapped, 12) == 0) {
    std::memmove(a.bytes.data(), a.bytes.data() + 12, 4);
    std::memset(a.bytes.data() + 4, 0, 12);
    a.v6 = false;
  }
  return a;
}

bool in_block(const Address& a, const CidrBlock& b) {
  if (a.v6 != b.v6) return false;
  const int whole = b.prefix / 8;
  if (std::memcmp(a.bytes.data(), b.bytes.data(), static_cast<std::size_t>(whole)) != 0)
    return false;
  const int rest = b.prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a.bytes[static_cast<std::size_t>(whole)] & mask) ==
         (b.bytes[static_cast<std::size_t>(whole)] & mask);
}

bool trusted_address(const std::optional<Address>& a, const std::vector<CidrBlock>& blocks) {
  if (!a) return false;
  for (const CidrBlock& b : blocks)
    if (in_block(*a, b)) return true;
  return false;
}

}  // namespace

std::string address_group(std::string_view address) {
  auto a = parse_address(trim(address));
  if (!a) return {};
  char text[INET6_ADDRSTRLEN] = {};
  if (!a->v6) {
    inet_ntop(AF_INET, a->bytes.data(), text, sizeof text);
    return text;
  }
  std::memset(a->bytes.data() + 8, 0, 8);
  inet_ntop(AF_INET6, a->bytes.data(), text, sizeof text);
  return std::string(text) + "/64";
}

std::optional<CidrBlock> parse_cidr(std::string_view text) {
  text = trim(text);
  const auto slash = text.find('/');
  auto address = parse_address(text.substr(0, slash));
  if (!address) return std::nullopt;
  CidrBlock block{address->v6, address->bytes, address->v6 ? 128 : 32};
  // "::ffff:10.0.0.0/104" style blocks are not worth the ambiguity.
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    int prefix = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || prefix < 0 ||
        prefix > block.prefix)
      return std::nullopt;
    block.prefix = prefix;
  }
  for (int bit = block.prefix; bit < (block.v6 ? 128 : 32); ++bit)
    if (block.bytes[static_cast<std::size_t>(bit / 8)] & (0x80 >> (bit % 8))) return std::nullopt;
  return block;
}

bool address_in(std::string_view address, const std::vector<CidrBlock>& blocks) {
  return trusted_address(parse_address(trim(address)), blocks);
}

std::string client_address(std::string_view peer, std::string_view forwarded_for,
                           const std::vector<CidrBlock>& trusted) {
  if (!address_in(peer, trusted)) return std::string(peer);
  std::string_view client = peer;
  while (!forwarded_for.empty()) {
    const auto comma = forwarded_for.rfind(',');
    const std::string_view hop =
        trim(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1));
    forwarded_for =
        comma == std::string_view::npos ? std::string_view{} : forwarded_for.substr(0, comma);
    if (hop.empty()) continue;
    auto address = parse_address(hop);
    if (!address) break;
    client = hop;
    if (!trusted_address(address, trusted)) break;
  }
  return std::string(client);
}

}  // namespace wsrelay
