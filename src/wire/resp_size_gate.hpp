#pragma once
// RespSizeGate: drops oversized message payloads from a subscriber's RESP
// stream before the reply parser sees them. Pure: bytes in, pieces out.
//
// Why here: hiredis keeps a bulk string whole in its buffer until the last
// byte arrives, and then copies it into the reply, so a 100 MiB PUBLISH
// cost 200 MiB before anything could look at its size. The gate reads only
// the headers of the stream: a push ["message" | "smessage", channel,
// payload] or ["pmessage", pattern, channel, payload] whose payload is over
// the limit comes out with an integer (":<size>\r\n") where the payload was,
// and the payload's bytes are skipped as they arrive, never kept. The
// parser then sees a well-formed reply that says what was dropped
// (classify_push: Push::Kind::oversized).
//
// Everything else passes through as views of the input (one piece per feed
// in the common case). A stream the gate cannot frame (a bad type byte) is
// passed through untouched from then on: the parser fails on it and the
// connection starts over with a new gate.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace wsrelay {

class RespSizeGate {
 public:
  explicit RespSizeGate(std::size_t max_payload_bytes) : max_(max_payload_bytes) {}

  // Appends to `out` the pieces of `input` to feed the parser, in order.
  // They point into `input` or into this object, valid until the next call.
  void feed(std::string_view input, std::vector<std::string_view>& out);

  std::uint64_t dropped() const { return dropped_; }

 private:
  enum class Mode { type, line, body, skip, broken };

  void start_element(char type, std::size_t at);
  // The header line of the current element ended; `at` is its '\n'.
  void end_line(std::size_t at, std::string_view input, std::vector<std::string_view>& out);
  void element_done();
  void emit_held(std::vector<std::string_view>& out);
  void begin_reply();

  std::size_t max_;
  Mode mode_ = Mode::type;
  std::uint64_t dropped_ = 0;

  // The header line being read.
  char type_ = 0;
  long long number_ = 0;
  bool negative_ = false;
  bool cr_ = false;  // the last byte of the line was a CR
  int digits_ = 0;

  long long left_ = 0;  // body or skip bytes left (payload + CRLF)

  // Elements left in each open array, outermost first.
  std::vector<long long> open_;
  // The top-level reply, when it is an array: its size, and the element
  // (at depth 1) that would be a message's payload (-1: not a message).
  long long top_size_ = 0;
  long long payload_index_ = -1;
  std::string kind_;  // element 0 of the top-level array, when short
  bool capture_kind_ = false;

  // A payload header that began in an earlier piece of input is re-emitted
  // from here; so is the integer that replaces an oversized payload.
  bool held_ = false;               // the current header line is a payload's and is held back
  bool held_in_this_feed_ = false;  // ...and began in this call's input
  std::size_t held_at_ = 0;         // where it began, when in this call's input
  std::string held_text_;           // its bytes from earlier calls (a few: a length line)
  std::size_t segment_start_ = 0;
  std::deque<std::string> own_;
};

}  // namespace wsrelay
