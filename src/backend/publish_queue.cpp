#include <wsrelay/backend/publish_queue.hpp>

#include <algorithm>
#include <utility>

namespace wsrelay {

std::size_t ReadOp::bytes() const {
  std::size_t n = 0;
  for (const auto& key : keys) n += key.size();
  for (const auto& arg : command) n += arg.size();
  return n;
}

bool PublishQueue::hold(std::size_t bytes) {
  if (held_messages_ + 1 > max_messages_ || held_bytes_ + bytes > max_bytes_) return false;
  ++held_messages_;
  held_bytes_ += bytes;
  return true;
}

void PublishQueue::release(std::size_t bytes) {
  if (held_messages_ > 0) --held_messages_;
  held_bytes_ -= std::min(held_bytes_, bytes);
}

bool PublishQueue::publish(PublishOp op) {
  if (!hold(op.bytes())) return false;
  queue_.emplace_back(std::move(op));
  return true;
}

bool PublishQueue::read(ReadOp op) {
  if (!hold(op.bytes())) return false;
  queue_.emplace_back(std::move(op));
  return true;
}

void PublishQueue::set_open(bool open) {
  if (open && !open_) requeued_ = 0;
  open_ = open;
}

std::optional<PublishQueue::Op> PublishQueue::next() {
  if (!open_ || queue_.empty()) return std::nullopt;
  Op op = std::move(queue_.front());
  queue_.pop_front();
  if (requeued_ > 0) --requeued_;
  if (auto* read = std::get_if<ReadOp>(&op)) release(read->bytes());
  return op;
}

void PublishQueue::answered(PublishOp& op, std::string_view error) {
  release(op.bytes());
  if (!error.empty() && op.refused) std::exchange(op.refused, {})(error);
}

void PublishQueue::lost(PublishOp op) {
  const auto at = queue_.begin() + static_cast<std::ptrdiff_t>(std::min(requeued_, queue_.size()));
  queue_.emplace(at, std::move(op));
  ++requeued_;
}

std::vector<std::function<void()>> PublishQueue::idle_waiters() {
  if (held_messages_ != 0) return {};
  return std::exchange(waiters_, {});
}

}  // namespace wsrelay
