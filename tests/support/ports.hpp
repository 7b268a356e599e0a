#pragma once
// A TCP port on 127.0.0.1 that was free a moment ago: bind port 0, read the
// port the kernel chose, close. Another process may take it before the caller
// binds it, so callers that bind it in a child (redis-server) retry once.
#include <cstdint>

namespace wsrelay::test {

std::uint16_t free_port();

}  // namespace wsrelay::test
