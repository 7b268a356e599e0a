#pragma once
// File descriptors: the process's limit, and what the listener does once it
// has none left.
//
// Why: every client is one descriptor. systemd starts services with a soft
// RLIMIT_NOFILE of 1024 (and a hard one of 524288), so a gateway that keeps
// the soft limit stops near 1000 clients. And at the limit accept() fails
// with EMFILE while the connection stays in the kernel's queue: the client
// hangs until it gives up, and a listener that simply retries logs the same
// failure many times a second.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wsrelay {

struct DescriptorLimit {
  std::uint64_t soft_before = 0;  // the soft limit the process started with
  std::uint64_t soft = 0;         // the soft limit now
  std::uint64_t hard = 0;
};

// Raises the soft RLIMIT_NOFILE to the hard one (or to fs.nr_open when the
// hard one is unlimited). Leaves it as it is when that fails.
DescriptorLimit raise_descriptor_limit();

// Descriptors the daemon keeps for itself beside its clients: event loops,
// Redis, the listener, the reserve, the callback's connections, the log.
constexpr std::uint64_t descriptors_kept = 64;

// Pure: the warning to log when `connections` (the most client connections
// the configuration allows at once) cannot all get a descriptor under
// `limit`; "" when they can.
std::string descriptor_limit_warning(const DescriptorLimit& limit, std::size_t connections);

// A descriptor held in reserve for the moment there is none left: it is
// given up to accept one waiting connection, which is answered at once (503,
// or 200 for a /healthz probe, so a supervisor does not restart a gateway
// that still serves its clients) and closed, and is then taken back.
// Used on the listener's thread only.
class DescriptorReserve {
 public:
  DescriptorReserve();  // opens /dev/null
  ~DescriptorReserve();
  DescriptorReserve(const DescriptorReserve&) = delete;
  DescriptorReserve& operator=(const DescriptorReserve&) = delete;

  enum class Outcome { refused, none_waiting, failed };
  // Accepts and answers one connection waiting on `listener` (a
  // non-blocking listening socket). `failed`: the reserve was gone (another
  // thread took the freed descriptor) or accept failed otherwise.
  Outcome refuse_one(int listener);

 private:
  int fd_ = -1;
};

// Answers a connection that will not be served, without waiting for
// anything, and closes `fd`: `status` (503, 429) with `reason` as the body,
// or 200 "ok" when what the client already sent is a /healthz probe (the
// process still serves its clients). What arrived is read first (up to
// 64 KiB), so the close does not reset the connection under the answer.
void refuse_connection(int fd, int status, std::string_view reason);

}  // namespace wsrelay
