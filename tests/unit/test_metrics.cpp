// /metrics: the table renders every family once, with HELP and TYPE, and
// docs/operations.md lists exactly the metrics of that table, with the same
// types.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include <wsrelay/runtime/metrics.hpp>

using namespace wsrelay;

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The rows "| `name` | type | ..." of the "## Metrics" section: name -> type.
std::map<std::string, std::string> documented_metrics() {
  const std::string doc =
      read_file(std::filesystem::path(WSRELAY_SOURCE_DIR) / "docs/operations.md");
  std::map<std::string, std::string> rows;
  std::istringstream lines(doc);
  bool in_section = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("## ", 0) == 0) in_section = line == "## Metrics";
    if (!in_section || line.rfind("| `", 0) != 0) continue;
    const auto name_end = line.find('`', 3);
    const std::string name = line.substr(3, name_end - 3);
    const auto type_start = line.find('|', name_end) + 1;
    const auto type_end = line.find('|', type_start);
    std::string type = line.substr(type_start, type_end - type_start);
    type.erase(0, type.find_first_not_of(' '));
    type.erase(type.find_last_not_of(' ') + 1);
    rows.emplace(name, type);
  }
  return rows;
}

}  // namespace

TEST_CASE("every metric of the table is rendered once, with HELP and TYPE", "[metrics]") {
  Metrics metrics;
  metrics.set_shards(2);
  const std::string out = metrics.render_prometheus();
  std::set<std::string> names;
  for (const MetricSpec& m : metric_table()) {
    INFO(m.name);
    CHECK(names.insert(std::string(m.name)).second);
    const std::string type(to_string(m.type));
    CHECK(out.find("# TYPE " + std::string(m.name) + " " + type + "\n") != std::string::npos);
    CHECK(out.find("# HELP " + std::string(m.name) + " ") != std::string::npos);
    if (m.type == MetricType::counter) CHECK(m.name.ends_with("_total"));
  }
  // Every sample line belongs to a family of the table.
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("#")) continue;
    INFO(line);
    std::string name = line.substr(0, line.find_first_of("{ "));
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (name.ends_with(suffix) && !names.contains(name))
        name.resize(name.size() - std::string_view(suffix).size());
    CHECK(names.contains(name));
  }
}

TEST_CASE("labelled counters and build_info render their labels", "[metrics]") {
  Metrics metrics;
  metrics.count_refusal(403);
  metrics.count_refusal(403);
  metrics.count_refusal(418);  // not a status of ours: other
  metrics.count_close(CloseCause::slow_consumer);
  const std::string out = metrics.render_prometheus();
  CHECK(out.find("\nwsrelay_handshakes_refused_total{status=\"403\"} 2\n") != std::string::npos);
  CHECK(out.find("\nwsrelay_handshakes_refused_total{status=\"401\"} 0\n") != std::string::npos);
  CHECK(out.find("\nwsrelay_handshakes_refused_total{status=\"other\"} 1\n") != std::string::npos);
  CHECK(out.find("\nwsrelay_sessions_closed_total{reason=\"slow_consumer\"} 1\n") !=
        std::string::npos);
  CHECK(out.find("\nwsrelay_sessions_closed_total{reason=\"client\"} 0\n") != std::string::npos);
  CHECK(out.find("\nwsrelay_build_info{version=\"" WSRELAY_VERSION "\"} 1\n") != std::string::npos);
}

TEST_CASE("the process figures are read from /proc", "[metrics]") {
  const ProcessStats stats = read_process_stats();
  CHECK(stats.open_fds >= 3);  // at least stdin, stdout, stderr
  CHECK(stats.max_fds >= stats.open_fds);
  CHECK(stats.resident_memory_bytes > 1024 * 1024);
  CHECK(stats.cpu_seconds >= 0);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(stats.start_time_seconds <= now + 1);
  CHECK(stats.start_time_seconds > now - 24 * 3600);  // this test process started today
}

TEST_CASE("docs/operations.md lists exactly the metrics /metrics serves", "[metrics][docs]") {
  const auto documented = documented_metrics();
  REQUIRE(!documented.empty());
  std::set<std::string> served;
  for (const MetricSpec& m : metric_table()) {
    served.insert(std::string(m.name));
    INFO("served but not documented: " << m.name);
    REQUIRE(documented.contains(std::string(m.name)));
    CHECK(documented.at(std::string(m.name)) == to_string(m.type));
  }
  for (const auto& [name, type] : documented) {
    INFO("documented but not served: " << name);
    CHECK(served.contains(name));
  }
}
