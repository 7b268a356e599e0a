#include <wsrelay/wire/command_table.hpp>

#include <algorithm>
#include <array>

namespace wsrelay {
namespace {

using K = KeySpec;
constexpr int any = -1;

// Sorted by name (find_command searches it); a unit test checks the order.
constexpr std::array kCommands{
    CommandSpec{"APPEND", 2, 2, K::first},
    CommandSpec{"DECR", 1, 1, K::first},
    CommandSpec{"DECRBY", 2, 2, K::first},
    CommandSpec{"DEL", 1, any, K::all},
    CommandSpec{"EXISTS", 1, any, K::all},
    CommandSpec{"EXPIRE", 2, 3, K::first},
    CommandSpec{"EXPIREAT", 2, 3, K::first},
    CommandSpec{"GET", 1, 1, K::first},
    CommandSpec{"GETDEL", 1, 1, K::first},
    CommandSpec{"GETEX", 1, 3, K::first},
    CommandSpec{"GETRANGE", 3, 3, K::first},
    CommandSpec{"GETSET", 2, 2, K::first},
    CommandSpec{"HDEL", 2, any, K::first},
    CommandSpec{"HEXISTS", 2, 2, K::first},
    CommandSpec{"HGET", 2, 2, K::first},
    CommandSpec{"HGETALL", 1, 1, K::first},
    CommandSpec{"HINCRBY", 3, 3, K::first},
    CommandSpec{"HINCRBYFLOAT", 3, 3, K::first},
    CommandSpec{"HKEYS", 1, 1, K::first},
    CommandSpec{"HLEN", 1, 1, K::first},
    CommandSpec{"HMGET", 2, any, K::first},
    CommandSpec{"HMSET", 3, any, K::first},
    CommandSpec{"HSET", 3, any, K::first},
    CommandSpec{"HSETNX", 3, 3, K::first},
    CommandSpec{"HSTRLEN", 2, 2, K::first},
    CommandSpec{"HVALS", 1, 1, K::first},
    CommandSpec{"INCR", 1, 1, K::first},
    CommandSpec{"INCRBY", 2, 2, K::first},
    CommandSpec{"INCRBYFLOAT", 2, 2, K::first},
    CommandSpec{"LINDEX", 2, 2, K::first},
    CommandSpec{"LINSERT", 4, 4, K::first},
    CommandSpec{"LLEN", 1, 1, K::first},
    CommandSpec{"LMOVE", 4, 4, K::first_two},
    CommandSpec{"LPOP", 1, 2, K::first},
    CommandSpec{"LPOS", 2, 8, K::first},
    CommandSpec{"LPUSH", 2, any, K::first},
    CommandSpec{"LPUSHX", 2, any, K::first},
    CommandSpec{"LRANGE", 3, 3, K::first},
    CommandSpec{"LREM", 3, 3, K::first},
    CommandSpec{"LSET", 3, 3, K::first},
    CommandSpec{"LTRIM", 3, 3, K::first},
    CommandSpec{"MGET", 1, any, K::all},
    CommandSpec{"MSET", 2, any, K::pairs},
    CommandSpec{"MSETNX", 2, any, K::pairs},
    CommandSpec{"PERSIST", 1, 1, K::first},
    CommandSpec{"PEXPIRE", 2, 3, K::first},
    CommandSpec{"PEXPIREAT", 2, 3, K::first},
    CommandSpec{"PFADD", 1, any, K::first},
    CommandSpec{"PFCOUNT", 1, any, K::all},
    CommandSpec{"PFMERGE", 1, any, K::all},
    CommandSpec{"PING", 0, 1, K::none},
    CommandSpec{"PSETEX", 3, 3, K::first},
    CommandSpec{"PTTL", 1, 1, K::first},
    CommandSpec{"RENAME", 2, 2, K::first_two},
    CommandSpec{"RENAMENX", 2, 2, K::first_two},
    CommandSpec{"RPOP", 1, 2, K::first},
    CommandSpec{"RPOPLPUSH", 2, 2, K::first_two},
    CommandSpec{"RPUSH", 2, any, K::first},
    CommandSpec{"RPUSHX", 2, any, K::first},
    CommandSpec{"SADD", 2, any, K::first},
    CommandSpec{"SCARD", 1, 1, K::first},
    CommandSpec{"SDIFF", 1, any, K::all},
    CommandSpec{"SDIFFSTORE", 2, any, K::all},
    CommandSpec{"SET", 2, 6, K::first},
    CommandSpec{"SETEX", 3, 3, K::first},
    CommandSpec{"SETNX", 2, 2, K::first},
    CommandSpec{"SINTER", 1, any, K::all},
    CommandSpec{"SINTERSTORE", 2, any, K::all},
    CommandSpec{"SISMEMBER", 2, 2, K::first},
    CommandSpec{"SMEMBERS", 1, 1, K::first},
    CommandSpec{"SMISMEMBER", 2, any, K::first},
    CommandSpec{"SMOVE", 3, 3, K::first_two},
    CommandSpec{"SPOP", 1, 2, K::first},
    CommandSpec{"SRANDMEMBER", 1, 2, K::first},
    CommandSpec{"SREM", 2, any, K::first},
    CommandSpec{"STRLEN", 1, 1, K::first},
    CommandSpec{"SUNION", 1, any, K::all},
    CommandSpec{"SUNIONSTORE", 2, any, K::all},
    CommandSpec{"TIME", 0, 0, K::none},
    CommandSpec{"TOUCH", 1, any, K::all},
    CommandSpec{"TTL", 1, 1, K::first},
    CommandSpec{"TYPE", 1, 1, K::first},
    CommandSpec{"UNLINK", 1, any, K::all},
    CommandSpec{"XADD", 3, any, K::first},
    CommandSpec{"XDEL", 2, any, K::first},
    CommandSpec{"XLEN", 1, 1, K::first},
    CommandSpec{"XRANGE", 3, 5, K::first},
    CommandSpec{"XREVRANGE", 3, 5, K::first},
    CommandSpec{"XTRIM", 3, 6, K::first},
    CommandSpec{"ZADD", 3, any, K::first},
    CommandSpec{"ZCARD", 1, 1, K::first},
    CommandSpec{"ZCOUNT", 3, 3, K::first},
    CommandSpec{"ZINCRBY", 3, 3, K::first},
    CommandSpec{"ZLEXCOUNT", 3, 3, K::first},
    CommandSpec{"ZMSCORE", 2, any, K::first},
    CommandSpec{"ZPOPMAX", 1, 2, K::first},
    CommandSpec{"ZPOPMIN", 1, 2, K::first},
    CommandSpec{"ZRANGE", 3, 9, K::first},
    CommandSpec{"ZRANGEBYLEX", 3, 6, K::first},
    CommandSpec{"ZRANGEBYSCORE", 3, 7, K::first},
    CommandSpec{"ZRANK", 2, 3, K::first},
    CommandSpec{"ZREM", 2, any, K::first},
    CommandSpec{"ZREMRANGEBYRANK", 3, 3, K::first},
    CommandSpec{"ZREMRANGEBYSCORE", 3, 3, K::first},
    CommandSpec{"ZREVRANGE", 3, 4, K::first},
    CommandSpec{"ZREVRANGEBYSCORE", 3, 7, K::first},
    CommandSpec{"ZREVRANK", 2, 3, K::first},
    CommandSpec{"ZSCORE", 2, 2, K::first},
};

// Refused by name whatever the configuration says. Not exhaustive (what is
// not in kCommands can never run anyway); these are the ones a client
// trying to escape would reach for first, and an operator might be tempted
// to list in `allowed`.
constexpr auto kAlwaysRefused = std::to_array<std::string_view>({
    "ACL",
    "AUTH",
    "BGREWRITEAOF",
    "BGSAVE",
    "BITFIELD",
    "BITOP",
    "BLMOVE",
    "BLMPOP",
    "BLPOP",
    "BRPOP",
    "BRPOPLPUSH",
    "BZMPOP",
    "BZPOPMAX",
    "BZPOPMIN",
    "CLIENT",
    "CLUSTER",
    "COMMAND",
    "CONFIG",
    "COPY",
    "DBSIZE",
    "DEBUG",
    "DISCARD",
    "DUMP",
    "EVAL",
    "EVALSHA",
    "EVALSHA_RO",
    "EVAL_RO",
    "EXEC",
    "FAILOVER",
    "FCALL",
    "FCALL_RO",
    "FLUSHALL",
    "FLUSHDB",
    "FUNCTION",
    "GEORADIUS",
    "GEORADIUSBYMEMBER",
    "GEOSEARCHSTORE",
    "HELLO",
    "HSCAN",
    "INFO",
    "KEYS",
    "LASTSAVE",
    "LATENCY",
    "LMPOP",
    "LOLWUT",
    "MEMORY",
    "MIGRATE",
    "MODULE",
    "MONITOR",
    "MOVE",
    "MULTI",
    "OBJECT",
    "PSUBSCRIBE",
    "PSYNC",
    "PUBLISH",
    "PUBSUB",
    "PUNSUBSCRIBE",
    "QUIT",
    "RANDOMKEY",
    "READONLY",
    "READWRITE",
    "REPLCONF",
    "REPLICAOF",
    "RESET",
    "RESTORE",
    "ROLE",
    "SAVE",
    "SCAN",
    "SCRIPT",
    "SELECT",
    "SETBIT",
    "SETRANGE",
    "SHUTDOWN",
    "SINTERCARD",
    "SLAVEOF",
    "SLOWLOG",
    "SORT",
    "SORT_RO",
    "SPUBLISH",
    "SSCAN",
    "SSUBSCRIBE",
    "SUBSCRIBE",
    "SUNSUBSCRIBE",
    "SWAPDB",
    "SYNC",
    "UNSUBSCRIBE",
    "UNWATCH",
    "WAIT",
    "WATCH",
    "XREAD",
    "XREADGROUP",
    "ZDIFFSTORE",
    "ZINTERSTORE",
    "ZMPOP",
    "ZRANGESTORE",
    "ZSCAN",
    "ZUNIONSTORE",
});

constexpr std::array<std::string_view, 19> kDefaultAllowed{
    "GET",  "SET",  "DEL",  "EXISTS", "INCR",    "INCRBY",  "DECR",  "DECRBY", "EXPIRE", "TTL",
    "MGET", "HGET", "HSET", "HDEL",   "HGETALL", "HINCRBY", "LPUSH", "LRANGE", "LLEN",
};

}  // namespace

bool is_key_position(KeySpec spec, std::size_t i) {
  switch (spec) {
    case KeySpec::none:
      return false;
    case KeySpec::first:
      return i == 0;
    case KeySpec::all:
      return true;
    case KeySpec::pairs:
      return i % 2 == 0;
    case KeySpec::first_two:
      return i < 2;
  }
  return false;
}

std::span<const CommandSpec> command_table() {
  return kCommands;
}

const CommandSpec* find_command(std::string_view upper_name) {
  const auto it = std::lower_bound(
      kCommands.begin(), kCommands.end(), upper_name,
      [](const CommandSpec& spec, std::string_view name) { return spec.name < name; });
  if (it == kCommands.end() || it->name != upper_name) return nullptr;
  return &*it;
}

bool always_refused(std::string_view upper_name) {
  return std::find(kAlwaysRefused.begin(), kAlwaysRefused.end(), upper_name) !=
         kAlwaysRefused.end();
}

std::span<const std::string_view> default_allowed_commands() {
  return kDefaultAllowed;
}

}  // namespace wsrelay
