#pragma once
// The benchmark's message payload: printable ASCII, so every peer sends it as
// a text frame and no peer re-encodes it.
//
//   offset 0      kind: 'M' measured message, 'P' subscription probe
//   offset 1..10  sequence number, 10 decimal digits
//   offset 11     ' '
//   offset 12..31 CLOCK_MONOTONIC at publish, nanoseconds, 20 decimal digits
//   offset 32     ' '
//   offset 33..40 run id, 8 decimal digits, random per run
//   offset 41     ' '
//   offset 42..   'x' padding up to the requested size
//
// The publisher and the receivers run in the same process, so both ends read
// the same clock and publish→receive latency needs no clock sync. The run id
// keeps a message stored by an earlier run (a peer's message buffer, a
// "last message") from counting as this run's.
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>

namespace wsrelay::bench {

inline constexpr std::size_t kPayloadHeaderBytes = 42;

inline std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Writes `value` as exactly `width` decimal digits (zero padded) at `out`.
inline void put_digits(char* out, std::uint64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

// Reads exactly `width` decimal digits; false when one is not a digit.
inline bool get_digits(const char* in, int width, std::uint64_t& value) {
  std::uint64_t v = 0;
  for (int i = 0; i < width; ++i) {
    const unsigned d = static_cast<unsigned char>(in[i]) - '0';
    if (d > 9) return false;
    v = v * 10 + d;
  }
  value = v;
  return true;
}

// A reusable payload buffer of `size` bytes (at least kPayloadHeaderBytes).
inline std::string make_payload_template(std::size_t size, std::uint32_t run_id) {
  std::string p(size < kPayloadHeaderBytes ? kPayloadHeaderBytes : size, 'x');
  p[11] = ' ';
  p[32] = ' ';
  put_digits(p.data() + 33, run_id % 100'000'000, 8);
  p[41] = ' ';
  return p;
}

// Stamps kind, sequence and the current clock into a template.
inline void stamp_payload(std::string& payload, char kind, std::uint64_t seq, std::int64_t now) {
  payload[0] = kind;
  put_digits(payload.data() + 1, seq, 10);
  put_digits(payload.data() + 12, static_cast<std::uint64_t>(now), 20);
}

struct ParsedPayload {
  char kind = 0;
  std::uint64_t seq = 0;
  std::int64_t sent_ns = 0;
};

// False for anything that is not one of this run's payloads (e.g. a stored
// "last message" some other client or an earlier run left on the channel).
inline bool parse_payload(const char* data, std::size_t size, std::uint32_t run_id,
                          ParsedPayload& out) {
  if (size < kPayloadHeaderBytes) return false;
  if (data[0] != 'M' && data[0] != 'P') return false;
  std::uint64_t seq = 0;
  std::uint64_t ns = 0;
  std::uint64_t run = 0;
  if (!get_digits(data + 1, 10, seq) || !get_digits(data + 12, 20, ns) ||
      !get_digits(data + 33, 8, run) || run != run_id % 100'000'000)
    return false;
  out.kind = data[0];
  out.seq = seq;
  out.sent_ns = static_cast<std::int64_t>(ns);
  return true;
}

}  // namespace wsrelay::bench
