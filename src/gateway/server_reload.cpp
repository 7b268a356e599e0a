// SIGHUP: reload the configuration without dropping a connection.
//
// The sources read at start are read again and validated as at start. A bad
// result is refused whole (an error line, the failure counter, the running
// configuration untouched): half a configuration is worse than the old one.
// Keys that only take effect at start (listen, threads, redis.*, ...) keep
// their running values, with a warning naming them. The rest become a new
// immutable snapshot, posted to every shard: sessions read their shard's
// snapshot, so open connections follow the new limits at once, and no lock
// is taken on the data path.
#include <wsrelay/gateway/server.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <wsrelay/auth/auth.hpp>
#include <wsrelay/gateway/shard.hpp>
#include <wsrelay/gateway/systemd_notify.hpp>

namespace wsrelay {

void Server::wait_hangup() {
  hangup_->async_wait([this](error_code ec, int) {
    if (ec || shutting_down_) return;
    // systemd (Type=notify) holds `systemctl reload` until READY=1, which
    // is sent whether the new configuration was applied or refused.
    service_manager::notify_reloading();
    reload();
    service_manager::notify_ready("reloaded");
    wait_hangup();
  });
}

void Server::reload() {
  if (!reload_source_) {
    spdlog::warn("SIGHUP: no configuration source to reload");
    return;
  }
  Reload reload;
  try {
    Config loaded = reload_source_();
    // The [auth] settings are kept until restart, but a reload is checked as
    // a start is: the key files the loaded configuration names are read
    // (once) and must hold keys.
    load_auth(loaded);
    reload = plan_reload(*current_, loaded);
  } catch (const ConfigError& e) {
    metrics_.config_reload_failures.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("SIGHUP: configuration rejected, keeping the running one: {}", e.what());
    return;
  } catch (const std::exception& e) {
    metrics_.config_reload_failures.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("SIGHUP: configuration could not be read, keeping the running one: {}", e.what());
    return;
  }
  if (!reload.kept.empty())
    spdlog::warn("SIGHUP: {} cannot change while running; restart to apply (running values kept)",
                 fmt::join(reload.kept, ", "));
  current_ = std::make_shared<const Config>(std::move(reload.config));
  spdlog::set_level(spdlog::level::from_str(current_->log_level));
  for (auto& shard : shards_)
    net::post(shard->context(),
              [s = shard.get(), snapshot = current_] { s->set_config(snapshot); });
  metrics_.config_reloads.fetch_add(1, std::memory_order_relaxed);
  if (reload.changed.empty())
    spdlog::info("SIGHUP: configuration reloaded, nothing changed");
  else
    spdlog::info("SIGHUP: configuration reloaded, changed: {}", fmt::join(reload.changed, ", "));
}

}  // namespace wsrelay
