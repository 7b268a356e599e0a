#pragma once
// The service manager's view of the daemon (systemd's Type=notify,
// sd_notify(3)): READY=1 once the listener accepts, RELOADING=1 then READY=1
// around a SIGHUP reload, STOPPING=1 when the drain begins. Each call is a
// no-op when the process was not started with $NOTIFY_SOCKET (not under
// systemd, or not Type=notify), and in a build without libsystemd
// (WSRELAY_SYSTEMD=OFF).
//
// Any thread; each call is one datagram, nothing is kept between calls.
#include <string_view>

namespace wsrelay::service_manager {

// Listening: systemd starts the units ordered after this one. `status` is
// shown by `systemctl status` (e.g. "listening on 127.0.0.1:8080").
void notify_ready(std::string_view status);
// A reload starts; notify_ready() ends it (applied or refused alike).
void notify_reloading();
// Shutdown began: systemd shows "deactivating" from here on.
void notify_stopping(std::string_view status);

}  // namespace wsrelay::service_manager
