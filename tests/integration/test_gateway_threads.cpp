// The threading contract (docs/architecture.md, "Threads"): every thread the
// daemon starts has a name, as `ps -L` and `top -H` show it.
#include <dirent.h>

#include <fstream>
#include <set>

#include "helpers.hpp"

using namespace wsrelay::test;

namespace {

// The names of the threads of `pid`, from /proc.
std::multiset<std::string> thread_names(pid_t pid) {
  std::multiset<std::string> names;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(tasks.c_str());
  if (dir == nullptr) return names;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream comm(tasks + "/" + entry->d_name + "/comm");
    std::string name;
    if (std::getline(comm, name)) names.insert(name);
  }
  ::closedir(dir);
  return names;
}

}  // namespace

TEST_CASE("threads: control, each shard, the Redis subscriber and the auth callback are named",
          "[gateway][threads]") {
  RedisServer redis;
  // The callback backend starts its thread at start-up; the site is never asked here.
  TestGateway gateway(with_redis(
      redis, {"--threads", "3", "--set", "auth.backends=callback", "--set",
              "auth.callback_url=http://127.0.0.1:" + std::to_string(free_port()) + "/auth"}));
  const std::vector<std::string> expected = {"wsrelay",        "wsrelay-shard0", "wsrelay-shard1",
                                             "wsrelay-shard2", "wsrelay-redis",  "wsrelay-authcb"};
  std::multiset<std::string> names;
  const bool all = wait_until(
      [&] {
        names = thread_names(gateway.pid());
        return std::all_of(expected.begin(), expected.end(),
                           [&](const std::string& name) { return names.count(name) >= 1; });
      },
      5s, 10ms);
  std::string seen;
  for (const auto& name : names) seen += name + " ";
  INFO("threads: " << seen);
  CHECK(all);
  // No thread has another name: Asio's resolver threads (one per
  // io_context that resolves the Redis address) take the name of the
  // thread that first resolved, so "wsrelay" and "wsrelay-redis" may be
  // there twice.
  for (const auto& name : names) {
    INFO(name);
    CHECK(name.rfind("wsrelay", 0) == 0);
  }
}
