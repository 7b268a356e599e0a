#pragma once
// Client-supplied text made safe to write into a log line or an HTTP body.
// Anything a client sends (a JWT header field such as `kid`, a header, a
// subprotocol, a cookie, a claim that ends up in a channel name) may hold
// CR/LF, terminal escapes or invisible Unicode; written raw, one request
// could forge whole log lines, or rewrite what an operator's terminal
// shows. Pure: a function of its input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wsrelay {

// `text` with every byte that could change how a line reads escaped, and
// cut to about `max_bytes`:
//   - `\` and `"` become `\\` and `\"` (values are quoted in our lines, so a
//     value can neither close its quotes nor fake an escape);
//   - CR, LF and TAB become `\r`, `\n`, `\t`; other C0 controls and DEL `\xNN`;
//   - bytes that are not valid UTF-8 become `\xNN`;
//   - valid UTF-8 that is a C1 control (U+0080-U+009F: CSI and friends), a
//     line or paragraph separator (U+2028, U+2029) or a bidirectional
//     control (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) becomes
//     `\u{XXXX}`; other UTF-8 passes unchanged.
// A longer result is cut at a character boundary and ends with
// `...(N more bytes)`, N counting the input left out: a value a client can
// make 8 KiB long must not make lines that long.
std::string printable(std::string_view text, std::size_t max_bytes = 200);

// Length of the valid UTF-8 sequence at the start of `s` (not empty) and its
// code point; 0 when it is not one (overlong forms and surrogates included).
std::size_t decode_utf8(std::string_view s, std::uint32_t& code_point);

// Appends `\\`, `\"`, `\n`, `\r` or `\t` for those five bytes (the escapes
// printable() and JSON strings share) and returns true; false for any other.
bool append_backslash_escape(std::string& out, unsigned char c);

}  // namespace wsrelay
