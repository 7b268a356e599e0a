#pragma once
// wsrelay-publish: publish a message to browsers connected to wsrelay, or
// print a channel's stored last message, from a shell (docs/publishing.md).
// The whole program but main(), so tests can run it on streams.
#include <iosfwd>
#include <map>
#include <string>

namespace wsrelay::publish_exit {

inline constexpr int ok = 0;
inline constexpr int nothing_stored = 1;  // --fetch: no stored message on that channel
inline constexpr int usage = 2;           // bad flags, facility, audience or Redis URL
inline constexpr int redis = 3;           // Redis cannot be reached, or answered with an error

}  // namespace wsrelay::publish_exit

namespace wsrelay {

// Runs the program: `in` is read when no message is given, `out` gets
// --fetch's message (exactly its bytes) and --help, `err` every diagnostic.
// `env` supplies WSRELAY_REDIS_URL and WSRELAY_PREFIX (the daemon's names).
// Returns the exit code.
int publish_main(int argc, const char* const* argv, std::istream& in, std::ostream& out,
                 std::ostream& err, const std::map<std::string, std::string>& env);

}  // namespace wsrelay
