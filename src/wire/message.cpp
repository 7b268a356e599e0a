#include <wsrelay/wire/message.hpp>

#include <wsrelay/wire/protocol.hpp>
#include <wsrelay/wire/ws_frame.hpp>

namespace wsrelay {

std::shared_ptr<const Message> Message::make(std::string_view channel, std::string_view payload,
                                             clock::time_point received) {
  auto message = std::make_shared<Message>();
  message->channel_ = channel;
  message->received_ = received;
  message->hash_ = hash_of(channel, payload);
  message->binary_ = !valid_utf8(payload);
  message->header_size_ = frame_header_size(payload.size());
  message->frame_.reserve(message->header_size_ + payload.size());
  append_frame(message->frame_, message->binary_ ? Opcode::binary : Opcode::text, payload);
  return message;
}

std::uint64_t Message::hash_of(std::string_view channel, std::string_view payload) {
  std::uint64_t h = std::hash<std::string_view>{}(channel);
  return h ^ (std::hash<std::string_view>{}(payload)*0x9e3779b97f4a7c15ull);
}

}  // namespace wsrelay
