// ClusterRouter (cluster_router.hpp): routing decisions for Redis Cluster.
#include <wsrelay/backend/cluster_router.hpp>

#include <utility>

namespace wsrelay {

bool ClusterRouter::set_map(SlotMap map) {
  if (map_ && *map_ == map) return false;
  map_ = std::move(map);
  return true;
}

const HostPort* ClusterRouter::owner(int slot) const {
  return map_ ? map_->owner_of(slot) : nullptr;
}

void ClusterRouter::sent(const Flight& flight) {
  if (flight.ordered) ++ordered_in_flight_;
}

ClusterRouter::Step ClusterRouter::on_reply(Flight& flight, const RespValue* reply) {
  Step step;
  if (reply == nullptr || !reply->is_error()) return step;
  const auto redirect = read_redirect(reply->str);
  const bool busy = reply->str.starts_with("TRYAGAIN") || reply->str.starts_with("CLUSTERDOWN");
  if (!redirect && !busy) return step;
  // Past the limits the command is lost, not answered with the redirect: a
  // client publish is sent again from the queue, never refused for it.
  if (redirect ? ++flight.redirects > limits_.max_redirects
               : ++flight.retries > limits_.max_retries) {
    step.lost = true;
    return step;
  }
  step.redirected = true;
  if (flight.ordered) draining_ = true;
  if (!redirect) {
    step.kind = Step::Kind::retry_later;
    step.refresh = true;
    return step;
  }
  step.kind = Step::Kind::resend;
  step.to = redirect->address;
  if (redirect->kind == ClusterRedirect::Kind::ask) {
    step.asking = true;
  } else {
    step.refresh = true;
    if (map_)
      map_->owner[static_cast<std::size_t>(redirect->slot)] = map_->index_of(redirect->address);
  }
  return step;
}

ClusterRouter::Step ClusterRouter::on_retry(Flight& flight, bool owner_up) {
  Step step;
  const HostPort* to = owner(flight.slot);
  if (to != nullptr && owner_up) {
    step.kind = Step::Kind::resend;
    step.to = *to;
  } else if (++flight.retries > limits_.max_retries) {
    step.lost = true;
  } else {
    step.kind = Step::Kind::retry_later;
  }
  return step;
}

void ClusterRouter::finished(const Flight& flight) {
  if (flight.ordered && --ordered_in_flight_ == 0) draining_ = false;
}

}  // namespace wsrelay
