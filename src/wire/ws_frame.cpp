#include <wsrelay/wire/ws_frame.hpp>

#include <algorithm>

#include <boost/beast/websocket/detail/hybi13.hpp>

#include <wsrelay/wire/protocol.hpp>

namespace wsrelay {
namespace {

bool is_control(Opcode op) {
  return static_cast<std::uint8_t>(op) & 0x8;
}

bool known_opcode(std::uint8_t op) {
  return op == 0x0 || op == 0x1 || op == 0x2 || op == 0x8 || op == 0x9 || op == 0xa;
}

// Unmasks `n` bytes of `in` into `out`, continuing at `offset` in the mask.
void unmask_append(std::string& out, const char* in, std::size_t n, const std::uint8_t* mask,
                   std::size_t& offset) {
  std::size_t start = out.size();
  out.append(in, n);
  char* p = out.data() + start;
  std::size_t i = 0;
  // Align to the mask, then do eight bytes at a time.
  for (; i < n && (offset & 3) != 0; ++i, ++offset) p[i] ^= static_cast<char>(mask[offset & 3]);
  if (i + 8 <= n) {
    std::uint64_t m;
    std::uint8_t m8[8] = {mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]};
    __builtin_memcpy(&m, m8, 8);
    for (; i + 8 <= n; i += 8) {
      std::uint64_t w;
      __builtin_memcpy(&w, p + i, 8);
      w ^= m;
      __builtin_memcpy(p + i, &w, 8);
    }
  }
  for (; i < n; ++i, ++offset) p[i] ^= static_cast<char>(mask[offset & 3]);
}

}  // namespace

bool valid_close_code(std::uint16_t code) {
  if (code >= 3000 && code <= 4999) return true;
  switch (code) {
    case 1000:
    case 1001:
    case 1002:
    case 1003:
    case 1007:
    case 1008:
    case 1009:
    case 1010:
    case 1011:
    case 1012:
    case 1013:
    case 1014:
      return true;
    default:
      return false;
  }
}

bool FrameParser::feed(std::string_view data, FrameSink& sink) {
  while (!done_ && !data.empty()) {
    if (!in_payload_) {
      std::size_t take = std::min(header_need_ - header_have_, data.size());
      __builtin_memcpy(header_ + header_have_, data.data(), take);
      header_have_ += take;
      data.remove_prefix(take);
      if (header_have_ < header_need_) return true;
      if (header_need_ == 2) {
        // The first two bytes tell how long the rest of the header is.
        std::uint8_t len7 = header_[1] & 0x7f;
        header_need_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((header_[1] & 0x80) ? 4 : 0);
        if (header_need_ > 2) continue;
      }
      if (!on_header_complete(sink)) return false;
      if (payload_left_ == 0 && !on_frame_complete(sink)) return false;
      continue;
    }
    std::size_t take = static_cast<std::size_t>(
        std::min<std::uint64_t>(payload_left_, static_cast<std::uint64_t>(data.size())));
    std::string& target = is_control(opcode_) ? control_ : message_;
    unmask_append(target, data.data(), take, mask_, mask_offset_);
    payload_left_ -= take;
    data.remove_prefix(take);
    if (payload_left_ == 0 && !on_frame_complete(sink)) return false;
  }
  return !done_;
}

bool FrameParser::on_header_complete(FrameSink& sink) {
  auto fail = [&](const CloseReason& why) {
    done_ = true;
    sink.on_protocol_error(why.code, why.text);
    return false;
  };
  std::uint8_t b0 = header_[0];
  std::uint8_t b1 = header_[1];
  fin_ = b0 & 0x80;
  if (b0 & 0x70) return fail(close_reason::reserved_bits);
  std::uint8_t op = b0 & 0x0f;
  if (!known_opcode(op)) return fail(close_reason::unknown_opcode);
  opcode_ = static_cast<Opcode>(op);
  if (!(b1 & 0x80)) return fail(close_reason::not_masked);

  std::uint64_t len = b1 & 0x7f;
  std::size_t pos = 2;
  if (len == 126) {
    len = (std::uint64_t{header_[2]} << 8) | header_[3];
    pos = 4;
  } else if (len == 127) {
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | header_[2 + i];
    pos = 10;
    if (len >> 63) return fail(close_reason::length_out_of_range);
  }
  __builtin_memcpy(mask_, header_ + pos, 4);
  mask_offset_ = 0;

  if (is_control(opcode_)) {
    if (!fin_) return fail(close_reason::fragmented_control);
    if (len > 125) return fail(close_reason::control_too_long);
    control_.clear();
  } else if (opcode_ == Opcode::continuation) {
    if (!in_message_) return fail(close_reason::stray_continuation);
  } else {
    if (in_message_) return fail(close_reason::nested_message);
    in_message_ = true;
    message_binary_ = opcode_ == Opcode::binary;
    message_.clear();
  }
  // The limit may have been lowered (reload) below what the message holds.
  if (!is_control(opcode_) &&
      (message_.size() > max_message_bytes_ || len > max_message_bytes_ - message_.size()))
    return fail(close_reason::too_big);

  payload_left_ = len;
  in_payload_ = true;
  // Reserve for what the header claims only up to a modest size: a client
  // must send the bytes before it makes us hold them.
  if (!is_control(opcode_))
    message_.reserve(message_.size() +
                     static_cast<std::size_t>(std::min<std::uint64_t>(len, 16384)));
  return true;
}

bool FrameParser::on_frame_complete(FrameSink& sink) {
  in_payload_ = false;
  header_have_ = 0;
  header_need_ = 2;
  switch (opcode_) {
    case Opcode::ping:
      sink.on_ping(control_);
      return true;
    case Opcode::pong:
      sink.on_pong(control_);
      return true;
    case Opcode::close: {
      done_ = true;
      if (control_.empty()) {
        sink.on_close(1005, {});
        return false;
      }
      if (control_.size() == 1) {
        sink.on_protocol_error(close_reason::short_close.code, close_reason::short_close.text);
        return false;
      }
      auto code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(control_[0]) << 8) |
                                             static_cast<std::uint8_t>(control_[1]));
      std::string_view reason = std::string_view(control_).substr(2);
      if (!valid_close_code(code)) {
        sink.on_protocol_error(close_reason::invalid_close_code.code,
                               close_reason::invalid_close_code.text);
      } else if (!valid_utf8(reason)) {
        sink.on_protocol_error(close_reason::close_text_not_utf8.code,
                               close_reason::close_text_not_utf8.text);
      } else {
        sink.on_close(code, reason);
      }
      return false;
    }
    default:
      break;
  }
  if (!fin_) return true;
  in_message_ = false;
  if (!message_binary_ && !valid_utf8(message_)) {
    done_ = true;
    sink.on_protocol_error(close_reason::text_not_utf8.code, close_reason::text_not_utf8.text);
    return false;
  }
  sink.on_message(message_binary_, message_);
  // An idle connection should hold no message buffer; a busy one keeps a
  // small one to avoid reallocating for every message.
  if (message_.capacity() > 4096) {
    std::string().swap(message_);
  } else {
    message_.clear();
  }
  return !done_;
}

std::size_t frame_header_size(std::size_t n) {
  return n < 126 ? 2 : n <= 0xffff ? 4 : 10;
}

void append_frame(std::string& out, Opcode opcode, std::string_view payload) {
  std::size_t n = payload.size();
  out.push_back(static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode)));
  if (n < 126) {
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xffff) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>((n >> 8) & 0xff));
    out.push_back(static_cast<char>(n & 0xff));
  } else {
    out.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xff));
  }
  out.append(payload);
}

std::string make_frame(Opcode opcode, std::string_view payload) {
  std::string out;
  out.reserve(frame_header_size(payload.size()) + payload.size());
  append_frame(out, opcode, payload);
  return out;
}

std::string make_close_frame(std::uint16_t code, std::string_view reason) {
  std::string body;
  body.push_back(static_cast<char>(code >> 8));
  body.push_back(static_cast<char>(code & 0xff));
  if (reason.size() > 123) {
    // Cut on a character boundary: a close reason must be valid UTF-8, and
    // a peer fails the connection (1007) instead of seeing `code` otherwise.
    std::size_t cut = 123;
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xc0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  body.append(reason);
  return make_frame(Opcode::close, body);
}

bool valid_websocket_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  });
}

std::string websocket_accept_key(std::string_view key) {
  namespace detail = boost::beast::websocket::detail;
  if (key.size() > detail::sec_ws_key_type::static_capacity) return {};
  detail::sec_ws_accept_type accept;
  detail::make_sec_ws_accept(accept, key);
  return std::string(accept.data(), accept.size());
}

}  // namespace wsrelay
