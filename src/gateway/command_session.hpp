#pragma once
// CommandSession: one connection to the Redis command channel
// (command_channel.path, docs/command-channel.md). A WsSession without
// channels (it opens at once, and shares the framing, the queue and its
// limits, pings, the idle timeout and the close) whose client messages are
// commands instead of publishes: each is parsed (command_frames), checked
// and confined under the connection's key prefix (command_channel.hpp),
// sent through the hub to the engine's command connection, and answered
// with one JSON message, in the order the commands came.
//
// Bounds: at most command_channel.max_in_flight commands wait for Redis;
// answers held behind an unanswered one are small errors (Redis answers in
// order on one connection), at most as many again, past which the
// connection is closed with 1008; a refused command counts, and after
// command_channel.max_refusals the connection is closed with 1008; the
// rate is websocket.publish_rate's bucket, answered rate_limited.
// Lives on one shard and runs only on that shard's thread.
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include <wsrelay/gateway/ws_session.hpp>

namespace wsrelay {

struct CommandError;
struct CommandOutcome;
struct CommandRequest;

class CommandSession final : public WsSession {
 public:
  // `key_prefix`: the identity's (expand_key_prefix).
  CommandSession(Shard& shard, tcp::socket socket, WsUpgrade upgrade, std::string key_prefix);
  ~CommandSession() override;

 private:
  void on_message(bool binary, std::string_view payload) override;
  void refuse(std::uint64_t seq, const CommandRequest& request, const CommandError& error);
  void on_outcome(std::uint64_t seq, const CommandRequest& request, CommandOutcome outcome);
  // The answer to the command numbered `seq`; written when every earlier
  // one has been.
  void answer(std::uint64_t seq, std::string json);

  std::string prefix_;
  std::deque<std::string> answers_;  // from first_seq_ on; "" while unanswered
  std::uint64_t first_seq_ = 0;
  std::uint64_t next_seq_ = 0;
  int in_flight_ = 0;  // sent to Redis, not answered
  int refusals_ = 0;
};

}  // namespace wsrelay
