#include <wsrelay/wire/resp.hpp>
#include <wsrelay/wire/routes.hpp>

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <algorithm>
#include <cstdlib>
#include <new>

namespace wsrelay {
namespace {

// hiredis builds replies through this function table, so a reply is parsed
// straight into our own value type: a payload is copied once, from the
// reader's buffer into RespValue::str. Only the root object is ever handed
// to free_object; children live inside their parent's `elements`, which
// grows as they arrive, never from the header's count alone: ten bytes of
// "*1048576" must not allocate 72 MiB. Growing is safe because hiredis only
// holds pointers to the chain of arrays being filled, and each of those is
// the last element of its parent, whose vector does not grow meanwhile.
//
// These are called from C: nothing may throw through them. A null return
// makes hiredis put the reader in its error state.
struct ReaderContext {
  std::string* reason;  // set when we, not hiredis, refuse a reply
};

RespValue* slot(const redisReadTask* task) {
  if (task->parent == nullptr) return new RespValue();
  auto* parent = static_cast<RespValue*>(task->parent->obj);
  auto index = static_cast<std::size_t>(task->idx);
  if (index >= parent->elements.size()) parent->elements.resize(index + 1);
  return &parent->elements[index];
}

// Frees a freshly created root when filling it failed; children belong to
// their parent.
void discard(const redisReadTask* task, RespValue* value) {
  if (task->parent == nullptr) delete value;
}

void* create_string(const redisReadTask* task, char* str, size_t len) {
  RespValue* value = nullptr;
  try {
    value = slot(task);
    switch (task->type) {
      case REDIS_REPLY_ERROR:
        value->type = RespValue::Type::error;
        break;
      case REDIS_REPLY_STATUS:
        value->type = RespValue::Type::status;
        break;
      default:
        value->type = RespValue::Type::string;
        break;
    }
    value->str.assign(str, len);
    return value;
  } catch (...) {
    if (value != nullptr) discard(task, value);
    return nullptr;
  }
}

void* create_array(const redisReadTask* task, int elements) {
  if (elements < 0 || elements > RespReader::kMaxArrayElements) {
    if (auto* context = static_cast<ReaderContext*>(task->privdata)) {
      *context->reason = "array reply of " + std::to_string(elements) + " elements refused";
    }
    return nullptr;
  }
  RespValue* value = nullptr;
  try {
    value = slot(task);
    value->type = RespValue::Type::array;
    value->elements.reserve(static_cast<std::size_t>(std::min(elements, 16)));
    return value;
  } catch (...) {
    if (value != nullptr) discard(task, value);
    return nullptr;
  }
}

void* create_integer(const redisReadTask* task, long long integer) {
  try {
    RespValue* value = slot(task);
    value->type = RespValue::Type::integer;
    value->integer = integer;
    return value;
  } catch (...) {
    return nullptr;
  }
}

void* create_nil(const redisReadTask* task) {
  try {
    RespValue* value = slot(task);
    value->type = RespValue::Type::nil;
    return value;
  } catch (...) {
    return nullptr;
  }
}

void free_object(void* object) {
  delete static_cast<RespValue*>(object);
}

redisReplyObjectFunctions resp_value_functions = {create_string, create_array, create_integer,
                                                  create_nil, free_object};

bool equals_ascii_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

bool is_bulk(const RespValue& v) {
  return v.type == RespValue::Type::string;
}

}  // namespace

struct RespReader::Impl {
  redisReader* reader = nullptr;
  std::string reason;
  ReaderContext context{&reason};

  Impl() : reader(redisReaderCreateWithFunctions(&resp_value_functions)) {
    if (reader == nullptr) throw std::bad_alloc();
    reader->privdata = &context;  // redisReaderSetPrivdata casts the pointer to int
  }
  ~Impl() { redisReaderFree(reader); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
};

RespReader::RespReader() : impl_(std::make_unique<Impl>()) {}
RespReader::~RespReader() = default;
RespReader::RespReader(RespReader&&) noexcept = default;
RespReader& RespReader::operator=(RespReader&&) noexcept = default;

bool RespReader::feed(std::string_view bytes) {
  if (failed()) return false;
  if (bytes.empty()) return true;
  if (redisReaderFeed(impl_->reader, bytes.data(), bytes.size()) != REDIS_OK) {
    error_ = impl_->reader->errstr[0] != '\0' ? impl_->reader->errstr : "reader error";
    return false;
  }
  return true;
}

std::optional<RespValue> RespReader::next() {
  if (failed()) return std::nullopt;
  void* reply = nullptr;
  if (redisReaderGetReply(impl_->reader, &reply) != REDIS_OK) {
    if (!impl_->reason.empty()) {
      error_ = impl_->reason;
    } else {
      error_ = impl_->reader->errstr[0] != '\0' ? impl_->reader->errstr : "protocol error";
    }
    return std::nullopt;
  }
  if (reply == nullptr) return std::nullopt;
  std::unique_ptr<RespValue> owned(static_cast<RespValue*>(reply));
  return std::move(*owned);
}

std::string format_command(const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (std::string_view arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  char* command = nullptr;
  const int length =
      redisFormatCommandArgv(&command, static_cast<int>(args.size()), argv.data(), lengths.data());
  if (length < 0 || command == nullptr) throw std::bad_alloc();
  std::string out(command, static_cast<std::size_t>(length));
  redisFreeCommand(command);
  return out;
}

Push classify_push(RespValue value) {
  Push push;
  switch (value.type) {
    case RespValue::Type::error:
      push.kind = Push::Kind::error;
      push.payload = std::move(value.str);
      return push;
    case RespValue::Type::status:
      if (equals_ascii_nocase(value.str, "pong")) push.kind = Push::Kind::pong;
      return push;
    case RespValue::Type::array:
      break;
    default:
      return push;
  }
  auto& e = value.elements;
  if (e.empty() || !is_bulk(e[0])) return push;
  std::string_view kind = e[0].str;
  // Sharded pub/sub (redis.sharded) says the same with an "s" before: the
  // connection is one or the other, never both.
  if (!kind.empty() && (kind[0] == 's' || kind[0] == 'S'))
    for (std::string_view sharded : {"smessage", "ssubscribe", "sunsubscribe"})
      if (equals_ascii_nocase(kind, sharded)) kind.remove_prefix(1);
  if (e.size() == 3 && equals_ascii_nocase(kind, "message") && is_bulk(e[1]) && is_bulk(e[2])) {
    push.kind = Push::Kind::message;
    push.channel = std::move(e[1].str);
    push.payload = std::move(e[2].str);
  } else if (e.size() == 3 && equals_ascii_nocase(kind, "message") && is_bulk(e[1]) &&
             e[2].type == RespValue::Type::integer) {
    push.kind = Push::Kind::oversized;
    push.channel = std::move(e[1].str);
    push.count = e[2].integer;
  } else if (e.size() == 4 && equals_ascii_nocase(kind, "pmessage") && is_bulk(e[1]) &&
             is_bulk(e[2]) && (is_bulk(e[3]) || e[3].type == RespValue::Type::integer)) {
    // Delivered under the pattern's subscription key (routes.hpp); the
    // channel it matched is not needed past here.
    push.kind = is_bulk(e[3]) ? Push::Kind::message : Push::Kind::oversized;
    push.channel = pattern_key(e[1].str);
    if (is_bulk(e[3]))
      push.payload = std::move(e[3].str);
    else
      push.count = e[3].integer;
  } else if (e.size() == 3 && equals_ascii_nocase(kind, "psubscribe") && is_bulk(e[1]) &&
             e[2].type == RespValue::Type::integer) {
    push.kind = Push::Kind::subscribed;
    push.channel = pattern_key(e[1].str);
    push.count = e[2].integer;
  } else if (e.size() == 3 && equals_ascii_nocase(kind, "punsubscribe") &&
             (is_bulk(e[1]) || e[1].is_nil()) && e[2].type == RespValue::Type::integer) {
    push.kind = Push::Kind::unsubscribed;
    push.channel = e[1].is_nil() ? std::string() : pattern_key(e[1].str);
    push.count = e[2].integer;
  } else if (e.size() == 3 && equals_ascii_nocase(kind, "subscribe") && is_bulk(e[1]) &&
             e[2].type == RespValue::Type::integer) {
    push.kind = Push::Kind::subscribed;
    push.channel = std::move(e[1].str);
    push.count = e[2].integer;
  } else if (e.size() == 3 && equals_ascii_nocase(kind, "unsubscribe") &&
             (is_bulk(e[1]) || e[1].is_nil()) && e[2].type == RespValue::Type::integer) {
    push.kind = Push::Kind::unsubscribed;
    push.channel = std::move(e[1].str);
    push.count = e[2].integer;
  } else if (e.size() == 2 && equals_ascii_nocase(kind, "pong") && is_bulk(e[1])) {
    push.kind = Push::Kind::pong;
    push.payload = std::move(e[1].str);
  }
  return push;
}

}  // namespace wsrelay
