// Fuzzes the RESP side of the Redis link: RespReader (hiredis's reader with
// our reply builders) on bytes a server, or something pretending to be one,
// might send, classify_push on every reply it completes, and format_command
// on arguments that must come back unchanged through the reader, and the
// RespSizeGate in front of the reader (transparent under its limit; over it,
// a message's payload is replaced by its size and nothing else changes).
//
// Input: byte 0 picks where the rest is split in two; the rest is both
//   - a reply stream, fed whole to one reader and in two pieces to another
//     (both must give the same replies and the same error state), and
//   - a command: arguments as <length byte><bytes>, until the input ends.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/wire/resp.hpp>
#include <wsrelay/wire/resp_size_gate.hpp>

#include "fuzz_support.hpp"

namespace {

using namespace wsrelay;

bool equals_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

void check_push(const RespValue& value) {
  const Push push = classify_push(value);
  switch (push.kind) {
    case Push::Kind::message:
      FUZZ_CHECK(value.type == RespValue::Type::array && value.elements.size() == 3);
      FUZZ_CHECK(equals_nocase(value.elements[0].str, "message"));
      FUZZ_CHECK(push.channel == value.elements[1].str);
      FUZZ_CHECK(push.payload == value.elements[2].str);
      break;
    case Push::Kind::oversized:
      FUZZ_CHECK(value.type == RespValue::Type::array && value.elements.size() == 3);
      FUZZ_CHECK(equals_nocase(value.elements[0].str, "message"));
      FUZZ_CHECK(value.elements[2].type == RespValue::Type::integer);
      FUZZ_CHECK(push.count == value.elements[2].integer);
      FUZZ_CHECK(push.channel == value.elements[1].str);
      break;
    case Push::Kind::subscribed:
    case Push::Kind::unsubscribed:
      FUZZ_CHECK(value.type == RespValue::Type::array && value.elements.size() == 3);
      FUZZ_CHECK(value.elements[2].type == RespValue::Type::integer);
      FUZZ_CHECK(push.count == value.elements[2].integer);
      FUZZ_CHECK(push.channel == value.elements[1].str);
      break;
    case Push::Kind::pong:
      FUZZ_CHECK(value.type == RespValue::Type::status || value.type == RespValue::Type::array);
      break;
    case Push::Kind::error:
      FUZZ_CHECK(value.is_error());
      FUZZ_CHECK(push.payload == value.str);
      break;
    case Push::Kind::other:
      FUZZ_CHECK(!value.is_error());
      break;
  }
}

// Feeds `pieces` in order, pulling replies after each; returns them all.
std::vector<RespValue> read_all(const std::vector<std::string_view>& pieces, bool& failed) {
  RespReader reader;
  std::vector<RespValue> replies;
  for (std::string_view piece : pieces) {
    if (!reader.feed(piece)) break;
    while (auto reply = reader.next()) replies.push_back(std::move(*reply));
    if (reader.failed()) break;
  }
  failed = reader.failed();
  if (failed) FUZZ_CHECK(!reader.error().empty());
  return replies;
}

void check_size_gate(std::string_view bytes, std::size_t split, const std::vector<RespValue>& whole,
                     bool failed_whole);

void check_reply_stream(std::string_view bytes, std::size_t split) {
  bool failed_whole = false;
  const std::vector<RespValue> whole = read_all({bytes}, failed_whole);
  for (const RespValue& value : whole) check_push(value);

  bool failed_split = false;
  const std::vector<RespValue> split_replies =
      read_all({bytes.substr(0, split), bytes.substr(split)}, failed_split);
  FUZZ_CHECK(split_replies == whole);
  FUZZ_CHECK(failed_split == failed_whole);
  check_size_gate(bytes, split, whole, failed_whole);
}

// The stream through a gate with `limit`, in two pieces, then the reader.
std::vector<RespValue> read_gated(std::string_view bytes, std::size_t split, std::size_t limit,
                                  bool& failed) {
  RespSizeGate gate(limit);
  std::vector<std::string_view> pieces;
  std::vector<std::string> kept;  // the gate's pieces live until its next feed
  for (std::string_view part : {bytes.substr(0, split), bytes.substr(split)}) {
    pieces.clear();
    gate.feed(part, pieces);
    std::string joined;
    for (std::string_view piece : pieces) joined += piece;
    kept.push_back(std::move(joined));
  }
  return read_all({kept[0], kept[1]}, failed);
}

void check_size_gate(std::string_view bytes, std::size_t split, const std::vector<RespValue>& whole,
                     bool failed_whole) {
  // Over any length a header can say (18 digits): the gate changes nothing.
  bool failed = false;
  FUZZ_CHECK(read_gated(bytes, split, std::size_t{1} << 62, failed) == whole);
  FUZZ_CHECK(failed == failed_whole);
  if (failed_whole) return;

  // A small limit: a message over it becomes ["message", channel, size].
  const std::size_t limit = split % 8;
  const std::vector<RespValue> gated = read_gated(bytes, split, limit, failed);
  FUZZ_CHECK(!failed);
  // The gate replaces a payload as soon as its header says it is over: a
  // stream that ends inside one has one reply more through the gate.
  FUZZ_CHECK(gated.size() == whole.size() || gated.size() == whole.size() + 1);
  if (gated.size() > whole.size()) {
    const RespValue& extra = gated.back();
    FUZZ_CHECK(extra.type == RespValue::Type::array && !extra.elements.empty());
    FUZZ_CHECK(extra.elements.back().type == RespValue::Type::integer);
    FUZZ_CHECK(extra.elements.back().integer > static_cast<long long>(limit));
  }
  for (std::size_t i = 0; i < whole.size(); ++i) {
    if (gated[i] == whole[i]) continue;
    // Only the payload (the last element) of a message push may differ.
    const RespValue& before = whole[i];
    const RespValue& after = gated[i];
    FUZZ_CHECK(before.type == RespValue::Type::array && after.type == RespValue::Type::array);
    FUZZ_CHECK(before.elements.size() == after.elements.size());
    FUZZ_CHECK(before.elements.size() == 3 || before.elements.size() == 4);
    const std::string_view kind = before.elements[0].str;
    FUZZ_CHECK(equals_nocase(kind, before.elements.size() == 3 ? "message" : "pmessage") ||
               (before.elements.size() == 3 && equals_nocase(kind, "smessage")));
    const std::size_t last = before.elements.size() - 1;
    for (std::size_t k = 0; k < last; ++k) FUZZ_CHECK(before.elements[k] == after.elements[k]);
    FUZZ_CHECK(before.elements[last].type == RespValue::Type::string);
    FUZZ_CHECK(before.elements[last].str.size() > limit);
    FUZZ_CHECK(after.elements[last].type == RespValue::Type::integer);
    FUZZ_CHECK(after.elements[last].integer ==
               static_cast<long long>(before.elements[last].str.size()));
    if (before.elements.size() == 3 && equals_nocase(kind, "message") &&
        before.elements[1].type == RespValue::Type::string) {
      FUZZ_CHECK(classify_push(after).kind == Push::Kind::oversized);
    }
  }
}

// Arguments as <length byte><that many bytes>; a short last one takes what
// is left.
std::vector<std::string_view> command_args(std::string_view in) {
  std::vector<std::string_view> args;
  while (!in.empty()) {
    const std::size_t n = static_cast<std::uint8_t>(in.front());
    in.remove_prefix(1);
    args.push_back(in.substr(0, n));
    in.remove_prefix(std::min(n, in.size()));
  }
  return args;
}

void check_command_round_trip(std::string_view in, std::size_t split) {
  const std::vector<std::string_view> args = command_args(in);
  const std::string command = format_command(args);

  for (std::size_t cut : {command.size(), std::min(split, command.size())}) {
    bool failed = true;
    const std::vector<RespValue> replies = read_all(
        {std::string_view(command).substr(0, cut), std::string_view(command).substr(cut)}, failed);
    FUZZ_CHECK(!failed);
    FUZZ_CHECK(replies.size() == 1);
    const RespValue& reply = replies.front();
    FUZZ_CHECK(reply.type == RespValue::Type::array);
    FUZZ_CHECK(reply.elements.size() == args.size());
    for (std::size_t i = 0; i < args.size(); ++i) {
      FUZZ_CHECK(reply.elements[i].type == RespValue::Type::string);
      FUZZ_CHECK(reply.elements[i].str == args[i]);
    }
    // A command shaped like a message push is classified as one.
    const Push push = classify_push(reply);
    if (args.size() == 3 && equals_nocase(args[0], "message")) {
      FUZZ_CHECK(push.kind == Push::Kind::message);
      FUZZ_CHECK(push.channel == args[1] && push.payload == args[2]);
    }
    if (args.size() == 2 && equals_nocase(args[0], "pong")) {
      FUZZ_CHECK(push.kind == Push::Kind::pong && push.payload == args[1]);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input = wsrelay_fuzz::as_view(data, size);
  const std::uint8_t selector = wsrelay_fuzz::take_byte(input);
  const std::size_t split = wsrelay_fuzz::split_point(selector, input.size());
  check_reply_stream(input, split);
  check_command_round_trip(input, split);
  return 0;
}
