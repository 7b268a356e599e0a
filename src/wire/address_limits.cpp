#include <wsrelay/wire/address_limits.hpp>

#include <algorithm>

namespace wsrelay {

AddressLimits::Verdict AddressLimits::open(std::string_view address, clock::time_point now,
                                           const AddressLimitSettings& settings,
                                           std::string& group) {
  group.clear();
  const bool limited = settings.max_open > 0 || settings.rate > 0;
  if (!limited || address_in(address, settings.exempt)) return Verdict::exempt;
  std::string key = address_group(address);
  if (key.empty()) return Verdict::exempt;
  if (entries_.size() >= sweep_at_) sweep(now, settings);
  Entry& entry = entries_[key];
  if (settings.max_open > 0 && entry.open >= settings.max_open) return Verdict::too_many_open;
  ++entry.open;
  entry.last = now;
  group = std::move(key);
  return Verdict::admitted;
}

bool AddressLimits::take(const std::string& group, clock::time_point now,
                         const AddressLimitSettings& settings) {
  if (settings.rate <= 0) return true;
  auto it = entries_.find(group);
  if (it == entries_.end()) return true;  // not counted: exempt
  it->second.last = std::max(it->second.last, now);
  return it->second.bucket.take(now, settings.rate, settings.burst);
}

void AddressLimits::release(const std::string& group) {
  auto it = entries_.find(group);
  if (it != entries_.end() && it->second.open > 0) --it->second.open;
}

const std::string* AddressLimits::key(const std::string& group) const {
  auto it = entries_.find(group);
  return it == entries_.end() ? nullptr : &it->first;
}

std::size_t AddressLimits::open_count(const std::string& group) const {
  auto it = entries_.find(group);
  return it == entries_.end() ? 0 : it->second.open;
}

// An entry with nothing open whose bucket has had time to fill again is the
// same as no entry: dropping it changes no decision.
void AddressLimits::sweep(clock::time_point now, const AddressLimitSettings& settings) {
  const auto refill = settings.rate > 0
                          ? std::chrono::duration<double>(settings.burst / settings.rate)
                          : std::chrono::duration<double>(0);
  std::erase_if(entries_, [&](const auto& item) {
    const Entry& entry = item.second;
    return entry.open == 0 && now - entry.last >= refill;
  });
  sweep_at_ = std::max<std::size_t>(1024, 2 * entries_.size());
}

}  // namespace wsrelay
