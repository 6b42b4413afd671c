#include <kin/wait.hpp>

#include <kin/runtime/deadline.hpp>
#include <kin/runtime/futex.hpp>
#include <kin/runtime/runtime.hpp>
#include <kin/runtime/syscall.hpp>

#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif
#ifndef FUTEX2_PRIVATE
#define FUTEX2_PRIVATE 128
#endif

namespace kin {

namespace {

using detail::Deadline;

struct WaitvEntry {  // struct futex_waitv
  std::uint64_t val;
  std::uint64_t uaddr;
  std::uint32_t flags;
  std::uint32_t reserved;
};

// Sleeps until one of the words no longer holds its value, one is woken, or the deadline.
// False when futex_waitv is missing (kernels before 5.16).
bool futex_waitv(std::vector<WaitvEntry>& v, Deadline d) {
  timespec abs{};
  timespec* tp = nullptr;
  if (!d.infinite()) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d.when().time_since_epoch()).count();
    abs = {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    tp = &abs;  // steady_clock is CLOCK_MONOTONIC
  }
  long rc = ::syscall(SYS_futex_waitv, v.data(), v.size(), 0, tp, CLOCK_MONOTONIC);
  return !(rc < 0 && errno == ENOSYS);
}

// Every object that is ready now: fds by a zero-timeout poll, the others by ready_now.
std::vector<std::size_t> ready_now(const std::vector<Waitable>& objects, std::vector<pollfd>& pfds,
                                   const std::vector<std::size_t>& which) {
  std::vector<std::size_t> ready;
  for (std::size_t i = 0; i < objects.size(); ++i)
    if (objects[i].ready_now && objects[i].ready_now()) ready.push_back(i);
  if (!pfds.empty()) {
    for (auto& p : pfds) p.revents = 0;
    int rc = ::poll(pfds.data(), pfds.size(), 0);
    if (rc < 0 && errno != EINTR) detail::throw_errno("poll");
    for (std::size_t k = 0; rc > 0 && k < pfds.size(); ++k)
      if (pfds[k].revents != 0) ready.push_back(which[k]);
  }
  std::sort(ready.begin(), ready.end());
  ready.erase(std::unique(ready.begin(), ready.end()), ready.end());
  return ready;
}

}  // namespace

std::vector<std::size_t> wait(const std::vector<Waitable>& objects, std::optional<std::chrono::milliseconds> timeout) {
  const Deadline deadline = Deadline::from(timeout);
  std::vector<pollfd> pfds;
  std::vector<std::size_t> which;
  std::vector<std::size_t> queues;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    if (objects[i].fd >= 0) {
      pfds.push_back({objects[i].fd, POLLIN, 0});
      which.push_back(i);
    }
    if (objects[i].bell.word != nullptr) queues.push_back(i);
  }
  bool have_waitv = true;
  for (;;) {
    auto ready = ready_now(objects, pfds, which);
    if (!ready.empty()) {
      // A put woke at most one sleeper; if that was this waiter, a getter may still sleep
      // beside a ready queue: ring on for it.
      for (std::size_t i : queues) {
        const auto& b = objects[i].bell;
        if (std::binary_search(ready.begin(), ready.end(), i) && b.sleepers->load() > 0) {
          b.word->fetch_add(1);
          detail::futex_wake(b.word, 1);
        }
      }
      return ready;
    }
    if (deadline.expired()) return {};
    if (queues.empty()) {  // fds only: poll sleeps on them directly
      for (auto& p : pfds) p.revents = 0;
      if (::poll(pfds.data(), pfds.size(), deadline.poll_ms()) < 0 && errno != EINTR) detail::throw_errno("poll");
      continue;
    }
    if (!have_waitv) {  // an old kernel: short sleeps between looks
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
      continue;
    }
    // Join each queue's sleepers, then read its word: a put that publishes after our look
    // sees us and rings; one before it is seen by the look below.
    std::vector<WaitvEntry> v;
    for (std::size_t i : queues) {
      const auto& b = objects[i].bell;
      b.sleepers->fetch_add(1);
      v.push_back({b.word->load(), reinterpret_cast<std::uint64_t>(b.word), FUTEX2_SIZE_U32, 0});
    }
    // The fds are watched by the runtime thread, which rings this waiter's own word.
    std::atomic<std::uint32_t> own{0};
    std::vector<detail::Runtime::Id> watches;
    if (!pfds.empty()) {
      v.push_back({0, reinterpret_cast<std::uint64_t>(&own), FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, 0});
      auto& rt = detail::Runtime::get();
      for (auto& p : pfds)
        watches.push_back(rt.watch_fd(p.fd, detail::Readiness::read, [&own] {
          own.fetch_add(1);
          ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&own), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
        }));
    }
    if (ready_now(objects, pfds, which).empty()) have_waitv = futex_waitv(v, deadline);
    if (!watches.empty()) {
      // Synchronously gone before `own` leaves the stack.
      detail::Runtime::get().run([&] {
        for (auto id : watches) detail::Runtime::get().unwatch_fd(id);
      });
    }
    for (std::size_t i : queues) objects[i].bell.sleepers->fetch_sub(1);
  }
}

}  // namespace kin
