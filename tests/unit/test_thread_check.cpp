// The check behind WSRELAY_ASSERT_ON: true only on a thread that is running
// the executor's io_context, for both kinds of executor the code holds.
#include <thread>

#include <catch2/catch.hpp>

#include <wsrelay/runtime/thread_check.hpp>

using namespace wsrelay;

TEST_CASE("thread check: running_on is true only inside the io_context's run", "[thread]") {
  net::io_context mine(1);
  net::io_context other(1);
  const net::any_io_executor any = mine.get_executor();
  CHECK_FALSE(thread_check::running_on(mine.get_executor()));
  CHECK_FALSE(thread_check::running_on(any));

  bool on_mine = false;
  bool any_on_mine = false;
  bool on_other = true;
  net::post(mine, [&] {
    on_mine = thread_check::running_on(mine.get_executor());
    any_on_mine = thread_check::running_on(any);
    on_other = thread_check::running_on(other.get_executor());
  });
  mine.run();
  CHECK(on_mine);
  CHECK(any_on_mine);
  CHECK_FALSE(on_other);

  // Another thread running `other` is not running `mine`.
  bool from_other_thread = true;
  net::post(other, [&] { from_other_thread = thread_check::running_on(any); });
  std::thread runner([&] { other.run(); });
  runner.join();
  CHECK_FALSE(from_other_thread);
}
