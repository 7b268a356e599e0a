// sd_notify(3) messages for systemd's Type=notify: see systemd_notify.hpp.
#include <wsrelay/gateway/systemd_notify.hpp>

#include <cstring>
#include <ctime>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#if WSRELAY_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace wsrelay::service_manager {
namespace {

void send(const std::string& state) {
#if WSRELAY_HAVE_SYSTEMD
  // 0: $NOTIFY_SOCKET stays set, so later notices (reload, stop) reach it.
  if (int rc = sd_notify(0, state.c_str()); rc < 0)
    spdlog::warn("sd_notify failed: {}", std::strerror(-rc));
#else
  (void)state;
#endif
}

// A status line is one line: a newline would start another assignment.
std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

}  // namespace

void notify_ready(std::string_view status) {
  send(fmt::format("READY=1\nSTATUS={}", one_line(status)));
}

void notify_reloading() {
  // MONOTONIC_USEC: systemd 253's Type=notify-reload matches the READY=1
  // that ends the reload to this timestamp; older versions ignore it.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const long long usec = static_cast<long long>(now.tv_sec) * 1'000'000 + now.tv_nsec / 1000;
  send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading the configuration", usec));
}

void notify_stopping(std::string_view status) {
  send(fmt::format("STOPPING=1\nSTATUS={}", one_line(status)));
}

}  // namespace wsrelay::service_manager
