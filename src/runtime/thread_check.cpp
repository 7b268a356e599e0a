#include <wsrelay/runtime/thread_check.hpp>

#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace wsrelay {

void name_this_thread(std::string_view name) {
  const std::string cut(name.substr(0, 15));
  pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace wsrelay

namespace wsrelay::thread_check {

bool running_on(const net::io_context::executor_type& executor) {
  return executor.running_in_this_thread();
}

bool running_on(const net::any_io_executor& executor) {
  if (const auto* io = executor.target<net::io_context::executor_type>())
    return io->running_in_this_thread();
  return true;
}

void fail(const char* what, const char* file, int line) {
  // Not spdlog: this may run on any thread, in any state, right before abort.
  std::fprintf(stderr, "%s:%d: threading contract broken: not running on %s\n", file, line, what);
  std::abort();
}

}  // namespace wsrelay::thread_check
