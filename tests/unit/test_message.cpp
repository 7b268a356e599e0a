#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include <wsrelay/wire/message.hpp>
#include <wsrelay/wire/ws_frame.hpp>

using namespace std::string_literals;
using wsrelay::Message;

namespace {

std::uint8_t byte_at(std::string_view s, std::size_t i) {
  return static_cast<std::uint8_t>(s[i]);
}

}  // namespace

TEST_CASE("Message::make sends UTF-8 as a text frame", "[message]") {
  auto m = Message::make("broadcast:f", "hello \xc3\xa9\xe2\x82\xac");
  REQUIRE(m);
  CHECK_FALSE(m->binary());
  CHECK(m->channel() == "broadcast:f");
  CHECK(byte_at(m->frame(), 0) == 0x81);
  CHECK(byte_at(m->frame(), 1) == 11);  // unmasked, short length
  CHECK(m->payload() == "hello \xc3\xa9\xe2\x82\xac");
  CHECK(m->frame() == "\x81\x0bhello \xc3\xa9\xe2\x82\xac"s);
}

TEST_CASE("Message::make sends invalid UTF-8 as a binary frame", "[message]") {
  std::string payload = "\x00\x01\xff\xfe binary"s;
  auto m = Message::make("user:u:f", payload);
  CHECK(m->binary());
  CHECK(byte_at(m->frame(), 0) == 0x82);
  CHECK(m->payload() == payload);
  CHECK(m->frame() == "\x82"s + static_cast<char>(payload.size()) + payload);

  // One bad byte at the end of otherwise valid text is enough.
  auto truncated = Message::make("c", "text \xe2\x82");
  CHECK(truncated->binary());
  CHECK(byte_at(truncated->frame(), 0) == 0x82);
  CHECK(truncated->payload() == "text \xe2\x82");
}

TEST_CASE("Message::make with an empty payload is an empty text frame", "[message]") {
  auto m = Message::make("c", "");
  CHECK_FALSE(m->binary());
  CHECK(m->payload().empty());
  CHECK(m->frame() == "\x81\x00"s);
}

TEST_CASE("Message::make keeps NUL bytes, which are valid UTF-8", "[message]") {
  std::string payload = "a\0b"s;
  auto m = Message::make("c", payload);
  CHECK_FALSE(m->binary());
  CHECK(m->payload() == payload);
  CHECK(m->payload().size() == 3);
}

TEST_CASE("Message frame is header plus payload for every length form", "[message]") {
  for (std::size_t size : {1u, 125u, 126u, 65535u, 65536u, 200000u}) {
    INFO("payload size " << size);
    std::string payload(size, '\0');
    for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);
    auto m = Message::make("c", payload);
    std::size_t header = size < 126 ? 2 : size <= 0xffff ? 4 : 10;
    REQUIRE(m->frame().size() == header + size);
    CHECK(m->payload() == payload);
    CHECK(m->frame().substr(header) == payload);
    CHECK(m->frame() == wsrelay::make_frame(wsrelay::Opcode::text, payload));
    CHECK(byte_at(m->frame(), 0) == 0x81);
    std::uint8_t len7 = byte_at(m->frame(), 1);
    CHECK((len7 & 0x80) == 0);  // server frames are never masked
    if (size < 126) {
      CHECK(len7 == size);
    } else if (size <= 0xffff) {
      CHECK(len7 == 126);
      CHECK(((std::size_t{byte_at(m->frame(), 2)} << 8) | byte_at(m->frame(), 3)) == size);
    } else {
      CHECK(len7 == 127);
      std::uint64_t n = 0;
      for (std::size_t i = 2; i < 10; ++i) n = (n << 8) | byte_at(m->frame(), i);
      CHECK(n == size);
    }
  }
}

TEST_CASE("Message binary payload uses the long length forms too", "[message]") {
  std::string payload(70000, '\xff');
  auto m = Message::make("c", payload);
  CHECK(m->binary());
  CHECK(m->frame().substr(0, 10) == "\x82\x7f\x00\x00\x00\x00\x00\x01\x11\x70"s);
  CHECK(m->payload() == payload);

  std::string medium(300, '\x80');
  auto m2 = Message::make("c", medium);
  CHECK(m2->binary());
  CHECK(m2->frame().substr(0, 4) == "\x82\x7e\x01\x2c"s);
  CHECK(m2->payload() == medium);
}
