// Fuzzes FrameParser, the first code to see a client's bytes after the
// handshake, and the frame builders around it.
//
// Input: byte 0 picks the split point, byte 1 max_message_bytes (0..2040),
// byte 2 the mode; the rest is
//   - mode bit 0 clear: raw client bytes, as they come off the socket;
//   - mode bit 0 set: frame records that this target masks and encodes, so the
//     fuzzer spends its time on frame sequences rather than on learning to
//     mask: <b0: FIN, RSV, opcode><length byte><4 mask bytes><payload>, where
//     length bytes 0..125 are the payload length and 126/127 take the next
//     2/8 bytes as the length written in the 16/64-bit form (so the header
//     may claim more than follows).
// Each stream is parsed whole, in two pieces and (up to 4 KiB) byte by byte;
// all three must report the same events, and every event must be one a
// server may act on (FrameSink's contract). With mode bit 1 set, the stream
// is parsed once more with max_message_bytes changed at the split point to
// (mode >> 2) * 8, as a config reload would.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <wsrelay/wire/protocol.hpp>
#include <wsrelay/wire/ws_frame.hpp>

#include "fuzz_support.hpp"

namespace {

using namespace wsrelay;

// Records events as text and checks each against the sink contract.
class CheckingSink : public FrameSink {
 public:
  explicit CheckingSink(std::size_t max_message_bytes) : max_(max_message_bytes) {}

  void on_message(bool binary, std::string_view payload) override {
    begin_event();
    FUZZ_CHECK(payload.size() <= max_);
    if (!binary) FUZZ_CHECK(wsrelay_fuzz::reference_valid_utf8(payload));
    record(binary ? "binary" : "text", payload);
  }
  void on_ping(std::string_view payload) override {
    begin_event();
    FUZZ_CHECK(payload.size() <= 125);
    record("ping", payload);
  }
  void on_pong(std::string_view payload) override {
    begin_event();
    FUZZ_CHECK(payload.size() <= 125);
    record("pong", payload);
  }
  void on_close(std::uint16_t code, std::string_view reason) override {
    begin_event();
    ended_ = true;
    if (code == 1005) {
      FUZZ_CHECK(reason.empty());
    } else {
      FUZZ_CHECK(valid_close_code(code));
      FUZZ_CHECK(reason.size() <= 123);
      FUZZ_CHECK(wsrelay_fuzz::reference_valid_utf8(reason));
    }
    record("close " + std::to_string(code), reason);
  }
  void on_protocol_error(std::uint16_t code, std::string_view reason) override {
    begin_event();
    ended_ = true;
    FUZZ_CHECK(code == close_code::protocol_error || code == close_code::invalid_payload ||
               code == close_code::too_big);
    FUZZ_CHECK(!reason.empty());
    record("error " + std::to_string(code), reason);
  }

  bool ended() const { return ended_; }
  const std::string& log() const { return log_; }

 private:
  // Nothing is reported after a close or an error.
  void begin_event() { FUZZ_CHECK(!ended_); }
  void record(const std::string& what, std::string_view payload) {
    log_ += what;
    log_ += ' ';
    log_ += std::to_string(payload.size());
    log_ += ':';
    log_.append(payload);
    log_ += '\n';
  }

  std::size_t max_;
  bool ended_ = false;
  std::string log_;
};

// Parses `pieces` in order and returns the event log.
std::string parse(std::size_t max_message_bytes, std::initializer_list<std::string_view> pieces) {
  FrameParser parser(max_message_bytes);
  CheckingSink sink(max_message_bytes);
  bool open = true;
  for (std::string_view piece : pieces) {
    if (!open) {
      // Once it said stop, the parser stays stopped and reports nothing.
      FUZZ_CHECK(!parser.feed(piece, sink));
      continue;
    }
    open = parser.feed(piece, sink);
    FUZZ_CHECK(open == !sink.ended());
    // Memory held is bounded by the message limit, not by what a header
    // claims: libstdc++ at most doubles a string's capacity.
    FUZZ_CHECK(parser.buffered_bytes() <= 2 * max_message_bytes + 256);
  }
  return sink.log();
}

// A reload (SIGHUP) may change max_message_bytes between two reads, even
// in the middle of a message. Whichever limit a message is held to, it must
// never exceed both, and neither may the memory held.
void parse_with_reload(std::size_t old_max, std::size_t new_max, std::string_view first,
                       std::string_view second) {
  const std::size_t bound = std::max(old_max, new_max);
  FrameParser parser(old_max);
  CheckingSink sink(bound);
  if (!parser.feed(first, sink)) return;
  parser.set_max_message_bytes(new_max);
  parser.feed(second, sink);
  FUZZ_CHECK(parser.buffered_bytes() <= 2 * bound + 256);
}

std::string parse_bytewise(std::size_t max_message_bytes, std::string_view stream) {
  FrameParser parser(max_message_bytes);
  CheckingSink sink(max_message_bytes);
  for (char c : stream) {
    if (!parser.feed(std::string_view(&c, 1), sink)) break;
  }
  return sink.log();
}

// Builds client frames from the records described at the top.
std::string encode_records(std::string_view in) {
  std::string out;
  while (in.size() >= 2) {
    const auto b0 = static_cast<std::uint8_t>(in[0]);
    const auto len7 = static_cast<std::uint8_t>(in[1]) & 0x7f;
    in.remove_prefix(2);
    std::uint64_t declared = len7;
    std::size_t extra = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    if (in.size() < extra) break;
    out.push_back(static_cast<char>(b0));
    out.push_back(static_cast<char>(0x80 | len7));
    if (extra) {
      declared = 0;
      for (std::size_t i = 0; i < extra; ++i)
        declared = (declared << 8) | static_cast<std::uint8_t>(in[i]);
      out.append(in.substr(0, extra));
      in.remove_prefix(extra);
    }
    std::uint8_t mask[4] = {};
    for (std::size_t i = 0; i < 4 && !in.empty(); ++i) {
      mask[i] = static_cast<std::uint8_t>(in.front());
      in.remove_prefix(1);
    }
    out.append(reinterpret_cast<const char*>(mask), 4);
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(declared, in.size()));
    for (std::size_t i = 0; i < n; ++i)
      out.push_back(static_cast<char>(static_cast<std::uint8_t>(in[i]) ^ mask[i % 4]));
    in.remove_prefix(n);
  }
  return out;
}

// make_close_frame keeps a UTF-8 reason UTF-8 when it shortens it, and the
// parser reads back the code and the reason it wrote.
void check_close_frame_round_trip(std::uint16_t code, std::string_view reason) {
  if (!valid_close_code(code) || !wsrelay_fuzz::reference_valid_utf8(reason)) return;
  const std::string frame = make_close_frame(code, reason);
  FUZZ_CHECK(frame.size() >= 4 && frame.size() <= 127);
  FUZZ_CHECK(static_cast<std::uint8_t>(frame[0]) == 0x88);
  // As a client would send it: masked, here with an all-zero mask.
  std::string masked = frame.substr(0, 2);
  masked[1] = static_cast<char>(masked[1] | 0x80);
  masked.append(4, '\0');
  masked += frame.substr(2);
  const std::string_view sent_reason = std::string_view(frame).substr(4);
  FUZZ_CHECK(reason.substr(0, sent_reason.size()) == sent_reason);
  const std::string expected = "close " + std::to_string(code) + " " +
                               std::to_string(sent_reason.size()) + ":" + std::string(sent_reason) +
                               "\n";
  FUZZ_CHECK(parse(0, {masked}) == expected);
}

void check_accept_key(std::string_view key) {
  const std::string accept = websocket_accept_key(key);
  // base64 of a SHA-1, or "" for a key too long to be one.
  FUZZ_CHECK(accept.empty() || accept.size() == 28);
  if (key.size() <= 24) FUZZ_CHECK(accept.size() == 28);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input = wsrelay_fuzz::as_view(data, size);
  const std::uint8_t split_selector = wsrelay_fuzz::take_byte(input);
  const std::size_t max_message_bytes = std::size_t{wsrelay_fuzz::take_byte(input)} * 8;
  const std::uint8_t mode = wsrelay_fuzz::take_byte(input);

  const std::string stream = (mode & 1) ? encode_records(input) : std::string(input);
  const std::string_view s = stream;
  const std::size_t split = wsrelay_fuzz::split_point(split_selector, s.size());

  const std::string whole = parse(max_message_bytes, {s});
  FUZZ_CHECK(parse(max_message_bytes, {s.substr(0, split), s.substr(split)}) == whole);
  if (s.size() <= 4096) FUZZ_CHECK(parse_bytewise(max_message_bytes, s) == whole);
  if (mode & 2) {
    parse_with_reload(max_message_bytes, static_cast<std::size_t>(mode >> 2) * 8,
                      s.substr(0, split), s.substr(split));
  }

  const auto code = static_cast<std::uint16_t>((split_selector << 8) | mode);
  check_close_frame_round_trip(code, input);
  check_accept_key(input.substr(0, 32));
  return 0;
}
