#include <kin/wait.hpp>

#include <kin/runtime/syscall.hpp>

#include <poll.h>

#include <algorithm>

namespace kin {

std::vector<std::size_t> wait(const std::vector<Waitable>& objects, std::optional<std::chrono::milliseconds> timeout) {
  using clock = std::chrono::steady_clock;
  // A flag and a time point rather than an optional: GCC 12 under TSan warns (falsely) that
  // the optional's value may be used uninitialized.
  const bool has_deadline = timeout.has_value();
  const auto deadline = clock::now() + timeout.value_or(std::chrono::milliseconds{0});
  const bool any_fdless = std::any_of(objects.begin(), objects.end(), [](const Waitable& w) { return w.fd < 0; });
  std::vector<pollfd> pfds;
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < objects.size(); ++i)
    if (objects[i].fd >= 0) {
      pfds.push_back({objects[i].fd, POLLIN, 0});
      which.push_back(i);
    }
  for (;;) {
    std::vector<std::size_t> ready;
    for (std::size_t i = 0; i < objects.size(); ++i)
      if (objects[i].ready_now && objects[i].ready_now()) ready.push_back(i);
    if (!ready.empty()) return ready;
    int ms = -1;
    if (has_deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now()).count();
      ms = static_cast<int>(std::max<long>(left, 0));
    }
    if (any_fdless) ms = ms < 0 ? 1 : std::min(ms, 1);
    int rc = ::poll(pfds.data(), pfds.size(), ms);
    if (rc < 0 && errno != EINTR) detail::throw_errno("poll");
    for (std::size_t k = 0; rc > 0 && k < pfds.size(); ++k)
      if (pfds[k].revents != 0) ready.push_back(which[k]);
    if (!ready.empty()) {
      std::sort(ready.begin(), ready.end());
      ready.erase(std::unique(ready.begin(), ready.end()), ready.end());
      return ready;
    }
    if (has_deadline && clock::now() >= deadline) {
      for (std::size_t i = 0; i < objects.size(); ++i)  // one last look at the fd-less ones
        if (objects[i].ready_now && objects[i].ready_now()) ready.push_back(i);
      return ready;
    }
  }
}

}  // namespace kin
