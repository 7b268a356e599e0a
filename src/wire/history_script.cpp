// The two Lua scripts of history and the argv that runs them. Apart from
// history.cpp because the SHA-1 for EVALSHA links Beast's SHA-1, which the
// configuration layer (history rules only) must not pull in.
#include <wsrelay/wire/history.hpp>

#include <algorithm>

#include <fmt/format.h>
#include <boost/beast/core/detail/sha1.hpp>

namespace wsrelay {
namespace {

// Ids come from one clock for every channel: the later of Redis's TIME, the
// clock key and the stream's top entry, so they only grow, even when the
// host's clock steps back or the clock key was lost. Each entry records its
// predecessor in the same stream (`p`), which is how a resume tells a
// trimmed gap from none.
constexpr std::string_view kPublishScript = R"lua(
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seq = 0
local function after(text)
  local a, b = string.match(text, '^(%d+)-(%d+)$')
  if not a then return end
  a = tonumber(a) b = tonumber(b)
  if a > ms or (a == ms and b >= seq) then ms = a seq = b + 1 end
end
local last = redis.call('GET', KEYS[2])
if last then after(last) end
local prev = ''
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #top > 0 then prev = top[1][1] after(prev) end
local id = string.format('%.0f-%.0f', ms, seq)
redis.call('SET', KEYS[2], id)
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], id, 'd', ARGV[1], 'p', prev)
redis.call('EXPIRE', KEYS[1], ARGV[3])
if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[4]) end
return redis.call('PUBLISH', KEYS[3], ARGV[5] .. id .. ' ' .. ARGV[1])
)lua";

// One script for every channel of a connection: the streams are read at one
// instant, so every live message with an id at or below the clock read here
// is in the reply (or older than `since`), and every later one comes live.
constexpr std::string_view kReadScript = R"lua(
local t = redis.call('TIME')
local out = {redis.call('GET', KEYS[#KEYS]) or '',
             string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))}
for i = 1, #KEYS - 1 do
  local r
  if ARGV[1] == '' then
    r = redis.call('XREVRANGE', KEYS[i], '+', '-', 'COUNT', 1)
  else
    r = redis.call('XRANGE', KEYS[i], '(' .. ARGV[1], '+', 'COUNT', tonumber(ARGV[2]) + 1)
  end
  out[#out + 1] = {redis.call('EXISTS', KEYS[i]), r}
end
return out
)lua";

std::string sha1_hex(std::string_view text) {
  namespace detail = boost::beast::detail;
  detail::sha1_context context;
  detail::init(context);
  detail::update(context, text.data(), text.size());
  unsigned char digest[detail::sha1_context::digest_size];
  detail::finish(context, digest);
  std::string hex;
  for (unsigned char byte : digest) hex += fmt::format("{:02x}", byte);
  return hex;
}

}  // namespace

std::string_view history_publish_script() {
  return kPublishScript;
}
std::string_view history_read_script() {
  return kReadScript;
}
const std::string& history_publish_sha() {
  static const std::string sha = sha1_hex(kPublishScript);
  return sha;
}
const std::string& history_read_sha() {
  static const std::string sha = sha1_hex(kReadScript);
  return sha;
}

std::vector<std::string> history_publish_args(bool by_sha, std::string_view prefix,
                                              const std::string& channel, std::string_view message,
                                              const HistoryRule& rule, int expire_seconds) {
  return {by_sha ? "EVALSHA" : "EVAL",
          by_sha ? history_publish_sha() : std::string(history_publish_script()),
          "3",
          history_stream_key(prefix, channel),
          history_clock_key(prefix),
          channel,
          std::string(message),
          std::to_string(rule.entries),
          std::to_string(rule.ttl_seconds),
          std::to_string(std::max(expire_seconds, 0)),
          std::string(history_marker)};
}

std::vector<std::string> history_read_args(bool by_sha, std::string_view prefix,
                                           const std::vector<std::string>& channels,
                                           std::optional<StreamId> since, std::size_t limit) {
  std::vector<std::string> args{by_sha ? "EVALSHA" : "EVAL",
                                by_sha ? history_read_sha() : std::string(history_read_script()),
                                std::to_string(channels.size() + 1)};
  for (const std::string& channel : channels) args.push_back(history_stream_key(prefix, channel));
  args.push_back(history_clock_key(prefix));
  args.push_back(since ? to_string(*since) : std::string());
  args.push_back(std::to_string(limit));
  return args;
}

}  // namespace wsrelay
