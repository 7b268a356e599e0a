#include <wsrelay/backend/engine.hpp>

#include <wsrelay/backend/memory_engine.hpp>
#include <wsrelay/backend/redis_engine.hpp>
#include <wsrelay/config/config.hpp>

namespace wsrelay {

std::unique_ptr<Engine> make_engine(const Config& config, net::any_io_executor control,
                                    Metrics& metrics) {
  if (!config.redis)
    return std::make_unique<MemoryEngine>(std::move(control), metrics,
                                          config.redis_max_message_bytes);
  return std::make_unique<RedisEngine>(config, std::move(control), metrics);
}

}  // namespace wsrelay
