#include "support/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>

#include <algorithm>
#include <stdexcept>
#include <string_view>

namespace wsrelay::test {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

redisContext* connect(std::uint16_t port, std::chrono::milliseconds timeout) {
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, to_timeval(timeout));
  if (c == nullptr) throw std::runtime_error("redis: out of memory");
  if (c->err != 0) {
    std::string message =
        std::string("redis connect to port ") + std::to_string(port) + ": " + c->errstr;
    redisFree(c);
    throw std::runtime_error(message);
  }
  redisSetTimeout(c, to_timeval(timeout));
  return c;
}

RedisValue convert(const redisReply* r) {
  RedisValue v;
  switch (r->type) {
    case REDIS_REPLY_STATUS:
      v.kind = RedisValue::Kind::status;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.kind = RedisValue::Kind::error;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      v.kind = RedisValue::Kind::integer;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      v.kind = RedisValue::Kind::string;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      v.kind = RedisValue::Kind::array;
      for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(convert(r->element[i]));
      break;
    default:
      v.kind = RedisValue::Kind::nil;
      break;
  }
  return v;
}

RedisValue take(void* raw) {
  auto* reply = static_cast<redisReply*>(raw);
  RedisValue v = convert(reply);
  freeReplyObject(reply);
  return v;
}

void append_command(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  if (redisAppendCommandArgv(c, static_cast<int>(args.size()), args.data(), lengths.data()) !=
      REDIS_OK) {
    throw std::runtime_error(std::string("redis append: ") + c->errstr);
  }
}

}  // namespace

// ---- RedisSync

RedisSync::RedisSync(std::uint16_t port, std::chrono::milliseconds timeout)
    : context_(connect(port, timeout)) {}

RedisSync::~RedisSync() {
  if (context_ != nullptr) redisFree(context_);
}

RedisValue RedisSync::command(const std::vector<std::string>& argv) {
  append_command(context_, argv);
  void* raw = nullptr;
  if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
    throw std::runtime_error(std::string("redis ") + (argv.empty() ? "" : argv[0]) + ": " +
                             context_->errstr);
  }
  return take(raw);
}

long long RedisSync::publish(const std::string& channel, const std::string& payload) {
  RedisValue v = command({"PUBLISH", channel, payload});
  if (v.kind != RedisValue::Kind::integer) throw std::runtime_error("PUBLISH: " + v.str);
  return v.integer;
}

std::optional<std::string> RedisSync::get(const std::string& key) {
  RedisValue v = command({"GET", key});
  if (v.is_nil()) return std::nullopt;
  if (v.kind != RedisValue::Kind::string) throw std::runtime_error("GET: " + v.str);
  return v.str;
}

void RedisSync::set(const std::string& key, const std::string& value,
                    std::optional<int> expire_seconds) {
  std::vector<std::string> argv{"SET", key, value};
  if (expire_seconds) {
    argv.push_back("EX");
    argv.push_back(std::to_string(*expire_seconds));
  }
  RedisValue v = command(argv);
  if (v.is_error()) throw std::runtime_error("SET: " + v.str);
}

long long RedisSync::ttl(const std::string& key) {
  return command({"TTL", key}).integer;
}

long long RedisSync::del(const std::string& key) {
  return command({"DEL", key}).integer;
}

std::vector<std::string> RedisSync::keys(const std::string& pattern) {
  std::vector<std::string> result;
  for (const auto& e : command({"KEYS", pattern}).elements) result.push_back(e.str);
  return result;
}

int RedisSync::clients_on(std::uint16_t listening_port) {
  const std::string list = command({"CLIENT", "LIST"}).str;
  const std::string laddr = "laddr=127.0.0.1:" + std::to_string(listening_port) + " ";
  int count = 0;
  for (std::size_t start = 0; start < list.size();) {
    const auto end = std::min(list.find('\n', start), list.size());
    const std::string_view line(list.data() + start, end - start);
    if (line.find(laddr) != std::string_view::npos &&
        line.find(" name=sentinel-") == std::string_view::npos &&
        line.find(" flags=S ") == std::string_view::npos)
      ++count;
    start = end + 1;
  }
  return count;
}

// ---- RedisSubscriberProbe

RedisSubscriberProbe::RedisSubscriberProbe(std::uint16_t port, std::vector<std::string> channels,
                                           bool patterns, std::chrono::milliseconds timeout)
    : context_(connect(port, timeout)) {
  std::vector<std::string> argv{patterns ? "PSUBSCRIBE" : "SUBSCRIBE"};
  argv.insert(argv.end(), channels.begin(), channels.end());
  append_command(context_, argv);
  int done = 0;
  while (done == 0) {
    if (redisBufferWrite(context_, &done) != REDIS_OK) {
      throw std::runtime_error(std::string("redis subscribe: ") + context_->errstr);
    }
  }
  for (size_t i = 0; i < channels.size(); ++i) {
    std::optional<RedisValue> confirmation = next_reply(timeout);
    if (!confirmation || confirmation->kind != RedisValue::Kind::array) {
      throw std::runtime_error("redis subscribe: no confirmation for " + channels[i]);
    }
  }
}

RedisSubscriberProbe::~RedisSubscriberProbe() {
  if (context_ != nullptr) redisFree(context_);
}

// hiredis's blocking read marks the context dead on a socket timeout, so the
// wait happens in poll() and hiredis only ever reads bytes that are there.
std::optional<RedisValue> RedisSubscriberProbe::next_reply(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    void* raw = nullptr;
    if (redisGetReplyFromReader(context_, &raw) != REDIS_OK) {
      throw std::runtime_error(std::string("redis probe: ") + context_->errstr);
    }
    if (raw != nullptr) return take(raw);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd pfd{context_->fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready == 0) return std::nullopt;
    if (ready < 0) continue;  // EINTR
    if (redisBufferRead(context_) != REDIS_OK) {
      throw std::runtime_error(std::string("redis probe read: ") + context_->errstr);
    }
  }
}

std::optional<PubSubMessage> RedisSubscriberProbe::next(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::optional<RedisValue> reply = next_reply(std::max(left, std::chrono::milliseconds(0)));
    if (!reply) return std::nullopt;
    const auto& e = reply->elements;
    if (reply->kind != RedisValue::Kind::array || e.empty()) continue;
    if (e[0].str == "message" && e.size() == 3) return PubSubMessage{e[1].str, e[2].str};
    if (e[0].str == "pmessage" && e.size() == 4) return PubSubMessage{e[2].str, e[3].str};
    // (un)subscribe confirmations and anything else: not a message.
  }
}

std::optional<std::string> RedisSubscriberProbe::next_message(std::chrono::milliseconds timeout) {
  std::optional<PubSubMessage> m = next(timeout);
  if (!m) return std::nullopt;
  return m->payload;
}

std::optional<std::vector<PubSubMessage>> RedisSubscriberProbe::messages_before(
    const std::string& marker_channel, const std::string& marker_payload,
    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<PubSubMessage> before;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::optional<PubSubMessage> m = next(std::max(left, std::chrono::milliseconds(0)));
    if (!m) return std::nullopt;
    if (m->channel == marker_channel && m->payload == marker_payload) return before;
    before.push_back(std::move(*m));
  }
}

}  // namespace wsrelay::test
