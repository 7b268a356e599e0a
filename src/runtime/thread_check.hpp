#pragma once
// The threading contract of docs/architecture.md ("Threads") in code: every
// thread wsrelay starts is named, and WSRELAY_ASSERT_ON(executor) checks it
// where it is relied on. In debug and sanitizer builds the assertion aborts,
// naming the file and line, when the calling thread is not running
// `executor` (an io_context's executor, or an any_io_executor holding one).
// It is compiled out when NDEBUG is defined (Release, RelWithDebInfo) unless
// WSRELAY_THREAD_CHECKS is: some entry points it guards are on the hot path.
#include <string_view>

#include <wsrelay/runtime/net.hpp>

#if !defined(NDEBUG) || defined(WSRELAY_THREAD_CHECKS)
#define WSRELAY_ASSERT_ON(executor) \
  ::wsrelay::thread_check::require((executor), #executor, __FILE__, __LINE__)
#else
#define WSRELAY_ASSERT_ON(executor) static_cast<void>(0)
#endif

namespace wsrelay {

// Names the calling thread as `ps -L` and `top -H` show it (cut to the 15
// characters Linux keeps). Every thread wsrelay starts calls it first.
void name_this_thread(std::string_view name);

namespace thread_check {

// True when the calling thread runs `executor`'s io_context. An
// any_io_executor that holds another kind of executor cannot tell: true.
bool running_on(const net::io_context::executor_type& executor);
bool running_on(const net::any_io_executor& executor);

[[noreturn]] void fail(const char* what, const char* file, int line);

template <typename Executor>
void require(const Executor& executor, const char* what, const char* file, int line) {
  if (!running_on(executor)) fail(what, file, line);
}

}  // namespace thread_check
}  // namespace wsrelay
