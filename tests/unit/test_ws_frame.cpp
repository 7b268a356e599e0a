#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <wsrelay/wire/protocol.hpp>
#include <wsrelay/wire/ws_frame.hpp>

using namespace std::string_literals;
using wsrelay::FrameParser;
using wsrelay::Opcode;

namespace {

// How the payload length of a test frame is written.
enum class LengthForm { shortest, short7, medium16, long64 };

struct FrameOptions {
  bool fin = true;
  bool masked = true;
  std::array<std::uint8_t, 4> mask{0x37, 0xfa, 0x21, 0x3d};
  std::uint8_t rsv = 0;  // any of 0x40, 0x20, 0x10
  LengthForm length_form = LengthForm::shortest;
  // When set, the length written in the header instead of payload.size().
  std::optional<std::uint64_t> declared_length;
};

// A client-to-server frame: masked unless told otherwise.
std::string client_frame(std::uint8_t opcode, std::string_view payload, FrameOptions opts = {}) {
  std::string out;
  out.push_back(static_cast<char>((opts.fin ? 0x80 : 0) | opts.rsv | (opcode & 0x0f)));
  std::uint64_t n = opts.declared_length.value_or(payload.size());
  LengthForm form = opts.length_form;
  if (form == LengthForm::shortest)
    form = n < 126 ? LengthForm::short7 : n <= 0xffff ? LengthForm::medium16 : LengthForm::long64;
  std::uint8_t mask_bit = opts.masked ? 0x80 : 0;
  switch (form) {
    case LengthForm::short7:
      out.push_back(static_cast<char>(mask_bit | n));
      break;
    case LengthForm::medium16:
      out.push_back(static_cast<char>(mask_bit | 126));
      out.push_back(static_cast<char>((n >> 8) & 0xff));
      out.push_back(static_cast<char>(n & 0xff));
      break;
    default:
      out.push_back(static_cast<char>(mask_bit | 127));
      for (int shift = 56; shift >= 0; shift -= 8)
        out.push_back(static_cast<char>((n >> shift) & 0xff));
      break;
  }
  if (opts.masked) {
    for (auto b : opts.mask) out.push_back(static_cast<char>(b));
    for (std::size_t i = 0; i < payload.size(); ++i)
      out.push_back(static_cast<char>(static_cast<std::uint8_t>(payload[i]) ^ opts.mask[i % 4]));
  } else {
    out.append(payload);
  }
  return out;
}

std::string text(std::string_view payload, FrameOptions opts = {}) {
  return client_frame(0x1, payload, opts);
}
std::string binary(std::string_view payload, FrameOptions opts = {}) {
  return client_frame(0x2, payload, opts);
}
std::string continuation(std::string_view payload, bool fin, FrameOptions opts = {}) {
  opts.fin = fin;
  return client_frame(0x0, payload, opts);
}
std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string body;
  body.push_back(static_cast<char>(code >> 8));
  body.push_back(static_cast<char>(code & 0xff));
  body.append(reason);
  return body;
}
FrameOptions not_fin() {
  FrameOptions opts;
  opts.fin = false;
  return opts;
}

// Records everything the parser reports as readable strings:
// "text:<payload>", "binary:<payload>", "ping:<payload>", "pong:<payload>",
// "close:<code>:<reason>", "error:<code>".
struct Recorder : wsrelay::FrameSink {
  std::vector<std::string> events;
  void on_message(bool is_binary, std::string_view payload) override {
    events.push_back((is_binary ? "binary:"s : "text:"s) + std::string(payload));
  }
  void on_ping(std::string_view payload) override {
    events.push_back("ping:" + std::string(payload));
  }
  void on_pong(std::string_view payload) override {
    events.push_back("pong:" + std::string(payload));
  }
  void on_close(std::uint16_t code, std::string_view reason) override {
    events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
  }
  void on_protocol_error(std::uint16_t code, std::string_view reason) override {
    CHECK_FALSE(reason.empty());
    events.push_back("error:" + std::to_string(code));
  }
};

constexpr std::size_t big_limit = 1 << 20;

// Feeds `bytes` in one call; returns the events and what feed returned.
struct Fed {
  std::vector<std::string> events;
  bool ok;
};
Fed feed_all(std::string_view bytes, std::size_t max_message_bytes = big_limit) {
  FrameParser parser(max_message_bytes);
  Recorder sink;
  bool ok = parser.feed(bytes, sink);
  return {sink.events, ok};
}

std::vector<std::string> events_of(std::string_view bytes, std::size_t max = big_limit) {
  return feed_all(bytes, max).events;
}

// The single event `bytes` must produce, and feed must have returned false.
std::string failure_of(std::string_view bytes, std::size_t max = big_limit) {
  Fed fed = feed_all(bytes, max);
  CHECK_FALSE(fed.ok);
  REQUIRE(fed.events.size() == 1);
  return fed.events.front();
}

using Events = std::vector<std::string>;

}  // namespace

// ---------------------------------------------------------------- messages

TEST_CASE("ws_frame parses a text message", "[ws_frame]") {
  Fed fed = feed_all(text("Hello"));
  CHECK(fed.ok);
  CHECK(fed.events == Events{"text:Hello"});
}

TEST_CASE("ws_frame parses a binary message", "[ws_frame]") {
  std::string payload = "\x00\xff\x80\x01 binary \xc3"s;
  Fed fed = feed_all(binary(payload));
  CHECK(fed.ok);
  CHECK(fed.events == Events{"binary:" + payload});
}

TEST_CASE("ws_frame parses empty messages", "[ws_frame]") {
  CHECK(events_of(text("")) == Events{"text:"});
  CHECK(events_of(binary("")) == Events{"binary:"});
  CHECK(events_of(text("") + binary("") + text("x")) == Events{"text:", "binary:", "text:x"});
}

TEST_CASE("ws_frame unmasks with any key", "[ws_frame]") {
  std::string payload = "The quick brown fox jumps over the lazy dog, 0123456789";
  for (std::array<std::uint8_t, 4> key : {std::array<std::uint8_t, 4>{0, 0, 0, 0},
                                          std::array<std::uint8_t, 4>{0xff, 0xff, 0xff, 0xff},
                                          std::array<std::uint8_t, 4>{1, 2, 3, 4}}) {
    FrameOptions opts;
    opts.mask = key;
    CHECK(events_of(text(payload, opts)) == Events{"text:" + payload});
  }
}

TEST_CASE("ws_frame parses all three length encodings", "[ws_frame]") {
  for (std::size_t size : {125u, 126u, 127u, 65535u, 65536u, 70001u}) {
    INFO("payload size " << size);
    std::string payload(size, '\0');
    for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);
    std::string frame = binary(payload);
    std::size_t expected_header = size < 126 ? 2 + 4 : size <= 0xffff ? 4 + 4 : 10 + 4;
    REQUIRE(frame.size() == expected_header + size);
    Fed fed = feed_all(frame);
    CHECK(fed.ok);
    REQUIRE(fed.events.size() == 1);
    CHECK(fed.events[0] == "binary:" + payload);
  }
}

TEST_CASE("ws_frame accepts a longer-than-needed length encoding", "[ws_frame]") {
  // RFC 6455 asks senders for the minimal form; the parser still reads the
  // value correctly when a client uses a longer one.
  FrameOptions medium;
  medium.length_form = LengthForm::medium16;
  FrameOptions long64;
  long64.length_form = LengthForm::long64;
  CHECK(events_of(text("abc", medium)) == Events{"text:abc"});
  CHECK(events_of(text("abc", long64) + text("d")) == Events{"text:abc", "text:d"});
}

TEST_CASE("ws_frame assembles a fragmented message", "[ws_frame]") {
  std::string bytes = text("Hel", not_fin()) + continuation("lo, ", false) +
                      continuation("world", true) + binary("next");
  Fed fed = feed_all(bytes);
  CHECK(fed.ok);
  CHECK(fed.events == Events{"text:Hello, world", "binary:next"});
}

TEST_CASE("ws_frame assembles a fragmented binary message with empty fragments", "[ws_frame]") {
  std::string bytes = binary("", not_fin()) + continuation("ab", false) + continuation("", false) +
                      continuation("cd", true);
  CHECK(events_of(bytes) == Events{"binary:abcd"});
}

TEST_CASE("ws_frame reports nothing until the last fragment", "[ws_frame]") {
  FrameParser parser(big_limit);
  Recorder sink;
  CHECK(parser.feed(text("a", not_fin()), sink));
  CHECK(parser.feed(continuation("b", false), sink));
  CHECK(sink.events.empty());
  CHECK(parser.feed(continuation("c", true), sink));
  CHECK(sink.events == Events{"text:abc"});
}

TEST_CASE("ws_frame delivers control frames interleaved in a fragmented message", "[ws_frame]") {
  std::string bytes = text("one ", not_fin()) + client_frame(0x9, "p1") +
                      continuation("two ", false) + client_frame(0xa, "p2") +
                      client_frame(0x9, "") + continuation("three", true) + text("after");
  Fed fed = feed_all(bytes);
  CHECK(fed.ok);
  CHECK(fed.events == Events{"ping:p1", "pong:p2", "ping:", "text:one two three", "text:after"});
}

TEST_CASE("ws_frame reports ping and pong payloads", "[ws_frame]") {
  std::string max_control(125, 'z');
  CHECK(events_of(client_frame(0x9, "hello") + client_frame(0xa, max_control)) ==
        Events{"ping:hello", "pong:" + max_control});
}

TEST_CASE("ws_frame reports a close with code and reason", "[ws_frame]") {
  Fed fed = feed_all(client_frame(0x8, close_payload(1000, "bye \xc3\xa9")));
  CHECK_FALSE(fed.ok);  // nothing is parsed after a close
  CHECK(fed.events == Events{"close:1000:bye \xc3\xa9"});

  CHECK(events_of(client_frame(0x8, close_payload(1001))) == Events{"close:1001:"});
  CHECK(events_of(client_frame(0x8, close_payload(3000, "app"))) == Events{"close:3000:app"});
  CHECK(events_of(client_frame(0x8, close_payload(4999, "x"))) == Events{"close:4999:x"});
  std::string long_reason(123, 'r');
  CHECK(events_of(client_frame(0x8, close_payload(1011, long_reason))) ==
        Events{"close:1011:" + long_reason});
}

TEST_CASE("ws_frame reports close without payload as 1005", "[ws_frame]") {
  Fed fed = feed_all(client_frame(0x8, ""));
  CHECK_FALSE(fed.ok);
  CHECK(fed.events == Events{"close:1005:"});
}

TEST_CASE("ws_frame ignores everything after a close", "[ws_frame]") {
  FrameParser parser(big_limit);
  Recorder sink;
  CHECK_FALSE(parser.feed(text("a") + client_frame(0x8, close_payload(1000)) + text("b"), sink));
  CHECK(sink.events == Events{"text:a", "close:1000:"});
  CHECK_FALSE(parser.feed(text("c"), sink));
  CHECK_FALSE(parser.feed(client_frame(0x9, "p"), sink));
  CHECK(sink.events == Events{"text:a", "close:1000:"});
}

TEST_CASE("ws_frame result is the same for every split of the stream", "[ws_frame]") {
  std::string big(300, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  FrameOptions odd_mask;
  odd_mask.mask = {0x01, 0x80, 0xfe, 0x7f};
  std::string stream =
      text("first message, long enough for the 8-byte unmask loop") + binary(big, odd_mask) +
      text("fr", not_fin()) + client_frame(0x9, "ping!") + continuation("ag", false, odd_mask) +
      continuation("mented \xe2\x82", false) + client_frame(0xa, "") + continuation("\xac", true) +
      binary("") + client_frame(0x9, std::string(125, 'p')) +
      client_frame(0x8, close_payload(1000, "done"));

  Fed whole = feed_all(stream);
  Events expected{"text:first message, long enough for the 8-byte unmask loop",
                  "binary:" + big,
                  "ping:ping!",
                  "pong:",
                  "text:fragmented \xe2\x82\xac",
                  "binary:",
                  "ping:" + std::string(125, 'p'),
                  "close:1000:done"};
  REQUIRE(whole.events == expected);

  SECTION("two feeds, split at every offset") {
    for (std::size_t split = 0; split <= stream.size(); ++split) {
      FrameParser parser(big_limit);
      Recorder sink;
      bool first = parser.feed(std::string_view(stream).substr(0, split), sink);
      // The close frame is the last one, so only feeding all of it ends parsing.
      CHECK(first == (split < stream.size()));
      parser.feed(std::string_view(stream).substr(split), sink);
      INFO("split at " << split);
      REQUIRE(sink.events == expected);
    }
  }

  SECTION("byte by byte") {
    FrameParser parser(big_limit);
    Recorder sink;
    for (std::size_t i = 0; i < stream.size(); ++i) {
      bool ok = parser.feed(std::string_view(stream).substr(i, 1), sink);
      INFO("byte " << i);
      REQUIRE(ok == (i + 1 < stream.size()));
    }
    CHECK(sink.events == expected);
  }

  SECTION("three feeds, split at many pairs of offsets") {
    for (std::size_t a = 0; a <= stream.size(); a += 7) {
      for (std::size_t b = a; b <= stream.size(); b += 13) {
        FrameParser parser(big_limit);
        Recorder sink;
        std::string_view s(stream);
        parser.feed(s.substr(0, a), sink);
        parser.feed(s.substr(a, b - a), sink);
        parser.feed(s.substr(b), sink);
        INFO("splits at " << a << " and " << b);
        REQUIRE(sink.events == expected);
      }
    }
  }
}

TEST_CASE("ws_frame header split across feeds for every length form", "[ws_frame]") {
  for (std::size_t size : {5u, 200u, 70000u}) {
    std::string payload(size, 'q');
    std::string frame = text(payload);
    std::size_t header = size < 126 ? 6 : size <= 0xffff ? 8 : 14;
    for (std::size_t split = 1; split <= header; ++split) {
      FrameParser parser(big_limit);
      Recorder sink;
      CHECK(parser.feed(std::string_view(frame).substr(0, split), sink));
      CHECK(sink.events.empty());
      CHECK(parser.feed(std::string_view(frame).substr(split), sink));
      INFO("size " << size << " split " << split);
      REQUIRE(sink.events.size() == 1);
      CHECK(sink.events[0] == "text:" + payload);
    }
  }
}

// ---------------------------------------------------------------- errors

TEST_CASE("ws_frame refuses an unmasked frame with 1002", "[ws_frame]") {
  FrameOptions unmasked;
  unmasked.masked = false;
  CHECK(failure_of(text("hi", unmasked)) == "error:1002");
  CHECK(failure_of(client_frame(0x9, "", unmasked)) == "error:1002");
  CHECK(failure_of(text(std::string(200, 'x'), unmasked)) == "error:1002");
}

TEST_CASE("ws_frame refuses reserved bits with 1002", "[ws_frame]") {
  for (std::uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
    INFO("rsv " << int(rsv));
    FrameOptions opts;
    opts.rsv = rsv;
    CHECK(failure_of(text("hi", opts)) == "error:1002");
    CHECK(failure_of(client_frame(0x9, "", opts)) == "error:1002");
  }
}

TEST_CASE("ws_frame refuses unknown opcodes with 1002", "[ws_frame]") {
  for (std::uint8_t op : {0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf}) {
    INFO("opcode " << int(op));
    CHECK(failure_of(client_frame(op, "x")) == "error:1002");
  }
}

TEST_CASE("ws_frame refuses a fragmented control frame with 1002", "[ws_frame]") {
  CHECK(failure_of(client_frame(0x9, "p", not_fin())) == "error:1002");
  CHECK(failure_of(client_frame(0xa, "p", not_fin())) == "error:1002");
  CHECK(failure_of(client_frame(0x8, close_payload(1000), not_fin())) == "error:1002");
}

TEST_CASE("ws_frame refuses a control frame over 125 bytes with 1002", "[ws_frame]") {
  CHECK(failure_of(client_frame(0x9, std::string(126, 'p'))) == "error:1002");
  CHECK(failure_of(client_frame(0xa, std::string(126, 'p'))) == "error:1002");
  CHECK(failure_of(client_frame(0x8, close_payload(1000, std::string(124, 'r')))) == "error:1002");
  // Refused from the header alone: the payload never has to arrive.
  FrameOptions declared;
  declared.declared_length = 1000;
  CHECK(failure_of(client_frame(0x9, "", declared)) == "error:1002");
}

TEST_CASE("ws_frame refuses a continuation without a message with 1002", "[ws_frame]") {
  CHECK(failure_of(continuation("x", true)) == "error:1002");
  CHECK(failure_of(continuation("x", false)) == "error:1002");
  // ... and after a message has been completed.
  Fed fed = feed_all(text("a") + continuation("b", true));
  CHECK_FALSE(fed.ok);
  CHECK(fed.events == Events{"text:a", "error:1002"});
}

TEST_CASE("ws_frame refuses a new message inside a fragmented one with 1002", "[ws_frame]") {
  CHECK(events_of(text("a", not_fin()) + text("b")) == Events{"error:1002"});
  CHECK(events_of(text("a", not_fin()) + binary("b")) == Events{"error:1002"});
  CHECK(events_of(binary("a", not_fin()) + continuation("b", false) + text("c", not_fin())) ==
        Events{"error:1002"});
}

TEST_CASE("ws_frame refuses a message over max_message_bytes with 1009", "[ws_frame]") {
  constexpr std::size_t limit = 100;
  SECTION("at the limit is accepted") {
    std::string payload(limit, 'm');
    CHECK(events_of(text(payload), limit) == Events{"text:" + payload});
    CHECK(
        events_of(text(std::string(60, 'a'), not_fin()) + continuation(std::string(40, 'b'), true),
                  limit) == Events{"text:" + std::string(60, 'a') + std::string(40, 'b')});
  }
  SECTION("a single frame") {
    CHECK(failure_of(text(std::string(limit + 1, 'm')), limit) == "error:1009");
    CHECK(failure_of(binary(std::string(limit + 1, 'm')), limit) == "error:1009");
  }
  SECTION("across fragments") {
    CHECK(
        failure_of(text(std::string(60, 'a'), not_fin()) + continuation(std::string(41, 'b'), true),
                   limit) == "error:1009");
    CHECK(failure_of(binary(std::string(50, 'a'), not_fin()) +
                         continuation(std::string(50, 'b'), false) + continuation("c", true),
                     limit) == "error:1009");
  }
  SECTION("refused from the header, before the payload arrives") {
    FrameParser parser(limit);
    Recorder sink;
    std::string frame = binary(std::string(1000, 'x'));
    CHECK_FALSE(parser.feed(std::string_view(frame).substr(0, 8), sink));
    CHECK(sink.events == Events{"error:1009"});
    CHECK(parser.buffered_bytes() <= 4096);
  }
  SECTION("a huge declared length allocates nothing") {
    FrameOptions huge;
    huge.declared_length = std::uint64_t{1} << 40;
    FrameParser parser(limit);
    Recorder sink;
    CHECK_FALSE(parser.feed(binary("", huge), sink));
    CHECK(sink.events == Events{"error:1009"});
    CHECK(parser.buffered_bytes() <= 4096);
  }
  SECTION("control frames don't count toward the limit") {
    std::string bytes = text(std::string(limit, 'a'), not_fin()) +
                        client_frame(0x9, std::string(125, 'p')) + continuation("", true);
    CHECK(events_of(bytes, limit) ==
          Events{"ping:" + std::string(125, 'p'), "text:" + std::string(limit, 'a')});
  }
  SECTION("set_max_message_bytes changes the limit") {
    FrameParser parser(limit);
    Recorder sink;
    CHECK(parser.feed(text(std::string(limit, 'a')), sink));
    parser.set_max_message_bytes(10);
    CHECK_FALSE(parser.feed(text(std::string(11, 'b')), sink));
    CHECK(sink.events == Events{"text:" + std::string(limit, 'a'), "error:1009"});
  }
}

TEST_CASE("ws_frame refuses a 64-bit length with the top bit set with 1002", "[ws_frame]") {
  FrameOptions top_bit;
  top_bit.declared_length = std::uint64_t{1} << 63;
  CHECK(failure_of(binary("", top_bit)) == "error:1002");
}

TEST_CASE("ws_frame refuses invalid UTF-8 text with 1007", "[ws_frame]") {
  CHECK(failure_of(text("\xff")) == "error:1007");
  CHECK(failure_of(text("abc\xc3")) == "error:1007");
  CHECK(failure_of(text("\xed\xa0\x80")) == "error:1007");  // surrogate
  CHECK(failure_of(text("\xc0\x80")) == "error:1007");      // overlong
  CHECK(failure_of(text("ab", not_fin()) + continuation("\x80", true)) == "error:1007");
  // Binary messages are not checked.
  CHECK(events_of(binary("\xff")) == Events{"binary:\xff"});
}

TEST_CASE("ws_frame joins fragments before checking UTF-8", "[ws_frame]") {
  // U+20AC and U+1F600 split between fragments: valid once joined.
  CHECK(events_of(text("\xe2", not_fin()) + continuation("\x82", false) +
                  continuation("\xac", true)) == Events{"text:\xe2\x82\xac"});
  CHECK(events_of(text("a\xf0\x9f", not_fin()) + continuation("\x98\x80z", true)) ==
        Events{"text:a\xf0\x9f\x98\x80z"});
  // Still invalid when the last fragment leaves the character unfinished.
  CHECK(failure_of(text("\xe2", not_fin()) + continuation("\x82", true)) == "error:1007");
}

TEST_CASE("ws_frame refuses a close payload of one byte with 1002", "[ws_frame]") {
  CHECK(failure_of(client_frame(0x8, "\x03")) == "error:1002");
}

TEST_CASE("ws_frame refuses invalid close codes with 1002", "[ws_frame]") {
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535}) {
    INFO("close code " << code);
    CHECK(failure_of(client_frame(0x8, close_payload(code, "r"))) == "error:1002");
  }
}

TEST_CASE("ws_frame refuses a close reason that is not UTF-8 with 1007", "[ws_frame]") {
  CHECK(failure_of(client_frame(0x8, close_payload(1000, "bad \xff"))) == "error:1007");
  CHECK(failure_of(client_frame(0x8, close_payload(1000, "\xe2\x82"))) == "error:1007");
}

TEST_CASE("ws_frame reports nothing after an error", "[ws_frame]") {
  FrameOptions unmasked;
  unmasked.masked = false;
  FrameParser parser(big_limit);
  Recorder sink;
  // The error frame and good frames after it arrive in the same read.
  CHECK_FALSE(parser.feed(text("ok") + text("bad", unmasked) + text("later"), sink));
  CHECK(sink.events == Events{"text:ok", "error:1002"});
  CHECK_FALSE(parser.feed(text("more"), sink));
  CHECK_FALSE(parser.feed(client_frame(0x9, "p"), sink));
  CHECK_FALSE(parser.feed(client_frame(0x8, close_payload(1000)), sink));
  CHECK(sink.events == Events{"text:ok", "error:1002"});
}

TEST_CASE("ws_frame reports nothing after a UTF-8 error", "[ws_frame]") {
  FrameParser parser(big_limit);
  Recorder sink;
  CHECK_FALSE(parser.feed(text("\xff") + text("after"), sink));
  CHECK_FALSE(parser.feed(text("later"), sink));
  CHECK(sink.events == Events{"error:1007"});
}

// ---------------------------------------------------------------- memory

TEST_CASE("ws_frame buffered_bytes", "[ws_frame]") {
  FrameParser parser(big_limit);
  Recorder sink;
  CHECK(parser.buffered_bytes() == 0);

  CHECK(parser.feed(text("small") + client_frame(0x9, "p"), sink));
  CHECK(parser.buffered_bytes() <= 4096);

  // A big message's buffer is released once it has been delivered.
  CHECK(parser.feed(binary(std::string(100000, 'b')), sink));
  CHECK(parser.buffered_bytes() == 0);
  REQUIRE(sink.events.size() == 3);

  // While a big fragmented message is being assembled, it is held.
  CHECK(parser.feed(binary(std::string(10000, 'c'), not_fin()), sink));
  CHECK(parser.buffered_bytes() >= 10000);
  CHECK(parser.feed(continuation("", true), sink));
  CHECK(parser.buffered_bytes() == 0);
  CHECK(sink.events.size() == 4);
}

// ---------------------------------------------------------------- server frames

TEST_CASE("make_frame writes the shortest header, unmasked with FIN", "[ws_frame]") {
  std::string f0 = wsrelay::make_frame(Opcode::text, "");
  CHECK(f0 == "\x81\x00"s);

  std::string f5 = wsrelay::make_frame(Opcode::binary, "hello");
  CHECK(f5 == "\x82\x05hello"s);

  std::string p125(125, 'a');
  std::string f125 = wsrelay::make_frame(Opcode::text, p125);
  CHECK(f125 == "\x81\x7d"s + p125);

  std::string p126(126, 'b');
  CHECK(wsrelay::make_frame(Opcode::text, p126) == "\x81\x7e\x00\x7e"s + p126);

  std::string p65535(65535, 'c');
  CHECK(wsrelay::make_frame(Opcode::binary, p65535) == "\x82\x7e\xff\xff"s + p65535);

  std::string p65536(65536, 'd');
  CHECK(wsrelay::make_frame(Opcode::binary, p65536) ==
        "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"s + p65536);

  std::string p_odd(0x012345, 'e');
  CHECK(wsrelay::make_frame(Opcode::text, p_odd).substr(0, 10) ==
        "\x81\x7f\x00\x00\x00\x00\x00\x01\x23\x45"s);

  CHECK(wsrelay::make_frame(Opcode::ping, "x") == "\x89\x01x"s);
  CHECK(wsrelay::make_frame(Opcode::pong, "") == "\x8a\x00"s);
}

TEST_CASE("frame_header_size matches make_frame", "[ws_frame]") {
  CHECK(wsrelay::frame_header_size(0) == 2);
  CHECK(wsrelay::frame_header_size(125) == 2);
  CHECK(wsrelay::frame_header_size(126) == 4);
  CHECK(wsrelay::frame_header_size(65535) == 4);
  CHECK(wsrelay::frame_header_size(65536) == 10);
  for (std::size_t n : {0u, 1u, 125u, 126u, 65535u, 65536u}) {
    INFO("payload size " << n);
    CHECK(wsrelay::make_frame(Opcode::binary, std::string(n, 'x')).size() ==
          wsrelay::frame_header_size(n) + n);
  }
}

TEST_CASE("append_frame appends after existing bytes", "[ws_frame]") {
  std::string out = "prefix";
  wsrelay::append_frame(out, Opcode::text, "ab");
  wsrelay::append_frame(out, Opcode::binary, std::string(200, 'z'));
  CHECK(out ==
        "prefix\x81\x02"
        "ab"s +
            "\x82\x7e\x00\xc8"s + std::string(200, 'z'));
}

TEST_CASE("make_close_frame encodes the code big-endian", "[ws_frame]") {
  CHECK(wsrelay::make_close_frame(1000, "") == "\x88\x02\x03\xe8"s);
  CHECK(wsrelay::make_close_frame(1009, "too big") == "\x88\x09\x03\xf1too big"s);
  CHECK(wsrelay::make_close_frame(4000, "x") == "\x88\x03\x0f\xa0x"s);
}

TEST_CASE("make_close_frame truncates the reason to fit 125 bytes", "[ws_frame]") {
  std::string frame = wsrelay::make_close_frame(1011, std::string(300, 'r'));
  REQUIRE(frame.size() == 2 + 125);
  CHECK(static_cast<std::uint8_t>(frame[1]) == 125);
  CHECK(frame.substr(2, 2) == "\x03\xf3"s);
  CHECK(frame.substr(4) == std::string(123, 'r'));

  std::string exact = wsrelay::make_close_frame(1000, std::string(123, 'e'));
  CHECK(exact.size() == 2 + 125);
  CHECK(exact.substr(4) == std::string(123, 'e'));
}

TEST_CASE("make_close_frame keeps a truncated reason valid UTF-8", "[ws_frame]") {
  // 122 ASCII bytes and a 2-byte character: cutting at 123 would split it.
  std::string reason = std::string(122, 'a') + "\xc3\xa9" + "tail";
  std::string frame = wsrelay::make_close_frame(1000, reason);
  std::string kept = frame.substr(4);
  CHECK(kept.size() <= 123);
  CHECK(wsrelay::valid_utf8(kept));
  CHECK(kept == std::string(122, 'a'));

  // A 4-byte character straddling the cut.
  std::string emoji_reason = std::string(121, 'b') + "\xf0\x9f\x98\x80";
  std::string kept2 = wsrelay::make_close_frame(1000, emoji_reason).substr(4);
  CHECK(wsrelay::valid_utf8(kept2));
  CHECK(kept2 == std::string(121, 'b'));
}

TEST_CASE("a client close frame with make_close_frame's payload parses back", "[ws_frame]") {
  std::string server = wsrelay::make_close_frame(1008, "not allowed");
  // Same payload, masked as a client would send it.
  CHECK(events_of(client_frame(0x8, server.substr(2))) == Events{"close:1008:not allowed"});
}

TEST_CASE("valid_close_code", "[ws_frame]") {
  for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                             3000, 3999, 4000, 4999}) {
    INFO("code " << code);
    CHECK(wsrelay::valid_close_code(code));
  }
  for (std::uint16_t code :
       {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    INFO("code " << code);
    CHECK_FALSE(wsrelay::valid_close_code(code));
  }
}

TEST_CASE("websocket_accept_key matches RFC 6455", "[ws_frame]") {
  // RFC 6455 §1.3: base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
  CHECK(wsrelay::websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ==") ==
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(wsrelay::websocket_accept_key("x3JJHMbDL1EzLkh9GBhXDw==") ==
        "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
  CHECK(wsrelay::websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ==") !=
        wsrelay::websocket_accept_key("dGhlIHNhbXBsZSBub25jZA=="));
}

TEST_CASE("valid_websocket_key: 16 bytes in base64, nothing else", "[ws_frame]") {
  CHECK(wsrelay::valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=="));  // RFC 6455's example
  CHECK(wsrelay::valid_websocket_key("AAAAAAAAAAAAAAAAAAAAAA=="));
  CHECK(wsrelay::valid_websocket_key("+/+/+/+/+/+/+/+/+/+/+w=="));
  CHECK_FALSE(wsrelay::valid_websocket_key(""));
  CHECK_FALSE(wsrelay::valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ="));    // 23 characters
  CHECK_FALSE(wsrelay::valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ==="));  // 25
  CHECK_FALSE(wsrelay::valid_websocket_key("dGhlIHNhbXBsZSBub25jZQAA"));   // 18 bytes
  CHECK_FALSE(wsrelay::valid_websocket_key("dGhlIHNhbXBsZSBub25jZ==="));   // 15 bytes
  CHECK_FALSE(wsrelay::valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ-_"));   // base64url
  CHECK_FALSE(wsrelay::valid_websocket_key("dGhlIHNhbXBsZSBub25j-Q=="));   // not the alphabet
  CHECK_FALSE(wsrelay::valid_websocket_key("dGhlIHNhbXBsZSBub25jZ Q=="));  // a space inside
  CHECK_FALSE(wsrelay::valid_websocket_key("<script>alert(1)</script>=="));
  CHECK_FALSE(wsrelay::valid_websocket_key("123456789012345678901234"));
}
