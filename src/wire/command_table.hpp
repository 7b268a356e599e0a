#pragma once
// The commands the Redis command channel (docs/command-channel.md) can ever
// run, with where their keys are, and the ones it always refuses. Pure data.
//
// Why a table and not a list of names: key confinement must know exactly
// which arguments are keys. A command whose keys hide in options (SORT's BY
// and GET, GEORADIUS's STORE, ZUNIONSTORE's numkeys, XREAD's STREAMS),
// which blocks, which reaches beyond its keys (scripts, SELECT, MOVE,
// COPY ... DB, MIGRATE, pub/sub) or whose one argument can make Redis
// allocate hundreds of megabytes (SETRANGE and SETBIT offsets, BITFIELD) is
// not in the table, so no configuration can allow it: `command_channel.allowed`
// naming one is refused at start-up.
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace wsrelay {

// Where a command's keys are, counting the arguments after its name from 0.
enum class KeySpec {
  none,       // no key (PING, TIME)
  first,      // argument 0 (GET, SET, HSET, ...)
  all,        // every argument (DEL, EXISTS, MGET, SINTER, PFCOUNT, ...)
  pairs,      // arguments 0, 2, 4, ... (MSET key value key value ...)
  first_two,  // arguments 0 and 1 (RENAME, LMOVE, SMOVE, ...)
};

struct CommandSpec {
  std::string_view name;  // upper case
  int min_args;           // arguments after the name
  int max_args;           // -1: any number
  KeySpec keys;
};

// Whether argument `i` (after the name, from 0) is a key under `spec`.
bool is_key_position(KeySpec spec, std::size_t i);

// Every command the channel can run, in name order.
std::span<const CommandSpec> command_table();
// `upper_name` in upper case; nullptr when the channel can never run it.
const CommandSpec* find_command(std::string_view upper_name);
// True for the commands refused whatever the configuration says, by name
// (SUBSCRIBE, MONITOR, CONFIG, FLUSHALL, KEYS, SCAN, EVAL, BLPOP, ...): they
// get their own error code, so a client (and an operator reading the
// metrics) can tell "not enabled here" from "never".
bool always_refused(std::string_view upper_name);
// The default of command_channel.allowed.
std::span<const std::string_view> default_allowed_commands();

}  // namespace wsrelay
