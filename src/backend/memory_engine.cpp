#include <wsrelay/backend/memory_engine.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <spdlog/spdlog.h>

#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/wire/routes.hpp>

namespace wsrelay {

// Shared with every posted task, which checks `stopped` before calling out:
// the engine may be stopped or destroyed while tasks are still queued.
class MemoryEngine::State {
 public:
  using clock = std::chrono::steady_clock;

  State(net::any_io_executor executor, Metrics& metrics, std::size_t max_message_bytes)
      : executor(std::move(executor)), metrics(metrics), max_message_bytes(max_message_bytes) {}

  struct Stored {
    std::string payload;
    clock::time_point expires;
  };

  // Expired entries are dropped when read, and all at once whenever the
  // store has doubled since the last sweep, so a stream of publishes on
  // ever new channels cannot grow it without bound. Amortised O(1).
  void store(const std::string& channel, std::string_view payload, int expire_seconds) {
    const auto now = clock::now();
    stored[channel] = Stored{std::string(payload), now + std::chrono::seconds(expire_seconds)};
    if (stored.size() < sweep_at) return;
    std::erase_if(stored, [now](const auto& entry) { return entry.second.expires <= now; });
    sweep_at = std::max<std::size_t>(kMinSweep, stored.size() * 2);
  }

  std::optional<std::string> load(const std::string& key) {
    auto it = stored.find(key);
    if (it == stored.end()) return std::nullopt;
    if (it->second.expires <= clock::now()) {
      stored.erase(it);
      return std::nullopt;
    }
    return it->second.payload;
  }

  static constexpr std::size_t kMinSweep = 1024;

  net::any_io_executor executor;
  Metrics& metrics;
  std::size_t max_message_bytes;
  EngineHandlers handlers;
  bool started = false;
  bool stopped = false;
  std::unordered_set<std::string> channels;  // subscription keys: channels and patterns
  std::unordered_set<std::string> patterns;  // the pattern keys among them
  std::unordered_map<std::string, Stored> stored;
  std::size_t sweep_at = kMinSweep;
};

MemoryEngine::MemoryEngine(net::any_io_executor control, Metrics& metrics,
                           std::size_t max_message_bytes)
    : state_(std::make_shared<State>(std::move(control), metrics, max_message_bytes)) {
  spdlog::warn("engine: memory (no redis_url configured; messages stay inside this process)");
}

MemoryEngine::~MemoryEngine() {
  stop();
}

void MemoryEngine::start(EngineHandlers handlers) {
  if (state_->started || state_->stopped) return;
  state_->started = true;
  state_->handlers = std::move(handlers);
  net::post(state_->executor, [state = state_] {
    if (!state->stopped && state->handlers.on_link) state->handlers.on_link(true);
  });
}

void MemoryEngine::stop() {
  state_->stopped = true;
  state_->channels.clear();
  state_->patterns.clear();
}

void MemoryEngine::subscribe(const std::vector<std::string>& channels) {
  if (state_->stopped) return;
  for (const auto& channel : channels) {
    state_->channels.insert(channel);
    if (is_pattern_key(channel)) state_->patterns.insert(channel);
    net::post(state_->executor, [state = state_, channel] {
      if (state->stopped || !state->channels.contains(channel)) return;
      if (state->handlers.on_subscribed) state->handlers.on_subscribed(channel);
    });
  }
}

void MemoryEngine::unsubscribe(const std::vector<std::string>& channels) {
  if (state_->stopped) return;
  for (const auto& channel : channels) {
    state_->channels.erase(channel);
    state_->patterns.erase(channel);
  }
}

// Delivered once per subscription key it matches, as Redis sends a
// `message` for the channel and a `pmessage` for each matching pattern.
void MemoryEngine::publish(const std::string& channel, std::string_view payload, int expire_seconds,
                           PublishRefused) {
  if (state_->stopped) return;
  if (expire_seconds > 0) state_->store(channel, payload, expire_seconds);
  std::vector<std::string> keys;
  if (state_->channels.contains(channel)) keys.push_back(channel);
  for (const auto& key : state_->patterns)
    if (glob_match(pattern_of(key), channel)) keys.push_back(key);
  for (auto& key : keys) deliver(std::move(key), payload);
}

// The memory engine keeps no history: the configuration refuses
// history.facilities without redis.url, so these only keep the interface
// whole (a publish is a plain one, a read finds nothing).
void MemoryEngine::publish_history(const std::string& channel, std::string_view payload,
                                   int expire_seconds, const HistoryRule&, PublishRefused refused) {
  publish(channel, payload, expire_seconds, std::move(refused));
}

void MemoryEngine::read_history(const std::vector<std::string>&, std::optional<StreamId>,
                                std::size_t, HistoryCallback callback) {
  if (state_->stopped) return;
  net::post(state_->executor, [state = state_, callback = std::move(callback)] {
    if (!state->stopped) callback(std::nullopt);
  });
}

void MemoryEngine::deliver(std::string key, std::string_view payload) {
  if (payload.size() > state_->max_message_bytes) {
    net::post(state_->executor, [state = state_, key = std::move(key), size = payload.size()] {
      if (state->stopped || !state->channels.contains(key)) return;
      ++state->metrics.messages_from_redis;
      if (state->handlers.on_oversized) state->handlers.on_oversized(key, size);
    });
    return;
  }
  net::post(state_->executor, [state = state_, key = std::move(key), payload = std::string(payload),
                               received = std::chrono::steady_clock::now()] {
    if (state->stopped || !state->channels.contains(key)) return;
    ++state->metrics.messages_from_redis;
    if (state->handlers.on_message) state->handlers.on_message(key, payload, nullptr, received);
  });
}

void MemoryEngine::command(std::vector<std::string>, std::size_t, CommandDone done) {
  if (state_->stopped) return;
  net::post(state_->executor, [done = std::move(done)] { done(CommandOutcome{}); });
}

void MemoryEngine::get(const std::vector<std::string>& keys, GetCallback callback) {
  if (state_->stopped) return;
  std::vector<std::optional<std::string>> values;
  std::vector<std::pair<std::string, std::size_t>> oversized;
  values.reserve(keys.size());
  for (const auto& key : keys) {
    auto value = state_->load(key);
    // As the redis engine reads them: an empty value is none, as is one
    // over the limit (reported).
    if (value && value->size() > state_->max_message_bytes) {
      oversized.emplace_back(key, value->size());
      value.reset();
    }
    if (value && value->empty()) value.reset();
    values.push_back(std::move(value));
  }
  net::post(state_->executor,
            [state = state_, values = std::move(values), oversized = std::move(oversized),
             callback = std::move(callback)]() mutable {
              if (state->stopped) return;
              for (const auto& [key, size] : oversized)
                if (state->handlers.on_oversized) state->handlers.on_oversized(key, size);
              callback(std::move(values));
            });
}

void MemoryEngine::barrier(std::function<void()> callback) {
  if (state_->stopped) return;
  net::post(state_->executor, [state = state_, callback = std::move(callback)] {
    if (!state->stopped) callback();
  });
}

}  // namespace wsrelay
