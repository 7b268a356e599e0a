// CommandSession: the Redis command channel's connections.
#include <wsrelay/gateway/command_session.hpp>

#include <chrono>

#include <spdlog/spdlog.h>

#include <wsrelay/backend/engine.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/gateway/command_frames.hpp>
#include <wsrelay/gateway/hub.hpp>
#include <wsrelay/gateway/shard.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/rate_limited_log.hpp>
#include <wsrelay/runtime/thread_check.hpp>
#include <wsrelay/wire/printable.hpp>

namespace wsrelay {

CommandSession::CommandSession(Shard& shard, tcp::socket socket, WsUpgrade upgrade,
                               std::string key_prefix)
    : WsSession(shard, std::move(socket), std::move(upgrade)), prefix_(std::move(key_prefix)) {}

CommandSession::~CommandSession() = default;

void CommandSession::on_message(bool binary, std::string_view payload) {
  if (!accepting_data()) return;
  count_message_in();
  if (answer_heartbeat(binary, payload)) return;
  const Config& config = shard().config();
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto request = std::make_shared<CommandRequest>(parse_command_request(payload, now_ms));
  const std::uint64_t seq = next_seq_++;
  answers_.emplace_back();
  // Answers wait here only behind a command Redis has not answered: with
  // one Redis only refusals can (Redis answers in order); with a cluster,
  // replies of other masters too, within max_in_flight. A client that keeps
  // sending while as many wait is not reading its answers.
  const auto max_in_flight = static_cast<std::size_t>(config.command_channel_max_in_flight);
  if (answers_.size() > 2 * max_in_flight) {
    shard().metrics().count_command_refused(command_error::too_many_in_flight);
    return start_close(CloseCause::protocol_error, close_reason::commands_flood);
  }
  std::optional<CommandError> refusal;
  Argv argv;
  if (!take_rate_token()) {
    refusal = CommandError{command_error::rate_limited,
                           fmt::format("over websocket.publish_rate ({}/s, burst {})",
                                       config.publish_rate, config.publish_burst)};
  } else if (in_flight_ >= config.command_channel_max_in_flight) {
    refusal = CommandError{command_error::too_many_in_flight,
                           fmt::format("{} commands already wait for Redis "
                                       "(command_channel.max_in_flight)",
                                       in_flight_)};
  } else if (auto* error = std::get_if<CommandError>(&request->command)) {
    refusal = *error;
  } else {
    CommandPolicy policy;
    policy.allowed = &config.command_channel_allowed_names;
    policy.max_args = config.command_channel_max_args;
    policy.max_arg_bytes = config.command_channel_max_arg_bytes;
    policy.max_command_bytes = config.command_channel_max_command_bytes;
    policy.key_mode = config.command_channel_key_mode == "explicit" ? KeyMode::explicit_prefix
                                                                    : KeyMode::confined;
    auto prepared = prepare_command(std::move(std::get<Argv>(request->command)), prefix_, policy);
    if (auto* error = std::get_if<CommandError>(&prepared)) {
      refusal = *error;
    } else {
      argv = std::move(std::get<Argv>(prepared));
    }
  }
  if (refusal) return refuse(seq, *request, *refusal);

  ++in_flight_;
  std::weak_ptr<WsSession> weak = weak_from_this();
  shard().hub().command(
      std::move(argv), config.command_channel_max_reply_bytes,
      [weak, &shard = shard(), seq, request](CommandOutcome outcome) {
        net::post(shard.context(), [weak, seq, request, outcome = std::move(outcome)]() mutable {
          auto self = std::static_pointer_cast<CommandSession>(weak.lock());
          if (self) self->on_outcome(seq, *request, std::move(outcome));
        });
      });
}

void CommandSession::refuse(std::uint64_t seq, const CommandRequest& request,
                            const CommandError& error) {
  shard().metrics().count_command_refused(error.code);
  // A client decides how many: one line a second for the process, its
  // bytes escaped (wsrelay_commands_refused_total counts them all).
  static SharedRateLimitedLog log;
  if (std::uint64_t suppressed = 0; log.should_log(suppressed))
    spdlog::info("session {}: command refused: {}: {} ({} more since the previous line)", id(),
                 error.code, printable(error.message), suppressed);
  answer(seq, encode_command_error(request, error));
  const int max_refusals = shard().config().command_channel_max_refusals;
  if (max_refusals > 0 && ++refusals_ >= max_refusals)
    start_close(CloseCause::protocol_error, close_reason::too_many_refusals);
}

void CommandSession::on_outcome(std::uint64_t seq, const CommandRequest& request,
                                CommandOutcome outcome) {
  WSRELAY_ASSERT_ON(shard().context().get_executor());
  --in_flight_;
  Metrics& metrics = shard().metrics();
  const Config& config = shard().config();
  switch (outcome.kind) {
    case CommandOutcome::Kind::reply:
      metrics.commands_executed.fetch_add(1, std::memory_order_relaxed);
      if (outcome.reply.is_error()) metrics.count_command_refused(command_error::redis_error);
      return answer(seq, encode_command_reply(request, outcome.reply,
                                              config.command_channel_max_reply_bytes));
    case CommandOutcome::Kind::too_large:
      metrics.commands_executed.fetch_add(1, std::memory_order_relaxed);
      metrics.count_command_refused(command_error::reply_too_large);
      return answer(
          seq, encode_command_error(
                   request, CommandError{command_error::reply_too_large,
                                         fmt::format("a reply of about {} bytes, over "
                                                     "command_channel.max_reply_bytes "
                                                     "({}); it was run",
                                                     outcome.bytes,
                                                     config.command_channel_max_reply_bytes)}));
    case CommandOutcome::Kind::unavailable:
      metrics.count_command_refused(command_error::redis_unavailable);
      return answer(seq, encode_command_error(
                             request, CommandError{command_error::redis_unavailable,
                                                   "Redis is not reachable; the command was not "
                                                   "sent"}));
    case CommandOutcome::Kind::lost:
      metrics.count_command_refused(command_error::redis_unavailable);
      return answer(seq, encode_command_error(
                             request, CommandError{command_error::redis_unavailable,
                                                   "the connection to Redis dropped before it "
                                                   "answered; the command may have run"}));
  }
}

void CommandSession::answer(std::uint64_t seq, std::string json) {
  if (!accepting_data() || seq < first_seq_) return;
  const std::size_t at = static_cast<std::size_t>(seq - first_seq_);
  if (at >= answers_.size()) return;
  answers_[at] = std::move(json);
  while (!answers_.empty() && !answers_.front().empty()) {
    std::string text = std::move(answers_.front());
    answers_.pop_front();
    ++first_seq_;
    if (!queue_own_text(text)) return;  // over the queue limit: closing
  }
}

}  // namespace wsrelay
