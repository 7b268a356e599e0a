#pragma once
// Message: one payload from the backend, with its server-to-client WebSocket
// frame built once. Every recipient's queue holds a shared_ptr to the same
// immutable object, so fan-out copies nothing per recipient.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <wsrelay/wire/history.hpp>

namespace wsrelay {

class Message {
 public:
  using clock = std::chrono::steady_clock;

  // Text frame when `payload` is valid UTF-8, else binary (docs/protocol.md §4).
  // `received`: when it was read off the backend's socket, for the delivery
  // latency; zero for a message that was not (a replayed last message).
  static std::shared_ptr<const Message> make(std::string_view channel, std::string_view payload,
                                             clock::time_point received = {});
  // A message on a channel with history (docs/history.md): `payload` for
  // plain clients, and a sibling holding `envelope` ("<id> <payload>", or
  // "- <payload>" without a position) for the clients that asked for
  // positions. Both frames are built once, here.
  static std::shared_ptr<const Message> make_positioned(std::string_view channel,
                                                        std::string_view payload,
                                                        std::string_view envelope,
                                                        std::optional<StreamId> id,
                                                        clock::time_point received = {});

  const std::string& channel() const { return channel_; }
  // The whole frame: header followed by the unmasked payload.
  std::string_view frame() const { return frame_; }
  std::string_view payload() const { return std::string_view(frame_).substr(header_size_); }
  bool binary() const { return binary_; }
  // Hash of (channel, payload), computed once, for echo suppression.
  std::uint64_t hash() const { return hash_; }
  static std::uint64_t hash_of(std::string_view channel, std::string_view payload);
  clock::time_point received() const { return received_; }
  // The envelope form for clients with positions; null on a channel
  // without history.
  const std::shared_ptr<const Message>& positioned() const { return positioned_; }
  // Its stream id, when it was published with history.
  const std::optional<StreamId>& position() const { return position_; }

 private:
  std::string channel_;
  std::string frame_;
  std::size_t header_size_ = 0;
  std::uint64_t hash_ = 0;
  clock::time_point received_{};
  std::shared_ptr<const Message> positioned_;
  std::optional<StreamId> position_;
  bool binary_ = false;
};

using MessagePtr = std::shared_ptr<const Message>;

}  // namespace wsrelay
