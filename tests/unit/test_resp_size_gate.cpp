// RespSizeGate fed a subscriber's stream in every split: oversized message
// payloads come out as their size and are never kept; everything else comes
// out byte for byte.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <wsrelay/wire/resp.hpp>
#include <wsrelay/wire/resp_size_gate.hpp>

using namespace wsrelay;

namespace {

std::string bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}
std::string message(std::string_view channel, std::string_view payload) {
  return "*3\r\n" + bulk("message") + bulk(channel) + bulk(payload);
}

// Feeds `stream` to a gate in pieces of `step` bytes; what comes out, joined.
std::string through(RespSizeGate& gate, std::string_view stream, std::size_t step) {
  std::string out;
  std::vector<std::string_view> pieces;
  for (std::size_t at = 0; at < stream.size(); at += step) {
    pieces.clear();
    gate.feed(stream.substr(at, step), pieces);
    for (auto piece : pieces) out += piece;
  }
  return out;
}

std::vector<Push> parse(std::string_view bytes) {
  RespReader reader;
  REQUIRE(reader.feed(bytes));
  std::vector<Push> out;
  while (auto reply = reader.next()) out.push_back(classify_push(std::move(*reply)));
  REQUIRE_FALSE(reader.failed());
  return out;
}

}  // namespace

TEST_CASE("size gate: replies within the limit pass byte for byte, in any split", "[resp]") {
  const std::string stream = "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n" + message("c", "small") +
                             "+PONG\r\n-ERR boom\r\n*2\r\n*1\r\n:5\r\n$-1\r\n" + "*4\r\n" +
                             bulk("pmessage") + bulk("p*") + bulk("c") + bulk("ok") +
                             message("c", std::string(10, 'x'));
  for (std::size_t step = 1; step <= stream.size(); ++step) {
    RespSizeGate gate(10);
    INFO("pieces of " << step);
    CHECK(through(gate, stream, step) == stream);
    CHECK(gate.dropped() == 0);
  }
}

TEST_CASE("size gate: an oversized payload becomes its size, in any split", "[resp]") {
  const std::string stream = message("c", "before") + message("big", std::string(11, 'x')) +
                             "*4\r\n" + bulk("pmessage") + bulk("p*") + bulk("c") +
                             bulk(std::string(20, 'y')) + message("c", "after") + "*3\r\n" +
                             bulk("smessage") + bulk("s") + bulk(std::string(12, 'z'));
  for (std::size_t step = 1; step <= stream.size(); ++step) {
    RespSizeGate gate(10);
    INFO("pieces of " << step);
    const std::vector<Push> pushes = parse(through(gate, stream, step));
    REQUIRE(pushes.size() == 5);
    CHECK(pushes[0].kind == Push::Kind::message);
    CHECK(pushes[0].payload == "before");
    CHECK(pushes[1].kind == Push::Kind::oversized);
    CHECK(pushes[1].channel == "big");
    CHECK(pushes[1].count == 11);
    CHECK(pushes[3].kind == Push::Kind::message);
    CHECK(pushes[3].payload == "after");
    CHECK(gate.dropped() == 3);
  }
}

TEST_CASE("size gate: only a message's payload is judged, not its channel or other bulks",
          "[resp]") {
  const std::string long_channel(50, 'c');
  const std::string stream = message(long_channel, "p") + bulk(std::string(30, 'v')) + "*3\r\n" +
                             bulk("subscribe") + bulk(long_channel) + ":1\r\n" + "*3\r\n" +
                             bulk("notmessage") + bulk("c") + bulk(std::string(30, 'w'));
  RespSizeGate gate(10);
  CHECK(through(gate, stream, 7) == stream);
}

TEST_CASE("size gate: a skipped payload is not kept, however large", "[resp][memory]") {
  RespSizeGate gate(1024);
  const std::string head = "*3\r\n" + bulk("message") + bulk("c") + "$104857600\r\n";
  std::vector<std::string_view> pieces;
  gate.feed(head, pieces);
  std::size_t out = 0;
  for (auto piece : pieces) out += piece.size();
  const std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 1600; ++i) {  // exactly 100 MiB
    pieces.clear();
    gate.feed(chunk, pieces);
    for (auto piece : pieces) out += piece.size();
  }
  pieces.clear();
  const std::string rest = "\r\n" + message("c", "next");
  gate.feed(rest, pieces);
  std::string tail;
  for (auto piece : pieces) tail += piece;
  CHECK(tail == message("c", "next"));
  CHECK(out < 100);  // the header and ":104857600\r\n"
  CHECK(gate.dropped() == 1);
}

TEST_CASE("size gate: a stream it cannot frame is passed on untouched", "[resp]") {
  RespSizeGate gate(10);
  const std::string stream =
      message("c", "ok") + "?garbage\r\n" + message("c", std::string(20, 'x'));
  CHECK(through(gate, stream, 3) == stream);
}

TEST_CASE("size gate: a length no Redis sends is passed on untouched, without overflow", "[resp]") {
  // 19 digits: over what the gate counts (and near LLONG_MAX, where adding
  // the CRLF once overflowed). The parser judges such a stream, not the gate.
  for (std::string length : {"9223372036854775807", "9999999999999999999"}) {
    INFO(length);
    RespSizeGate gate(10);
    const std::string stream = "*3\r\n" + bulk("message") + bulk("c") + "$" + length + "\r\nxx";
    CHECK(through(gate, stream, 1) == stream);
    CHECK(gate.dropped() == 0);
  }
}
