#pragma once
// TLS to Redis (rediss:// URLs): the one client context the engine's
// connections share, built from the [redis] tls_* settings when the engine
// is built, so certificate and key files are read once.
#include <memory>

#include <wsrelay/config/redis_settings.hpp>

namespace boost::asio::ssl {
class context;
}

namespace wsrelay {

// Null without a rediss:// URL. Throws std::runtime_error naming the setting
// whose file could not be loaded.
std::shared_ptr<boost::asio::ssl::context> make_redis_tls_context(const RedisSettings& settings);

}  // namespace wsrelay
