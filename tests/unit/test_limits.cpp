// The pure parts of the slow-consumer and rate limits: policy rules and
// their glob matching, the token bucket, and what a SIGHUP reload applies.
#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include <wsrelay/config/config.hpp>

#include <wsrelay/wire/facility_pattern.hpp>
#include <wsrelay/wire/slow_consumer.hpp>
#include <wsrelay/wire/token_bucket.hpp>
#include "config_error.hpp"

using namespace wsrelay;
using wsrelay::test::error_of;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::string rule_error(std::string_view text) {
  std::string error;
  if (parse_slow_consumer_rule(text, error)) return "<parsed>";
  return error;
}

}  // namespace

TEST_CASE("facility patterns: * and ? over a facility, anchored at both ends", "[limits]") {
  CHECK(facility_matches("prices", "prices"));
  CHECK_FALSE(facility_matches("prices", "prices2"));
  CHECK_FALSE(facility_matches("prices", "xprices"));
  CHECK(facility_matches("prices*", "prices"));
  CHECK(facility_matches("prices*", "prices.eur"));
  CHECK_FALSE(facility_matches("prices*", "oldprices"));
  CHECK(facility_matches("*", ""));
  CHECK(facility_matches("*", "anything"));
  CHECK(facility_matches("ticker.*", "ticker.btc"));
  CHECK_FALSE(facility_matches("ticker.*", "ticker"));
  CHECK(facility_matches("*.live", "scores.live"));
  CHECK_FALSE(facility_matches("*.live", "scores.live2"));
  CHECK(facility_matches("a*b*c", "a-x-b-y-c"));
  CHECK(facility_matches("a*b*c", "abbbc"));
  CHECK_FALSE(facility_matches("a*b*c", "a-x-c-y-b"));
  CHECK(facility_matches("room-?", "room-7"));
  CHECK_FALSE(facility_matches("room-?", "room-"));
  CHECK_FALSE(facility_matches("room-?", "room-77"));
  CHECK(facility_matches("**x**", "x"));
  // Backtracking past a partial match.
  CHECK(facility_matches("*ab", "aab"));
  CHECK(facility_matches("*aab", "aaab"));
  // No pathological blow-up on many stars.
  CHECK_FALSE(facility_matches("*a*a*a*a*a*a*a*a*b", std::string(128, 'a')));
}

TEST_CASE("slow consumer rules: GLOB=POLICY, first match wins, default close", "[limits]") {
  std::string error;
  auto rule = parse_slow_consumer_rule("prices*=keep-latest", error);
  REQUIRE(rule);
  CHECK(rule->glob == "prices*");
  CHECK(rule->policy == SlowConsumerPolicy::keep_latest);
  rule = parse_slow_consumer_rule(" ticker.* = drop-oldest ", error);
  REQUIRE(rule);
  CHECK(rule->glob == "ticker.*");
  CHECK(rule->policy == SlowConsumerPolicy::drop_oldest);
  rule = parse_slow_consumer_rule("audit=close", error);
  REQUIRE(rule);
  CHECK(rule->policy == SlowConsumerPolicy::close);

  const std::vector<SlowConsumerRule> rules{
      {"prices.audit", SlowConsumerPolicy::close},
      {"prices*", SlowConsumerPolicy::keep_latest},
      {"*", SlowConsumerPolicy::drop_oldest},
  };
  CHECK(policy_for(rules, "prices.audit") == SlowConsumerPolicy::close);
  CHECK(policy_for(rules, "prices.eur") == SlowConsumerPolicy::keep_latest);
  CHECK(policy_for(rules, "chat") == SlowConsumerPolicy::drop_oldest);
  CHECK(policy_for({}, "chat") == SlowConsumerPolicy::close);
  CHECK(to_string(SlowConsumerPolicy::keep_latest) == "keep-latest");
  CHECK(to_string(SlowConsumerPolicy::drop_oldest) == "drop-oldest");
  CHECK(to_string(SlowConsumerPolicy::close) == "close");
}

TEST_CASE("slow consumer rules: bad rules say what is wrong", "[limits]") {
  CHECK_THAT(rule_error("prices*"), Contains("expected FACILITY_GLOB=POLICY"));
  CHECK_THAT(rule_error("a=b=c"), Contains("expected FACILITY_GLOB=POLICY"));
  CHECK_THAT(rule_error("=close"), Contains("the glob must be facility characters"));
  CHECK_THAT(rule_error("prices:eur=close"), Contains("the glob must be facility characters"));
  CHECK_THAT(rule_error("[ab]=close"), Contains("the glob must be facility characters"));
  CHECK(rule_error("prices=fast") ==
        "\"prices=fast\": policy must be close, drop-oldest or keep-latest, got \"fast\"");
  CHECK_THAT(rule_error("prices=Keep-Latest"), Contains("policy must be"));
  CHECK_THAT(rule_error("prices="), Contains("policy must be"));
}

TEST_CASE("slow consumer policies in the configuration", "[limits][config]") {
  Config c = parse_config_toml(
      "[websocket]\nslow_consumer_policies = [\"prices*=keep-latest\", \"ticker.*=drop-oldest\"]\n",
      "wsrelay.toml");
  validate(c);
  REQUIRE(c.slow_consumer_rules.size() == 2);
  CHECK(c.slow_consumer_rules[0] == SlowConsumerRule{"prices*", SlowConsumerPolicy::keep_latest});
  CHECK(c.slow_consumer_rules[1] == SlowConsumerRule{"ticker.*", SlowConsumerPolicy::drop_oldest});

  Config from_env;
  apply_environment(from_env,
                    {{"WSRELAY_SLOW_CONSUMER_POLICIES", "prices*=keep-latest,chat=drop-oldest"}});
  validate(from_env);
  CHECK(from_env.slow_consumer_rules.size() == 2);

  CHECK(error_of([] {
          parse_config_toml("[websocket]\nslow_consumer_policies = [\"prices*=fast\"]\n",
                            "wsrelay.toml");
        }) ==
        "wsrelay.toml:2: websocket.slow_consumer_policies: \"prices*=fast\": policy must be "
        "close, drop-oldest or keep-latest, got \"fast\"");
  CHECK_THAT(
      error_of([] {
        Config e;
        apply_environment(e, {{"WSRELAY_SLOW_CONSUMER_POLICIES", "prices"}});
      }),
      StartsWith("WSRELAY_SLOW_CONSUMER_POLICIES: \"prices\": expected FACILITY_GLOB=POLICY"));
  CHECK_THAT(error_of([] {
               Config e;
               set_config_value(e, "websocket.slow_consumer_policies", "p*=close,x y=close",
                                "--set websocket.slow_consumer_policies");
             }),
             StartsWith("--set websocket.slow_consumer_policies: \"x y=close\": the glob"));
}

TEST_CASE("soft and rate limits: defaults and validation", "[limits][config]") {
  Config c;
  validate(c);
  CHECK(c.soft_queue_bytes == 256 * 1024);
  CHECK(c.soft_queue_seconds == 10);
  CHECK(c.publish_rate == 100);
  CHECK(c.publish_burst == 200);
  CHECK(c.send_buffer_bytes == 0);

  Config soft_over_hard;
  soft_over_hard.max_queue_bytes = 65536;
  CHECK(error_of([&] { validate(soft_over_hard); }) ==
        "websocket.soft_queue_bytes: must not exceed websocket.max_queue_bytes (65536), got "
        "262144");
  soft_over_hard.soft_queue_bytes = 0;  // off
  CHECK(error_of([&] { validate(soft_over_hard); }) == "<no ConfigError>");

  CHECK(error_of([] {
          Config e;
          set_config_value(e, "websocket.soft_queue_seconds", "0");
        }) == "websocket.soft_queue_seconds: must be between 1 and 3600, got 0");
  CHECK(error_of([] {
          Config e;
          set_config_value(e, "websocket.publish_burst", "0", "WSRELAY_PUBLISH_BURST");
        }) == "WSRELAY_PUBLISH_BURST: must be between 1 and 1000000, got 0");
  CHECK(error_of([] {
          Config e;
          set_config_value(e, "websocket.publish_rate", "-1");
        }) == "websocket.publish_rate: must be between 0 and 1000000, got -1");
}

TEST_CASE("token bucket: a burst, then the rate", "[limits]") {
  TokenBucket bucket;
  const auto t0 = TokenBucket::clock::time_point{} + 1h;
  for (int i = 0; i < 5; ++i) CHECK(bucket.take(t0, 10, 5));
  CHECK_FALSE(bucket.take(t0, 10, 5));
  // 10 per second: one token every 100 ms.
  CHECK_FALSE(bucket.take(t0 + 50ms, 10, 5));
  CHECK(bucket.take(t0 + 100ms, 10, 5));
  CHECK_FALSE(bucket.take(t0 + 150ms, 10, 5));
  // A long pause refills up to the burst, never beyond.
  for (int i = 0; i < 5; ++i) CHECK(bucket.take(t0 + 60s, 10, 5));
  CHECK_FALSE(bucket.take(t0 + 60s, 10, 5));
  // A lower burst (a reload) applies at once to the tokens already held.
  const auto t1 = t0 + 120s;
  CHECK(bucket.take(t1, 10, 2));
  CHECK(bucket.take(t1, 10, 2));
  CHECK_FALSE(bucket.take(t1, 10, 2));
  // Time going backwards (it does not, but) never mints tokens.
  CHECK_FALSE(bucket.take(t1 - 10s, 10, 2));
}

TEST_CASE("token bucket: steady sending at the rate is never refused", "[limits]") {
  TokenBucket bucket;
  auto t = TokenBucket::clock::time_point{} + 1h;
  for (int i = 0; i < 10000; ++i) {
    REQUIRE(bucket.take(t, 100, 1));
    t += 10ms;
  }
}

TEST_CASE("plan_reload applies run-time keys and keeps the others", "[limits][config]") {
  Config running;
  running.redis_url = "redis://127.0.0.1:7000";
  validate(running);
  Config loaded = running;
  loaded.max_message_bytes = 1000;
  loaded.log_level = "debug";
  loaded.slow_consumer_policies = {"prices*=keep-latest"};
  loaded.listen = "127.0.0.1:9999";
  loaded.redis_url = "redis://127.0.0.1:7001";
  loaded.threads = 3;
  validate(loaded);

  const Reload reload = plan_reload(running, loaded);
  CHECK(reload.config.max_message_bytes == 1000);
  CHECK(reload.config.log_level == "debug");
  REQUIRE(reload.config.slow_consumer_rules.size() == 1);
  CHECK(reload.config.listen == "127.0.0.1:8080");
  CHECK(reload.config.listen_port == 8080);
  CHECK(reload.config.redis_url == "redis://127.0.0.1:7000");
  REQUIRE(reload.config.redis);
  CHECK(reload.config.redis->port == 7000);
  CHECK(reload.config.threads == 0);
  CHECK(reload.changed == std::vector<std::string>{"websocket.max_message_bytes",
                                                   "websocket.slow_consumer_policies",
                                                   "log.level"});
  CHECK(reload.kept == std::vector<std::string>{"server.listen", "server.threads", "redis.url"});

  const Reload same = plan_reload(running, running);
  CHECK(same.changed.empty());
  CHECK(same.kept.empty());
  CHECK(same.config == running);
}
