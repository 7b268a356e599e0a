#pragma once
// Message: one payload from the backend, with its server-to-client WebSocket
// frame built once. Every recipient's queue holds a shared_ptr to the same
// immutable object, so fan-out copies nothing per recipient.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace wsrelay {

class Message {
 public:
  // Text frame when `payload` is valid UTF-8, else binary (docs/protocol.md §4).
  static std::shared_ptr<const Message> make(std::string_view channel, std::string_view payload);

  const std::string& channel() const { return channel_; }
  // The whole frame: header followed by the unmasked payload.
  std::string_view frame() const { return frame_; }
  std::string_view payload() const { return std::string_view(frame_).substr(header_size_); }
  bool binary() const { return binary_; }
  // Hash of (channel, payload), computed once, for echo suppression.
  std::uint64_t hash() const { return hash_; }
  static std::uint64_t hash_of(std::string_view channel, std::string_view payload);

 private:
  std::string channel_;
  std::string frame_;
  std::size_t header_size_ = 0;
  std::uint64_t hash_ = 0;
  bool binary_ = false;
};

using MessagePtr = std::shared_ptr<const Message>;

}  // namespace wsrelay
