#include <kin/runtime/runtime.hpp>
#include <kin/runtime/runtime_resources.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>

namespace kin::detail {

namespace asio = boost::asio;

struct Runtime::Impl {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::vector<int> own_fds;
  // Touched only on the runtime thread.
  struct Watch {
    std::unique_ptr<asio::posix::stream_descriptor> d;
    std::function<void()> fn;
  };
  std::unordered_map<Id, Watch> watches;
  std::unordered_map<Id, std::unique_ptr<asio::steady_timer>> timers;
};

namespace {

struct Hooks {
  void (*prepare)() = nullptr;
  void (*parent)() = nullptr;
  void (*child)() = nullptr;
};

struct State {
  std::mutex mu;                          // guards impl's creation
  std::atomic<Runtime::Impl*> impl{nullptr};  // leaked, never destroyed (see the header)
  std::atomic<pid_t> tid{0};              // the runtime thread, 0 before it starts
  std::atomic<Runtime::Id> next_id{1};
  std::array<Hooks, 32> hooks{};
  std::atomic<int> nhooks{0};
};

State& state() {
  static auto* s = new State;  // never destroyed: used by the thread and at exit
  return *s;
}

void handler_prepare() { Runtime::fork_prepare(); }
void handler_parent() { Runtime::fork_parent(); }
void handler_child() { Runtime::fork_child(); }

void ensure_fork_handler() {
  static const bool registered = (::pthread_atfork(handler_prepare, handler_parent, handler_child), true);
  (void)registered;
}

void report(const char* what) {
  try {
    throw;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kin runtime: %s threw %s\n", what, e.what());
  } catch (...) {
    std::fprintf(stderr, "kin runtime: %s threw an unknown exception\n", what);
  }
}

// The io_context's own fds (epoll, its wake-up eventfd, its timerfd) are private to Asio. They
// are all registered in the epoll instance, so /proc/self/fdinfo of the epoll fd that holds
// our marker lists them; a fork child closes exactly these.
std::vector<int> discover_own_fds(asio::io_context& io) {
  std::vector<int> out;
  int marker = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (marker < 0) return out;
  struct stat st{};
  ::fstat(marker, &st);
  {
    asio::posix::stream_descriptor d{io, marker};
    std::ostringstream want_ino;
    want_ino << std::hex << st.st_ino;
    if (DIR* dir = ::opendir("/proc/self/fd")) {
      while (dirent* e = ::readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        std::string link(64, '\0');
        std::string path = std::string("/proc/self/fd/") + e->d_name;
        auto n = ::readlink(path.c_str(), link.data(), link.size());
        if (n <= 0 || link.compare(0, static_cast<std::size_t>(n), "anon_inode:[eventpoll]") != 0) continue;
        std::ifstream info(std::string("/proc/self/fdinfo/") + e->d_name);
        std::vector<int> tfds;
        bool ours = false;
        for (std::string line; std::getline(info, line);) {
          std::istringstream ls(line);
          std::string tag;
          int tfd = -1;
          if (!(ls >> tag >> tfd) || tag != "tfd:") continue;
          auto at = line.find("ino:");
          std::string ino = at == std::string::npos ? "" : line.substr(at + 4, line.find(' ', at) - at - 4);
          if (tfd == marker && ino == want_ino.str()) ours = true;
          else tfds.push_back(tfd);
        }
        if (!ours) continue;
        out.push_back(std::atoi(e->d_name));
        out.insert(out.end(), tfds.begin(), tfds.end());
        break;
      }
      ::closedir(dir);
    }
    d.release();
  }
  ::close(marker);
  return out;
}

void thread_main(Runtime::Impl* impl) {
  state().tid = ::gettid();
  for (;;) {
    try {
      impl->io.run();
      return;
    } catch (...) {
      report("a callback");
    }
  }
}

}  // namespace

Runtime& Runtime::get() {
  ensure_fork_handler();
  static auto* r = new Runtime;  // never destroyed
  return *r;
}

Runtime::Impl& Runtime::impl() {
  auto& s = state();
  if (auto* i = s.impl.load(std::memory_order_acquire)) return *i;
  std::lock_guard g{s.mu};
  if (auto* i = s.impl.load(std::memory_order_relaxed)) return *i;
  auto* i = new Impl;
  i->own_fds = discover_own_fds(i->io);
  for (int fd : i->own_fds) note_runtime_fd(fd);
  // Every signal blocked: handlers run on the program's threads, never on this one.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    std::thread(thread_main, i).detach();
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    for (int fd : i->own_fds) forget_runtime_fd(fd);
    delete i;
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  s.impl.store(i, std::memory_order_release);
  return *i;
}

bool Runtime::on_runtime_thread() const noexcept {
  pid_t t = state().tid.load(std::memory_order_relaxed);
  return t != 0 && t == ::gettid();
}

bool Runtime::started() const noexcept { return state().impl.load(std::memory_order_acquire) != nullptr; }

std::vector<int> Runtime::own_fds() const {
  auto* i = state().impl.load(std::memory_order_acquire);
  return i ? i->own_fds : std::vector<int>{};
}

void Runtime::ensure_started() { (void)impl(); }

void Runtime::post(std::function<void()> fn) {
  asio::post(impl().io, [fn = std::move(fn)] {
    try {
      fn();
    } catch (...) {
      report("a posted function");
    }
  });
}

void Runtime::run(const std::function<void()>& fn) {
  if (on_runtime_thread()) return fn();
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::exception_ptr error;
  asio::post(impl().io, [&] {
    try {
      fn();
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard g{m};
    done = true;
    cv.notify_one();
  });
  std::unique_lock g{m};
  cv.wait(g, [&] { return done; });
  if (error) std::rethrow_exception(error);
}

Runtime::Id Runtime::watch_fd(int fd, Readiness r, std::function<void()> fn) {
  Impl& i = impl();
  const Id id = state().next_id++;
  asio::post(i.io, [&i, id, fd, r, fn = std::move(fn)]() mutable {
    auto d = std::make_unique<asio::posix::stream_descriptor>(i.io);
    boost::system::error_code ec;
    d->assign(fd, ec);
    if (ec) {  // e.g. the fd cannot be polled: report it as ready, the callback finds out
      try {
        fn();
      } catch (...) {
        report("a watch callback");
      }
      return;
    }
    auto* raw = d.get();
    i.watches.emplace(id, Impl::Watch{std::move(d), std::move(fn)});
    raw->async_wait(r == Readiness::read ? asio::posix::descriptor_base::wait_read
                                         : asio::posix::descriptor_base::wait_write,
                    [&i, id](const boost::system::error_code& e) {
                      if (e == asio::error::operation_aborted) return;
                      auto it = i.watches.find(id);
                      if (it == i.watches.end()) return;
                      auto f = std::move(it->second.fn);
                      it->second.d->release();  // deregister; the fd stays the caller's
                      i.watches.erase(it);
                      try {
                        f();
                      } catch (...) {
                        report("a watch callback");
                      }
                    });
  });
  return id;
}

void Runtime::unwatch_fd(Id id) {
  if (!started()) return;  // nothing was ever watched in this process (or fork child)
  run([id] {
    auto* i = state().impl.load(std::memory_order_acquire);
    auto it = i->watches.find(id);
    if (it == i->watches.end()) return;
    it->second.d->release();  // cancels the wait (its handler sees operation_aborted)
    i->watches.erase(it);
  });
}

Runtime::Id Runtime::call_at(Deadline d, std::function<void()> fn) {
  Impl& i = impl();
  const Id id = state().next_id++;
  if (d.infinite()) return id;  // never fires
  asio::post(i.io, [&i, id, when = d.when(), fn = std::move(fn)]() mutable {
    auto t = std::make_unique<asio::steady_timer>(i.io, when);
    auto* raw = t.get();
    i.timers.emplace(id, std::move(t));
    raw->async_wait([&i, id, fn = std::move(fn)](const boost::system::error_code& e) {
      if (e == asio::error::operation_aborted) return;
      auto it = i.timers.find(id);
      if (it == i.timers.end()) return;
      i.timers.erase(it);
      try {
        fn();
      } catch (...) {
        report("a timer callback");
      }
    });
  });
  return id;
}

void Runtime::cancel_timer(Id id) {
  auto* i = state().impl.load(std::memory_order_acquire);
  if (i == nullptr) return;
  asio::post(i->io, [i, id] { i->timers.erase(id); });
}

void Runtime::fork_prepare() noexcept {
  auto& s = state();
  for (int k = s.nhooks.load() - 1; k >= 0; --k)
    if (s.hooks[k].prepare) s.hooks[k].prepare();
  s.mu.lock();
}

void Runtime::fork_parent() noexcept {
  auto& s = state();
  s.mu.unlock();
  for (int k = 0, n = s.nhooks.load(); k < n; ++k)
    if (s.hooks[k].parent) s.hooks[k].parent();
}

void Runtime::fork_child() noexcept {
  auto& s = state();
  runtime_resources_after_fork();
  // The parent's io_context stays in memory untouched; only its fds go. Closing (never
  // EPOLL_CTL_DEL) leaves the parent's registrations in the shared epoll instance intact.
  if (auto* old = s.impl.load(std::memory_order_relaxed)) {
    for (int fd : old->own_fds) {
      ::close(fd);
      forget_runtime_fd(fd);
    }
  }
  s.impl.store(nullptr, std::memory_order_relaxed);
  s.tid = 0;
  s.mu.unlock();  // locked by this thread in fork_prepare
  for (int k = 0, n = s.nhooks.load(); k < n; ++k)
    if (s.hooks[k].child) s.hooks[k].child();
}

void post(std::function<void()> fn) { Runtime::get().post(std::move(fn)); }

int at_fork(void (*prepare)(), void (*parent)(), void (*child)()) {
  ensure_fork_handler();
  auto& s = state();
  std::lock_guard g{s.mu};
  int k = s.nhooks.load();
  if (k == static_cast<int>(s.hooks.size())) {
    std::fprintf(stderr, "kin runtime: too many fork hooks\n");
    std::abort();
  }
  s.hooks[k] = Hooks{prepare, parent, child};
  s.nhooks.store(k + 1);
  return 0;
}

}  // namespace kin::detail
