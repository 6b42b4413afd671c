// Queues for the threads of one process, with the semantics of Python's `queue` module:
//   kin::thread::Queue<T>                 FIFO
//   kin::thread::LifoQueue<T>             LIFO (a stack)
//   kin::thread::PriorityQueue<T, Cmp>    smallest first (by Cmp, default std::less), FIFO
//                                         among equal items
//   kin::thread::SimpleQueue<T>           unbounded FIFO without task tracking
// `maxsize` 0 means unbounded. put/get block; the timed forms return false / std::nullopt
// when time runs out; put_nowait/get_nowait throw kin::Full / kin::Empty. task_done() and
// join() count unfinished items as Python does (task_done() once too often: ValueError).
// shutdown() is Python 3.13's: later puts throw kin::ShutDown; gets drain what is left, then
// throw kin::ShutDown; shutdown(true) (immediate) also discards what is left and releases join().
// Every blocked put and get wakes up to notice.
//   q.shutdown();                        // producers done: consumers drain, then ShutDown
// The family shares one implementation (detail::ThreadQueue) over a storage policy.
// A queue destroyed while threads still wait on it — a static queue at program exit with daemon
// threads blocked in get(), Python's daemon-thread case — leaves its state allocated for them,
// so they stay blocked instead of the exit hanging in a condition variable's destructor.
#pragma once

#include <kin/errors.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <utility>
#include <vector>

namespace kin {

namespace detail {

template <class T>
struct FifoStore {
  std::deque<T> items;
  void push(T&& v) { items.push_back(std::move(v)); }
  T pop() {
    T v = std::move(items.front());
    items.pop_front();
    return v;
  }
  std::size_t size() const noexcept { return items.size(); }
};

template <class T>
struct LifoStore {
  std::vector<T> items;
  void push(T&& v) { items.push_back(std::move(v)); }
  T pop() {
    T v = std::move(items.back());
    items.pop_back();
    return v;
  }
  std::size_t size() const noexcept { return items.size(); }
};

template <class T, class Compare>
struct PriorityStore {
  struct Entry {
    T value;
    std::uint64_t seq;  // FIFO among equals
  };
  struct Later {  // std::priority_queue keeps the *greatest* on top: invert
    Compare cmp;
    bool operator()(const Entry& a, const Entry& b) const {
      if (cmp(a.value, b.value)) return false;
      if (cmp(b.value, a.value)) return true;
      return a.seq > b.seq;
    }
  };
  std::priority_queue<Entry, std::vector<Entry>, Later> items;
  std::uint64_t next_seq = 0;
  void push(T&& v) { items.push(Entry{std::move(v), next_seq++}); }
  T pop() {
    // top() is const: the entry is removed right after, so moving out of it is safe.
    T v = std::move(const_cast<Entry&>(items.top()).value);
    items.pop();
    return v;
  }
  std::size_t size() const noexcept { return items.size(); }
};

template <class T, class Store>
class ThreadQueue {
 public:
  explicit ThreadQueue(std::size_t maxsize = 0) : s_(new State{.maxsize = maxsize}) {}
  ThreadQueue(const ThreadQueue&) = delete;
  ThreadQueue& operator=(const ThreadQueue&) = delete;
  ~ThreadQueue() {
    {
      std::lock_guard g{s_->mu};
      // glibc's pthread_cond_destroy waits for its waiters, which a daemon thread never stops
      // being: leave them a state that stays valid (spurious wake-ups included), never freed.
      if (s_->get_waiters + s_->put_waiters + s_->join_waiters == 0) return;
    }
    (void)s_.release();
  }

  void put(T v) { (void)put_until(std::move(v), std::nullopt); }
  template <class Rep, class Period>
  bool put(T v, std::chrono::duration<Rep, Period> timeout) {
    return put_until(std::move(v), std::chrono::steady_clock::now() + timeout);
  }
  void put_nowait(T v) {
    if (!put_until(std::move(v), std::chrono::steady_clock::time_point::min())) throw Full();
  }

  /// Python 3.13's Queue.shutdown(immediate): see the header comment.
  void shutdown(bool immediate = false) {
    State& s = *s_;
    std::lock_guard g{s.mu};
    s.is_shutdown = true;
    if (immediate) {
      while (s.store.size() > 0) {
        (void)s.store.pop();
        if (s.unfinished > 0) --s.unfinished;
      }
      s.all_done.notify_all();
    }
    s.not_empty.notify_all();
    s.not_full.notify_all();
  }
  [[nodiscard]] bool is_shutdown() const {
    std::lock_guard g{s_->mu};
    return s_->is_shutdown;
  }

  T get() { return *get_until(std::nullopt); }
  template <class Rep, class Period>
  std::optional<T> get(std::chrono::duration<Rep, Period> timeout) {
    return get_until(std::chrono::steady_clock::now() + timeout);
  }
  T get_nowait() {
    auto v = get_until(std::chrono::steady_clock::time_point::min());
    if (!v) throw Empty();
    return std::move(*v);
  }

  /// One item taken by get() is fully processed.
  void task_done() {
    State& s = *s_;
    std::lock_guard g{s.mu};
    if (s.unfinished == 0) throw ValueError("kin::thread::Queue::task_done() called too many times");
    if (--s.unfinished == 0) s.all_done.notify_all();
  }
  /// Waits until every item put has been marked done.
  void join() { (void)join_until(std::nullopt); }
  template <class Rep, class Period>
  bool join(std::chrono::duration<Rep, Period> timeout) {
    return join_until(std::chrono::steady_clock::now() + timeout);
  }

  [[nodiscard]] std::size_t qsize() const {
    std::lock_guard g{s_->mu};
    return s_->store.size();
  }
  [[nodiscard]] bool empty() const { return qsize() == 0; }
  [[nodiscard]] bool full() const {
    std::lock_guard g{s_->mu};
    return s_->maxsize > 0 && s_->store.size() >= s_->maxsize;
  }
  [[nodiscard]] std::size_t maxsize() const noexcept { return s_->maxsize; }

 private:
  using Deadline = std::optional<std::chrono::steady_clock::time_point>;

  struct State {
    std::size_t maxsize = 0;
    mutable std::mutex mu{};
    std::condition_variable not_empty{}, not_full{}, all_done{};
    int get_waiters = 0, put_waiters = 0, join_waiters = 0;
    std::size_t unfinished = 0;
    bool is_shutdown = false;
    Store store{};
  };

  // Waits on `cv` until `ready`, counting the waiter so the other side notifies only when
  // someone sleeps (the notify is most of the cost of an uncontended hand-off). Everything a
  // waiter touches is in State: a waiter outliving the queue object finds it intact.
  template <class Pred>
  static bool wait(std::unique_lock<std::mutex>& g, std::condition_variable& cv, int& waiters, Deadline d,
                   Pred ready) {
    if (ready()) return true;
    if (d && *d == std::chrono::steady_clock::time_point::min()) return false;
    ++waiters;
    bool ok = d ? cv.wait_until(g, *d, ready) : (cv.wait(g, ready), true);
    --waiters;
    return ok;
  }

  bool put_until(T&& v, Deadline d) {
    State& s = *s_;
    std::unique_lock g{s.mu};
    if (s.is_shutdown) throw ShutDown();
    if (!wait(g, s.not_full, s.put_waiters, d,
              [&s] { return s.is_shutdown || s.maxsize == 0 || s.store.size() < s.maxsize; }))
      return false;
    if (s.is_shutdown) throw ShutDown();
    s.store.push(std::move(v));
    ++s.unfinished;
    if (s.get_waiters > 0) s.not_empty.notify_one();
    return true;
  }

  std::optional<T> get_until(Deadline d) {
    State& s = *s_;
    std::unique_lock g{s.mu};
    if (s.is_shutdown && s.store.size() == 0) throw ShutDown();
    if (!wait(g, s.not_empty, s.get_waiters, d, [&s] { return s.is_shutdown || s.store.size() > 0; }))
      return std::nullopt;
    if (s.store.size() == 0) throw ShutDown();  // woken by shutdown() with nothing left
    std::optional<T> v{s.store.pop()};
    if (s.put_waiters > 0) s.not_full.notify_one();
    return v;
  }

  bool join_until(Deadline d) {
    State& s = *s_;
    std::unique_lock g{s.mu};
    return wait(g, s.all_done, s.join_waiters, d, [&s] { return s.unfinished == 0; });
  }

  std::unique_ptr<State> s_;
};

}  // namespace detail

namespace thread {

template <class T>
class Queue : public detail::ThreadQueue<T, detail::FifoStore<T>> {
  using detail::ThreadQueue<T, detail::FifoStore<T>>::ThreadQueue;
};

template <class T>
class LifoQueue : public detail::ThreadQueue<T, detail::LifoStore<T>> {
  using detail::ThreadQueue<T, detail::LifoStore<T>>::ThreadQueue;
};

template <class T, class Compare = std::less<T>>
class PriorityQueue : public detail::ThreadQueue<T, detail::PriorityStore<T, Compare>> {
  using detail::ThreadQueue<T, detail::PriorityStore<T, Compare>>::ThreadQueue;
};

/// Unbounded FIFO: put never blocks (Python's queue.SimpleQueue: no task_done/join).
template <class T>
class SimpleQueue {
 public:
  void put(T v) { q_.put(std::move(v)); }
  void put_nowait(T v) { q_.put(std::move(v)); }
  T get() { return q_.get(); }
  template <class Rep, class Period>
  std::optional<T> get(std::chrono::duration<Rep, Period> timeout) {
    return q_.get(timeout);
  }
  T get_nowait() { return q_.get_nowait(); }
  [[nodiscard]] std::size_t qsize() const { return q_.qsize(); }
  [[nodiscard]] bool empty() const { return q_.empty(); }

 private:
  Queue<T> q_;
};

}  // namespace thread
}  // namespace kin
