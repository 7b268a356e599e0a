#include <wsrelay/gateway/admission.hpp>

#include <utility>

#include <wsrelay/runtime/metrics.hpp>

namespace wsrelay {

Admission::Ticket& Admission::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    reset();
    admission_ = std::exchange(other.admission_, nullptr);
    kind_ = other.kind_;
    group_ = std::exchange(other.group_, nullptr);
  }
  return *this;
}

void Admission::Ticket::reset() {
  if (Admission* admission = std::exchange(admission_, nullptr))
    admission->give_back(kind_, group_);
}

Admission::Admission(Metrics& metrics)
    : handshakes_(metrics.handshakes_in_progress), slots_(metrics.connections_open) {}

// Optimistic: count first, and give back when that passed the limit. A
// compare-and-swap loop would never overshoot even for an instant, but
// nothing reads the count as a promise, and this is one instruction.
bool Admission::take(std::atomic<std::int64_t>& count, std::size_t limit) {
  if (static_cast<std::size_t>(count.fetch_add(1, std::memory_order_relaxed)) < limit) return true;
  count.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

Admission::Ticket Admission::begin_handshake(std::size_t max_handshakes) {
  if (!take(handshakes_, max_handshakes)) return {};
  return Ticket(this, Ticket::Kind::handshake);
}

Admission::Ticket Admission::take_slot(std::size_t max_connections) {
  if (!take(slots_, max_connections)) return {};
  return Ticket(this, Ticket::Kind::slot);
}

Admission::AddressDecision Admission::admit_address(std::string_view address,
                                                    const AddressLimitSettings& settings,
                                                    clock::time_point now) {
  std::string group;
  AddressDecision decision{AddressLimits::Verdict::exempt, {}};
  std::lock_guard lock(addresses_mutex_);
  decision.verdict = addresses_.open(address, now, settings, group);
  if (decision.verdict == AddressLimits::Verdict::admitted)
    decision.ticket = Ticket(this, Ticket::Kind::address, addresses_.key(group));
  return decision;
}

bool Admission::take_token(const Ticket& address, const AddressLimitSettings& settings,
                           clock::time_point now) {
  if (!address || address.kind_ != Ticket::Kind::address) return true;
  std::lock_guard lock(addresses_mutex_);
  return addresses_.take(*address.group_, now, settings);
}

void Admission::give_back(Ticket::Kind kind, const std::string* group) {
  switch (kind) {
    case Ticket::Kind::handshake:
      handshakes_.fetch_sub(1, std::memory_order_relaxed);
      break;
    case Ticket::Kind::slot:
      slots_.fetch_sub(1, std::memory_order_relaxed);
      break;
    case Ticket::Kind::address: {
      std::lock_guard lock(addresses_mutex_);
      addresses_.release(*group);
      break;
    }
  }
}

std::int64_t Admission::handshakes() const {
  return handshakes_.load(std::memory_order_relaxed);
}

std::int64_t Admission::slots() const {
  return slots_.load(std::memory_order_relaxed);
}

std::size_t Admission::open_from(std::string_view address) {
  std::lock_guard lock(addresses_mutex_);
  return addresses_.open_count(address_group(address));
}

}  // namespace wsrelay
