// docs/protocol.md §6.1 is the contract clients code against (the
// JavaScript client decides whether to reconnect from a code and a reason);
// close_reason::all is what the gateway sends. Neither may change without
// the other.
#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include <catch2/catch.hpp>

#include <wsrelay/wire/protocol.hpp>

#include "support/temp_dir.hpp"

using namespace wsrelay;

namespace {

using Row = std::pair<int, std::string>;

// The rows "| code | `reason` | when |" between the table's markers.
std::set<Row> documented_close_reasons(const std::string& doc) {
  const std::string begin = "<!-- close-reasons: begin -->";
  const std::string end = "<!-- close-reasons: end -->";
  const auto from = doc.find(begin);
  const auto to = doc.find(end);
  REQUIRE(from != std::string::npos);
  REQUIRE(to != std::string::npos);
  std::istringstream table(doc.substr(from + begin.size(), to - from - begin.size()));
  std::set<Row> rows;
  for (std::string line; std::getline(table, line);) {
    if (line.rfind("| 1", 0) != 0) continue;  // header, separator, blank
    const auto code_end = line.find(" |", 2);
    const auto tick = line.find('`', code_end);
    const auto tick_end = line.find('`', tick + 1);
    REQUIRE(code_end != std::string::npos);
    REQUIRE(tick != std::string::npos);
    REQUIRE(tick_end != std::string::npos);
    const int code = std::stoi(line.substr(2, code_end - 2));
    const bool inserted = rows.emplace(code, line.substr(tick + 1, tick_end - tick - 1)).second;
    INFO(line);
    CHECK(inserted);  // no row twice
  }
  return rows;
}

}  // namespace

TEST_CASE("protocol doc: the close-reason table is exactly close_reason::all", "[protocol]") {
  const std::string doc =
      wsrelay::test::read_file(std::string(WSRELAY_SOURCE_DIR) + "/docs/protocol.md");
  REQUIRE_FALSE(doc.empty());
  const auto documented = documented_close_reasons(doc);
  std::set<Row> sent;
  for (const CloseReason& reason : close_reason::all) {
    INFO(reason.code << " " << reason.text);
    CHECK(sent.emplace(reason.code, std::string(reason.text)).second);
    // Each fits a close frame whole (125 bytes, 2 of them the code).
    CHECK(reason.text.size() <= 123);
  }
  for (const auto& row : documented) {
    INFO("documented, never sent: " << row.first << " `" << row.second << "`");
    CHECK(sent.count(row) == 1);
  }
  for (const auto& row : sent) {
    INFO("sent, not documented: " << row.first << " `" << row.second << "`");
    CHECK(documented.count(row) == 1);
  }
}

TEST_CASE("protocol doc: every close code sent is a named close_code", "[protocol]") {
  const std::set<int> named = {close_code::normal,         close_code::going_away,
                               close_code::protocol_error, close_code::invalid_payload,
                               close_code::policy,         close_code::too_big,
                               close_code::try_again_later};
  std::set<int> used;
  for (const CloseReason& reason : close_reason::all) {
    CHECK(named.count(reason.code) == 1);
    used.insert(reason.code);
  }
  // 1000 is only the answer to a client's close without a code.
  for (int code : named)
    if (code != close_code::normal) CHECK(used.count(code) == 1);
}
