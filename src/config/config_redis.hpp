#pragma once
// The rules of the backend's settings (redis_settings.hpp: the [redis]
// table), beside the Redis URL parser. As config_gateway.hpp: check_*
// return a reason, validate_redis() throws ConfigError and fills the
// derived endpoint.
#include <string>
#include <string_view>

namespace wsrelay {

struct Config;

std::string check_redis_url(const Config& c);
std::string check_prefix(const Config& c);
void validate_redis(Config& config);
// redis.sentinel_password in --check-config: redacted when set, left empty
// when not (so the output still loads with a URL that is not Sentinel's).
std::string redact_if_set(std::string_view value);
// [history]: each rule parses; history needs Redis (the memory engine keeps
// none) and is not offered on a routed facility (its channels are the
// application's own, published to with a plain PUBLISH).
std::string check_history_facilities(const Config& c);
void validate_history(Config& config);
// redis.sharded: no pattern route (sharded pub/sub has no pattern
// subscribe); after validate_routes. The URL check is validate_redis's.
void validate_sharded(const Config& config);

}  // namespace wsrelay
