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

std::shared_ptr<const Message> Message::make_positioned(std::string_view channel,
                                                        std::string_view payload,
                                                        std::string_view envelope,
                                                        std::optional<StreamId> id,
                                                        clock::time_point received) {
  auto plain = std::const_pointer_cast<Message>(make(channel, payload, received));
  auto positioned = std::const_pointer_cast<Message>(make(channel, envelope, received));
  // The same hash: echo suppression and the replay's dedupe compare what
  // was published, whatever form it is delivered in.
  positioned->hash_ = plain->hash_;
  positioned->position_ = id;
  plain->position_ = id;
  plain->positioned_ = std::move(positioned);
  return plain;
}

std::uint64_t Message::hash_of(std::string_view channel, std::string_view payload) {
  std::uint64_t h = std::hash<std::string_view>{}(channel);
  return h ^ (std::hash<std::string_view>{}(payload)*0x9e3779b97f4a7c15ull);
}

}  // namespace wsrelay
