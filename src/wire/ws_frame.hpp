#pragma once
// WebSocket framing (RFC 6455), server side, without I/O. The gateway does
// its own framing instead of using beast::websocket::stream so that one
// server-to-client frame can be built once and written to every recipient,
// writes can be coalesced, and an idle connection holds no read buffer.
//
// FrameParser consumes client bytes in any split and reports complete
// messages and control frames to a FrameSink. It enforces the protocol
// rules a server must: masking, reserved bits, opcodes, control frame size
// and fragmentation, continuation order, message size, UTF-8 of text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wsrelay {

enum class Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xa,
};

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void on_message(bool binary, std::string_view payload) = 0;
  virtual void on_ping(std::string_view payload) = 0;
  virtual void on_pong(std::string_view payload) = 0;
  // code 1005 ("no status") when the close frame had no payload.
  virtual void on_close(std::uint16_t code, std::string_view reason) = 0;
  // The peer broke the protocol; the connection must be closed with `code`.
  virtual void on_protocol_error(std::uint16_t code, std::string_view reason) = 0;
};

class FrameParser {
 public:
  explicit FrameParser(std::size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  // Feeds bytes. Returns false once an error or close frame has been
  // reported; nothing after it is parsed.
  bool feed(std::string_view data, FrameSink& sink);

  // Memory held between messages (0 for an idle connection). Only heap
  // buffers count: an empty string's inline (SSO) capacity holds nothing.
  std::size_t buffered_bytes() const { return heap_bytes(message_) + heap_bytes(control_); }
  void set_max_message_bytes(std::size_t n) { max_message_bytes_ = n; }
  // Between messages: gives back the buffer a busy connection keeps.
  void trim() {
    if (!in_message_ && !in_payload_) std::string().swap(message_);
  }

 private:
  static std::size_t heap_bytes(const std::string& s) {
    return s.capacity() > std::string().capacity() ? s.capacity() : 0;
  }
  bool on_header_complete(FrameSink& sink);
  bool on_frame_complete(FrameSink& sink);

  std::size_t max_message_bytes_;
  bool done_ = false;

  // Header being read (2..14 bytes).
  std::uint8_t header_[14] = {};
  std::size_t header_have_ = 0;
  std::size_t header_need_ = 2;

  // Current frame.
  bool in_payload_ = false;
  bool fin_ = false;
  Opcode opcode_ = Opcode::continuation;
  std::uint8_t mask_[4] = {};
  std::uint64_t payload_left_ = 0;
  std::size_t mask_offset_ = 0;

  // Current (possibly fragmented) data message.
  bool in_message_ = false;
  bool message_binary_ = false;
  std::string message_;
  std::string control_;
};

// A server-to-client frame (unmasked): header + payload.
std::string make_frame(Opcode opcode, std::string_view payload);
void append_frame(std::string& out, Opcode opcode, std::string_view payload);
std::size_t frame_header_size(std::size_t payload_size);
// A close frame with `code` and a reason (truncated to fit 125 bytes).
std::string make_close_frame(std::uint16_t code, std::string_view reason);

// RFC 6455 §7.4: may a peer send this code in a close frame?
bool valid_close_code(std::uint16_t code);

// RFC 6455 §4.1: a Sec-WebSocket-Key is 16 bytes in base64: 22 characters
// of the base64 alphabet and "==". (The unused bits of the last character
// are not checked: the key decodes to 16 bytes either way.)
bool valid_websocket_key(std::string_view key);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key.
std::string websocket_accept_key(std::string_view key);

}  // namespace wsrelay
