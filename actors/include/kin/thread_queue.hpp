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
#pragma once

#include <kin/errors.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
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
  explicit ThreadQueue(std::size_t maxsize = 0) : maxsize_(maxsize) {}
  ThreadQueue(const ThreadQueue&) = delete;
  ThreadQueue& operator=(const ThreadQueue&) = delete;

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
    std::lock_guard g{mu_};
    is_shutdown_ = true;
    if (immediate) {
      while (store_.size() > 0) {
        (void)store_.pop();
        if (unfinished_ > 0) --unfinished_;
      }
      all_done_.notify_all();
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }
  [[nodiscard]] bool is_shutdown() const {
    std::lock_guard g{mu_};
    return is_shutdown_;
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
    std::lock_guard g{mu_};
    if (unfinished_ == 0) throw ValueError("kin::thread::Queue::task_done() called too many times");
    if (--unfinished_ == 0) all_done_.notify_all();
  }
  /// Waits until every item put has been marked done.
  void join() {
    std::unique_lock g{mu_};
    all_done_.wait(g, [&] { return unfinished_ == 0; });
  }
  template <class Rep, class Period>
  bool join(std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock g{mu_};
    return all_done_.wait_for(g, timeout, [&] { return unfinished_ == 0; });
  }

  [[nodiscard]] std::size_t qsize() const {
    std::lock_guard g{mu_};
    return store_.size();
  }
  [[nodiscard]] bool empty() const { return qsize() == 0; }
  [[nodiscard]] bool full() const {
    std::lock_guard g{mu_};
    return maxsize_ > 0 && store_.size() >= maxsize_;
  }
  [[nodiscard]] std::size_t maxsize() const noexcept { return maxsize_; }

 private:
  using Deadline = std::optional<std::chrono::steady_clock::time_point>;

  // Waits on `cv` until `ready`, counting the waiter so the other side notifies only when
  // someone sleeps (the notify is most of the cost of an uncontended hand-off).
  template <class Pred>
  bool wait(std::unique_lock<std::mutex>& g, std::condition_variable& cv, int& waiters, Deadline d, Pred ready) {
    if (ready()) return true;
    if (d && *d == std::chrono::steady_clock::time_point::min()) return false;
    ++waiters;
    bool ok = d ? cv.wait_until(g, *d, ready) : (cv.wait(g, ready), true);
    --waiters;
    return ok;
  }

  bool put_until(T&& v, Deadline d) {
    std::unique_lock g{mu_};
    if (is_shutdown_) throw ShutDown();
    if (!wait(g, not_full_, put_waiters_, d,
              [&] { return is_shutdown_ || maxsize_ == 0 || store_.size() < maxsize_; }))
      return false;
    if (is_shutdown_) throw ShutDown();
    store_.push(std::move(v));
    ++unfinished_;
    if (get_waiters_ > 0) not_empty_.notify_one();
    return true;
  }

  std::optional<T> get_until(Deadline d) {
    std::unique_lock g{mu_};
    if (is_shutdown_ && store_.size() == 0) throw ShutDown();
    if (!wait(g, not_empty_, get_waiters_, d, [&] { return is_shutdown_ || store_.size() > 0; })) return std::nullopt;
    if (store_.size() == 0) throw ShutDown();  // woken by shutdown() with nothing left
    std::optional<T> v{store_.pop()};
    if (put_waiters_ > 0) not_full_.notify_one();
    return v;
  }

  mutable std::mutex mu_;
  std::condition_variable not_empty_, not_full_, all_done_;
  int get_waiters_ = 0, put_waiters_ = 0;
  std::size_t unfinished_ = 0;
  std::size_t maxsize_;
  bool is_shutdown_ = false;
  Store store_;
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
