#include <wsrelay/gateway/outbound_queue.hpp>

#include <algorithm>
#include <utility>

namespace wsrelay {

namespace {

// Written entries are reclaimed once they are this many and half the
// vector, so a reader that stays a little behind does not grow it.
constexpr std::size_t compact_after = 64;
// A vector this large is released as soon as everything is written: it
// was grown by a burst, and keeping it would make the burst's memory last.
constexpr std::size_t keep_capacity = 64;

}  // namespace

void OutboundQueue::add(Entry entry) {
  queued_bytes_ += entry.bytes().size();
  entries_.push_back(std::move(entry));
  empty_since_.reset();
}

void OutboundQueue::push(MessagePtr message) {
  add(Entry{std::move(message), {}});
}

void OutboundQueue::push_own(std::string frame) {
  add(Entry{nullptr, std::move(frame)});
}

void OutboundQueue::hold(MessagePtr message) {
  held_bytes_ += message->frame().size();
  held_.push_back(std::move(message));
  empty_since_.reset();
}

void OutboundQueue::release_held() {
  held_bytes_ = 0;
  for (auto& message : held_) push(std::move(message));
  std::vector<MessagePtr>().swap(held_);
}

void OutboundQueue::clear_held() {
  held_bytes_ = 0;
  std::vector<MessagePtr>().swap(held_);
}

std::size_t OutboundQueue::drop_held_through(StreamId watermark) {
  const std::size_t before = held_.size();
  std::erase_if(held_, [&](const MessagePtr& message) {
    if (!message->position() || *message->position() > watermark) return false;
    held_bytes_ -= std::min(held_bytes_, message->frame().size());
    return true;
  });
  return before - held_.size();
}

std::size_t OutboundQueue::gather(std::span<std::string_view> out) const {
  std::size_t count = 0;
  for (std::size_t i = head_; i < entries_.size() && count < out.size(); ++i) {
    std::string_view bytes = entries_[i].bytes();
    if (i == head_) bytes.remove_prefix(head_offset_);
    out[count++] = bytes;
  }
  return count;
}

void OutboundQueue::consume(std::size_t written, std::size_t soft_bytes) {
  queued_bytes_ -= written;
  while (written > 0) {
    const std::size_t left = entries_[head_].bytes().size() - head_offset_;
    if (written < left) {
      head_offset_ += written;
      break;
    }
    written -= left;
    entries_[head_] = Entry{};
    ++head_;
    head_offset_ = 0;
  }
  if (over_soft_since_ && waiting_bytes() <= soft_bytes) over_soft_since_.reset();
  if (head_ == entries_.size()) {
    entries_.clear();
    head_ = 0;
    if (entries_.capacity() > keep_capacity) std::vector<Entry>().swap(entries_);
  } else if (head_ >= compact_after && head_ * 2 >= entries_.size()) {
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

OutboundQueue::Admission OutboundQueue::admit(std::size_t bytes, const Message* incoming,
                                              bool incoming_is_newest, const Limits& limits) {
  Admission result;
  const std::size_t waiting = waiting_bytes();
  // One frame is always accepted into an empty queue: a message bigger than
  // the limit is the sender's choice, not this reader's slowness.
  if (waiting == 0 || waiting + bytes <= limits.max_bytes) return result;
  if (limits.policy != SlowConsumerPolicy::close) {
    result.freed = make_room(waiting + bytes - limits.max_bytes, limits.policy, incoming,
                             incoming_is_newest, result.dropped);
    // The newest data message is always kept, even when what is left (a
    // frame partly written, control frames) leaves it no room: the queue
    // then holds at most one message beyond the limit, and the next one
    // drops it. Control frames get no such grace.
    if (incoming || waiting_bytes() + bytes <= limits.max_bytes) return result;
  }
  result.admitted = false;
  return result;
}

std::size_t OutboundQueue::make_room(std::size_t need, SlowConsumerPolicy policy,
                                     const Message* incoming, bool incoming_is_newest,
                                     std::size_t& dropped) {
  // entries_[first...] may go; the entry at head_ stays when it is partly
  // written. Own frames have no `message` and are never dropped.
  const std::size_t first = head_ + (head_offset_ > 0 ? 1 : 0);
  std::size_t freed = 0;
  auto drop_queued = [&](Entry& entry) {
    const std::size_t size = entry.bytes().size();
    freed += size;
    queued_bytes_ -= size;
    entry = Entry{};  // empty: removed below
    ++dropped;
  };
  auto drop_held = [&](MessagePtr& message) {
    const std::size_t size = message->frame().size();
    freed += size;
    held_bytes_ -= size;
    message.reset();
    ++dropped;
  };

  if (policy == SlowConsumerPolicy::keep_latest) {
    // Newest to oldest: the first entry seen on a channel is its latest
    // value; every older one on that channel is superseded. Order of age:
    // the queue, then the held messages, then the incoming message, unless
    // it is a replayed value (older than the held ones).
    std::vector<std::string_view> latest;  // channels whose latest value is kept
    auto superseded = [&](const Message& message) {
      if (std::find(latest.begin(), latest.end(), message.channel()) != latest.end()) return true;
      latest.push_back(message.channel());
      return false;
    };
    if (incoming && incoming_is_newest) latest.push_back(incoming->channel());
    for (auto it = held_.rbegin(); it != held_.rend(); ++it)
      if (superseded(**it)) drop_held(*it);
    if (incoming && !incoming_is_newest) superseded(*incoming);
    for (std::size_t i = entries_.size(); i-- > first;)
      if (entries_[i].message && superseded(*entries_[i].message)) drop_queued(entries_[i]);
  }
  for (std::size_t i = first; i < entries_.size() && freed < need; ++i)
    if (entries_[i].message) drop_queued(entries_[i]);
  for (MessagePtr& message : held_) {
    if (freed >= need) break;
    if (message) drop_held(message);
  }

  if (dropped == 0) return 0;
  entries_.erase(std::remove_if(entries_.begin() + static_cast<std::ptrdiff_t>(first),
                                entries_.end(), [](const Entry& e) { return e.bytes().empty(); }),
                 entries_.end());
  std::erase(held_, nullptr);
  return freed;
}

void OutboundQueue::drop_unwritten() {
  // Keep a partly written frame (the stream must stay well-formed) and the
  // frames built for this client: a 101 not yet written must still precede
  // the close frame that follows, or the client reads a frame where it
  // waits for an HTTP answer. The data messages are released now, which is
  // the point of closing a slow consumer.
  const std::size_t first = head_ + (head_offset_ > 0 ? 1 : 0);
  const auto data = [this](const Entry& entry) {
    if (!entry.message) return false;
    queued_bytes_ -= entry.bytes().size();
    return true;
  };
  entries_.erase(
      std::remove_if(entries_.begin() + static_cast<std::ptrdiff_t>(first), entries_.end(), data),
      entries_.end());
  clear_held();
}

bool OutboundQueue::soft_limit_passed(clock::time_point now, const Limits& limits) {
  if (limits.soft_bytes == 0 || waiting_bytes() <= limits.soft_bytes) {
    over_soft_since_.reset();
    return false;
  }
  if (!over_soft_since_) {
    over_soft_since_ = now;  // the limit was lowered by a reload
    return false;
  }
  return now - *over_soft_since_ >= limits.soft_duration;
}

std::size_t OutboundQueue::trim(clock::time_point now) {
  if (!entries_.empty() || !held_.empty()) return 0;
  if (entries_.capacity() == 0 && held_.capacity() == 0) return 0;
  if (!empty_since_) {
    empty_since_ = now;
    return 0;
  }
  if (now - *empty_since_ < idle_release) return 0;
  const std::size_t released = capacity_bytes();
  std::vector<Entry>().swap(entries_);
  std::vector<MessagePtr>().swap(held_);
  empty_since_.reset();
  return released;
}

std::size_t OutboundQueue::capacity_bytes() const {
  std::size_t bytes = entries_.capacity() * sizeof(Entry) + held_.capacity() * sizeof(MessagePtr);
  for (const Entry& entry : entries_)
    if (entry.own.capacity() > std::string().capacity()) bytes += entry.own.capacity();
  return bytes;
}

}  // namespace wsrelay
