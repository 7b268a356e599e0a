#include <wsrelay/message.hpp>

#include <wsrelay/protocol.hpp>
#include <wsrelay/ws_frame.hpp>

namespace wsrelay {

std::shared_ptr<const Message> Message::make(std::string_view channel, std::string_view payload) {
  auto message = std::make_shared<Message>();
  message->channel_ = channel;
  message->binary_ = !valid_utf8(payload);
  message->header_size_ = frame_header_size(payload.size());
  message->frame_.reserve(message->header_size_ + payload.size());
  append_frame(message->frame_, message->binary_ ? Opcode::binary : Opcode::text, payload);
  return message;
}

}  // namespace wsrelay
