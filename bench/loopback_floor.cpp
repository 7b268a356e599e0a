// wsrelay-loopback-floor: what one small write per socket costs on this
// machine's loopback TCP, with no server logic at all. It is the floor under
// every figure the benchmark takes for "one message to N idle sockets":
// whatever a server does, it pays at least this per recipient.
//
// The sender (pinned to --sender-cpu) holds the accepted ends of N loopback
// connections; a receiver process (forked, pinned to --receiver-cpu, so each
// side has its own N descriptors) holds the connecting ends in one epoll set
// and reads. Each round the sender writes one 66-byte WebSocket-like
// frame to every socket in turn (one write(2) per socket, as a relay does for a
// single message) while the receiver is idle in epoll_wait, then waits until
// the receiver has read all of them. Reported per round: the sender's thread
// CPU per write, and the wall time from the first write to the last byte read
// (the p100 latency of a 1 msg/s fan-out with zero server overhead).
//
// --busy-receiver makes the receiver poll (epoll_wait with timeout 0) instead
// of sleeping, which shows how much of the sender's cost is waking it up.
//
//   wsrelay-loopback-floor [--connections 10000] [--rounds 5]
//                          [--sender-cpu 0] [--receiver-cpu 1] [--busy-receiver] [--json]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

std::int64_t now_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  int connections = 10000;
  int rounds = 5;
  int sender_cpu = 0;
  int receiver_cpu = 1;
  bool json = false;
  bool busy = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--connections")
      connections = next();
    else if (a == "--rounds")
      rounds = next();
    else if (a == "--sender-cpu")
      sender_cpu = next();
    else if (a == "--receiver-cpu")
      receiver_cpu = next();
    else if (a == "--json")
      json = true;
    else if (a == "--busy-receiver")
      busy = true;
    else {
      std::fprintf(stderr,
                   "usage: %s [--connections N] [--rounds R] [--sender-cpu C] "
                   "[--receiver-cpu C] [--busy-receiver] [--json]\n",
                   argv[0]);
      return 2;
    }
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (listen(listener, 4096) != 0) die("listen");
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);

  // Shared with the receiver process.
  struct Shared {
    std::atomic<std::int64_t> received{0};
    std::atomic<std::int64_t> last_read_ns{0};
    std::atomic<int> connected{0};
    std::atomic<bool> stop{false};
  };
  void* mem =
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) die("mmap");
  auto* shared = new (mem) Shared;

  const pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(listener);
    pin(receiver_cpu);
    const int ep = epoll_create1(0);
    std::vector<int> receivers;
    for (int i = 0; i < connections; ++i) {
      const int c = socket(AF_INET, SOCK_STREAM, 0);
      if (c < 0) die("socket");
      if (connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect");
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = c;
      epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
      receivers.push_back(c);
      shared->connected.fetch_add(1);
    }
    std::vector<epoll_event> events(256);
    char buf[4096];
    while (!shared->stop.load(std::memory_order_relaxed)) {
      const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), busy ? 0 : 50);
      std::int64_t got = 0;
      for (int i = 0; i < n; ++i) {
        const ssize_t r = read(events[i].data.fd, buf, sizeof buf);
        if (r > 0) got += r;
      }
      if (got > 0) {
        shared->last_read_ns.store(now_ns(CLOCK_MONOTONIC), std::memory_order_relaxed);
        shared->received.fetch_add(got, std::memory_order_relaxed);
      }
    }
    _exit(0);
  }

  std::vector<int> senders;
  for (int i = 0; i < connections; ++i) {
    const int s = accept(listener, nullptr, nullptr);
    if (s < 0) die("accept");
    const int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const linger l{1, 0};
    setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    senders.push_back(s);  // the server side writes, as a relay does
  }
  while (shared->connected.load() < connections)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));

  pin(sender_cpu);
  // A 64-byte text payload in a server→client frame: 2 header bytes + 64.
  char frame[66];
  frame[0] = static_cast<char>(0x81);
  frame[1] = 64;
  std::memset(frame + 2, 'x', 64);
  std::vector<double> cpu_per_write;
  std::vector<double> fanout_ms;
  std::int64_t expected = 0;
  for (int round = 0; round < rounds; ++round) {
    // Let the receiver go idle in epoll_wait, as between 1 msg/s messages.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const std::int64_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    const std::int64_t t0 = now_ns(CLOCK_MONOTONIC);
    for (int fd : senders) {
      if (write(fd, frame, sizeof frame) != static_cast<ssize_t>(sizeof frame)) die("write");
    }
    const std::int64_t cpu1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    expected += static_cast<std::int64_t>(sizeof frame) * connections;
    while (shared->received.load() < expected)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    cpu_per_write.push_back((cpu1 - cpu0) / 1e3 / connections);
    fanout_ms.push_back((shared->last_read_ns.load() - t0) / 1e6);
  }
  shared->stop = true;
  waitpid(child, nullptr, 0);

  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  if (json) {
    std::printf(
        "{\"connections\":%d,\"rounds\":%d,\"busy_receiver\":%s,\"cpu_us_per_write\":%.3f,"
        "\"fanout_ms\":%.3f}\n",
        connections, rounds, busy ? "true" : "false", median(cpu_per_write), median(fanout_ms));
  } else {
    std::printf("loopback floor, %d sockets, %d rounds, receiver %s (median):\n", connections,
                rounds, busy ? "polling" : "sleeping in epoll_wait");
    std::printf("  sender CPU per 66-byte write   %.3f us\n", median(cpu_per_write));
    std::printf("  first write to last byte read  %.3f ms\n", median(fanout_ms));
    for (int i = 0; i < rounds; ++i)
      std::printf("  round %d: %.3f us/write, %.3f ms\n", i, cpu_per_write[i], fanout_ms[i]);
  }
  for (int fd : senders) close(fd);
  close(listener);
  return 0;
}
