#include <wsrelay/wire/resp_size_gate.hpp>

#include <algorithm>

namespace wsrelay {

namespace {

bool equals_nocase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x - 'A' + 'a' : x) == y;
         });
}

// A longer length can only be a protocol error (no Redis sends a bulk of an
// exabyte). 18 digits keep `number * 10 + digit` and `number + 2` (the CRLF)
// inside a long long.
constexpr int max_digits = 18;

}  // namespace

void RespSizeGate::feed(std::string_view input, std::vector<std::string_view>& out) {
  own_.clear();
  segment_start_ = 0;
  held_in_this_feed_ = false;
  std::size_t i = 0;
  while (i < input.size()) {
    switch (mode_) {
      case Mode::type:
        start_element(input[i], i);
        ++i;
        break;
      case Mode::line: {
        // A line ends at CRLF only, as the parser reads it: a status or an
        // error may hold a bare CR or LF; a length may not.
        const char c = input[i];
        const bool length = type_ == '$' || type_ == '*';
        if (cr_) {
          cr_ = false;
          if (c == '\n') {
            end_line(i, input, out);
            ++i;
            break;
          }
          if (length) {
            mode_ = Mode::broken;
            break;
          }
        }
        if (c == '\r') {
          cr_ = true;
        } else if (length) {
          if (c == '-' && digits_ == 0 && !negative_) {
            negative_ = true;
          } else if (c >= '0' && c <= '9' && digits_ < max_digits) {
            number_ = number_ * 10 + (c - '0');
            ++digits_;
          } else {
            mode_ = Mode::broken;
          }
        }
        ++i;
        break;
      }
      case Mode::body: {
        const auto n = static_cast<std::size_t>(
            std::min<long long>(left_, static_cast<long long>(input.size() - i)));
        if (capture_kind_) kind_.append(input.substr(i, n));
        left_ -= static_cast<long long>(n);
        i += n;
        if (left_ == 0) {
          mode_ = Mode::type;
          element_done();
        }
        break;
      }
      case Mode::skip: {
        const auto n = static_cast<std::size_t>(
            std::min<long long>(left_, static_cast<long long>(input.size() - i)));
        left_ -= static_cast<long long>(n);
        i += n;
        segment_start_ = i;
        if (left_ == 0) {
          mode_ = Mode::type;
          element_done();
        }
        break;
      }
      case Mode::broken:
        i = input.size();
        break;
    }
  }
  if (held_ && mode_ == Mode::broken) {
    // Not a length after all: what was held back goes on as it came.
    held_ = false;
    if (!held_in_this_feed_) emit_held(out);
  }
  // A payload's header line not complete yet stays back until it is.
  std::size_t end = input.size();
  if (held_ && mode_ == Mode::line) end = held_in_this_feed_ ? held_at_ : segment_start_;
  if (end > segment_start_) out.push_back(input.substr(segment_start_, end - segment_start_));
  if (held_ && mode_ == Mode::line) held_text_.append(input.substr(end));
}

void RespSizeGate::emit_held(std::vector<std::string_view>& out) {
  own_.push_back(std::move(held_text_));
  held_text_.clear();
  out.push_back(own_.back());
}

void RespSizeGate::start_element(char type, std::size_t at) {
  type_ = type;
  cr_ = false;
  number_ = 0;
  negative_ = false;
  digits_ = 0;
  switch (type) {
    case '*':
    case '$':
    case '+':
    case '-':
    case ':':
      mode_ = Mode::line;
      break;
    default:
      mode_ = Mode::broken;
      return;
  }
  // A direct element of the top-level array: is it a message's payload?
  if (type == '$' && open_.size() == 1 && payload_index_ >= 0 &&
      top_size_ - open_[0] == payload_index_) {
    held_ = true;
    held_in_this_feed_ = true;
    held_at_ = at;
  }
}

void RespSizeGate::end_line(std::size_t at, std::string_view input,
                            std::vector<std::string_view>& out) {
  mode_ = Mode::type;
  if (type_ == '*') {
    if (open_.empty()) begin_reply();
    if (open_.empty()) top_size_ = negative_ ? 0 : number_;
    if (!negative_ && number_ > 0) {
      open_.push_back(number_);
      return;
    }
    return element_done();
  }
  if (type_ != '$') return element_done();

  if (held_) {
    held_ = false;
    if (!negative_ && number_ > static_cast<long long>(max_)) {
      // What came before the header goes on; the payload becomes its size.
      const std::size_t end = held_in_this_feed_ ? held_at_ : segment_start_;
      if (end > segment_start_) out.push_back(input.substr(segment_start_, end - segment_start_));
      held_text_.clear();
      own_.push_back(":" + std::to_string(number_) + "\r\n");
      out.push_back(own_.back());
      ++dropped_;
      segment_start_ = at + 1;
      mode_ = Mode::skip;
      left_ = number_ + 2;
      return;
    }
    // Its first bytes were held back in an earlier call: they go on first,
    // then the rest of the line with this call's input.
    if (!held_in_this_feed_) emit_held(out);
  }
  if (negative_) return element_done();  // nil bulk
  capture_kind_ = open_.size() == 1 && top_size_ - open_[0] == 0 && number_ <= 8 &&
                  (top_size_ == 3 || top_size_ == 4);
  mode_ = Mode::body;
  left_ = number_ + 2;
}

void RespSizeGate::element_done() {
  while (!open_.empty()) {
    if (capture_kind_) {
      capture_kind_ = false;
      const std::string_view kind = std::string_view(kind_).substr(0, kind_.size() - 2);
      if (top_size_ == 3 && (equals_nocase(kind, "message") || equals_nocase(kind, "smessage")))
        payload_index_ = 2;
      else if (top_size_ == 4 && equals_nocase(kind, "pmessage"))
        payload_index_ = 3;
    }
    if (--open_.back() > 0) return;
    open_.pop_back();  // that array is complete: an element of its parent
  }
  begin_reply();
}

void RespSizeGate::begin_reply() {
  top_size_ = 0;
  payload_index_ = -1;
  kind_.clear();
  capture_kind_ = false;
}

}  // namespace wsrelay
