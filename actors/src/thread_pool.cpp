// The worker threads behind kin::ThreadPool and kin::ThreadPoolExecutor, and ThreadPool's
// non-template calls (and ThreadPoolExecutor's default size).
#include <kin/thread_pool.hpp>
#include <kin/thread_pool_executor.hpp>

#include <kin/current_process.hpp>

#include "process_globals.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

namespace kin {
namespace detail {

namespace {
// A worker takes at most this many tasks per lock: enough to amortise the lock, few enough
// that a burst is shared among the workers.
constexpr std::size_t kMaxBatch = 64;
// A worker batches only while its tasks are shorter than this: one that holds a batch of long
// tasks serialises them while other threads sleep (four 250 ms tasks on one of eight threads).
// A new thread has measured nothing yet and starts with one task.
constexpr auto kShortTask = std::chrono::microseconds(20);
}  // namespace

WorkerSet::WorkerSet(Options options) : options_(std::move(options)) {
  options_.threads = std::max<std::size_t>(options_.threads, 1);
  if (options_.lazy) return;
  std::lock_guard lk{m_};
  try {
    for (std::size_t i = 0; i < options_.threads; ++i) start_thread_locked();
  } catch (...) {
    stop_.store(true);
    closing_ = true;
    work_cv_.notify_all();
    for (auto& t : threads_) {
      m_.unlock();
      t.join();
      m_.lock();
    }
    throw;
  }
}

WorkerSet::~WorkerSet() {
  terminate();
  join();
}

std::string next_executor_name_prefix() {
  static std::atomic<int> executors{0};
  return "ThreadPoolExecutor-" + std::to_string(executors++);
}

void WorkerSet::start_thread_locked() {
  std::string name = options_.thread_name_prefix.empty()
                         ? "Thread-" + std::to_string(next_thread_number()) + " (worker)"
                         : options_.thread_name_prefix + "_" + std::to_string(started_);
  threads_.emplace_back([this, init = static_cast<bool>(options_.initializer), name = std::move(name)]() mutable {
    worker_main(init, std::move(name));
  });
  ++started_;
  ++live_;
}

bool WorkerSet::push(TaskNode* first, TaskNode* last, std::size_t n, bool followup) {
  std::unique_lock lk{m_};
  if (stop_.load(std::memory_order_relaxed)) return false;
  if (closing_ && (!followup || live_ == 0)) return false;
  if (broken_) {
    // A broken set (its initializer failed) still "accepts": the tasks fail with that error,
    // as concurrent.futures' BrokenThreadPool does, instead of waiting for nobody.
    const auto why = broken_;
    lk.unlock();
    for (TaskNode* t = first; t != nullptr;) {
      TaskNode* next = t == last ? nullptr : t->next_task;
      t->drop(why);
      t = next;
    }
    return true;
  }
  last->next_task = nullptr;
  if (tail_ != nullptr) {
    tail_->next_task = first;
  } else {
    head_ = first;
  }
  tail_ = last;
  queued_ += n;
  if (idle_ > 0) {
    if (!wake_pending_) {
      wake_pending_ = true;
      lk.unlock();
      work_cv_.notify_one();
    }
  } else if (options_.lazy && live_ < options_.threads && !wake_pending_) {
    try {
      start_thread_locked();
    } catch (...) {
      if (live_ == 0) {
        // Nobody will ever serve the queue: take the tasks back and fail the submit.
        head_ = tail_ = nullptr;
        queued_ = 0;
        throw;
      }
    }
  }
  return true;
}

void WorkerSet::worker_main(bool run_initializer, std::string name) noexcept {
  try {
    name_current_thread(std::move(name));
  } catch (...) {  // out of memory: current_thread() will call it Dummy-N
  }
  if (run_initializer) {
    try {
      options_.initializer();
    } catch (...) {
      report_callback_exception(options_.name);
      std::unique_lock lk{m_};
      if (!broken_) broken_ = std::current_exception();
      // Python's pool would respawn the worker forever; here the set is broken: what is queued
      // and what comes later fails with the initializer's exception.
      fail_queue_locked(lk, broken_);
      --live_;
      work_cv_.notify_all();
      exit_cv_.notify_all();
      return;
    }
  }
  std::size_t done = 0;
  bool short_tasks = false;
  TaskNode* batch[kMaxBatch];
  std::unique_lock lk{m_};
  for (;;) {
    while (head_ == nullptr && !stop_.load(std::memory_order_relaxed) && !(closing_ && jobs_.empty())) {
      ++idle_;
      work_cv_.wait(lk);
      --idle_;
      wake_pending_ = false;
    }
    if (head_ == nullptr || stop_.load(std::memory_order_relaxed)) break;
    // A fair share among the threads that are not running tasks (asleep or just started).
    std::size_t want = short_tasks ? std::clamp<std::size_t>(queued_ / (live_ - busy_), 1, kMaxBatch) : 1;
    if (options_.max_tasks_per_thread != 0) want = std::min(want, options_.max_tasks_per_thread - done);
    std::size_t n = 0;
    while (n < want && head_ != nullptr) {
      batch[n++] = head_;
      head_ = head_->next_task;
    }
    if (head_ == nullptr) tail_ = nullptr;
    queued_ -= n;
    // Cascade: pass the rest of a burst on to one more sleeper.
    if (head_ != nullptr && idle_ > 0 && !wake_pending_) {
      wake_pending_ = true;
      work_cv_.notify_one();
    }
    ++busy_;
    lk.unlock();
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; ++i) batch[i]->run(stop_);
    short_tasks = std::chrono::steady_clock::now() - t0 < kShortTask * n;
    done += n;
    lk.lock();
    --busy_;
    if (options_.max_tasks_per_thread != 0 && done >= options_.max_tasks_per_thread) {
      // maxtasksperchild: this thread retires; a fresh one takes its place.
      if (!stop_.load(std::memory_order_relaxed)) {
        try {
          start_thread_locked();
        } catch (...) {
          done = 0;  // could not replace it: keep serving rather than leave the queue unserved
          continue;
        }
      }
      break;
    }
  }
  --live_;
  exit_cv_.notify_all();
  if (live_ > 0) work_cv_.notify_all();  // a closing set: let the others see the queue empty
}

void WorkerSet::fail_queue_locked(std::unique_lock<std::mutex>& lk, const std::exception_ptr& why) {
  TaskNode* t = head_;
  head_ = tail_ = nullptr;
  queued_ = 0;
  lk.unlock();
  while (t != nullptr) {
    TaskNode* next = t->next_task;
    t->drop(why);
    t = next;
  }
  lk.lock();
}

void WorkerSet::close() {
  std::lock_guard lk{m_};
  closing_ = true;
  work_cv_.notify_all();
}

void WorkerSet::shutdown(bool cancel_queued) {
  std::unique_lock lk{m_};
  closing_ = true;
  if (cancel_queued) fail_queue_locked(lk, nullptr);
  work_cv_.notify_all();
}

void WorkerSet::terminate() {
  std::vector<std::shared_ptr<JobFeeder>> jobs;
  {
    std::unique_lock lk{m_};
    closing_ = true;
    stop_.store(true, std::memory_order_release);
    jobs.swap(jobs_);
    fail_queue_locked(lk, std::make_exception_ptr(CancelledError(std::string("kin::").append(options_.name).append(": terminated before the task ran"))));
    work_cv_.notify_all();
  }
}

void WorkerSet::join() {
  std::unique_lock lk{m_};
  if (!closing_) throw ValueError(std::string("kin::").append(options_.name).append(": join() before close() or terminate()"));
  // Feed what the open imaps still have (Python's eager feeder would have queued it all).
  while (!jobs_.empty() && !stop_.load(std::memory_order_relaxed)) {
    auto jobs = jobs_;
    lk.unlock();
    for (auto& j : jobs) j->drain();
    lk.lock();
    for (auto& j : jobs) std::erase(jobs_, j);
  }
  jobs_.clear();
  work_cv_.notify_all();
  exit_cv_.wait(lk, [&] { return live_ == 0; });
  auto threads = std::move(threads_);
  threads_.clear();
  lk.unlock();
  for (auto& t : threads) t.join();
  // Tasks followed up after the last worker left (an imap refilled at the same moment) fail
  // rather than wait for nobody.
  lk.lock();
  if (head_ != nullptr) fail_queue_locked(lk, std::make_exception_ptr(CancelledError("kin: the pool was joined")));
}

void WorkerSet::open_job(std::shared_ptr<JobFeeder> job) {
  std::lock_guard lk{m_};
  if (stop_.load(std::memory_order_relaxed)) return;
  jobs_.push_back(std::move(job));
}

void WorkerSet::close_job(const JobFeeder* job) {
  std::shared_ptr<JobFeeder> gone;  // released outside the lock
  std::lock_guard lk{m_};
  auto it = std::find_if(jobs_.begin(), jobs_.end(), [job](const auto& j) { return j.get() == job; });
  if (it == jobs_.end()) return;
  gone = std::move(*it);
  jobs_.erase(it);
  if (jobs_.empty() && closing_) work_cv_.notify_all();
}

bool WorkerSet::accepting() const {
  std::lock_guard lk{m_};
  return !closing_ && !stop_.load(std::memory_order_relaxed);
}

std::exception_ptr WorkerSet::broken() const {
  std::lock_guard lk{m_};
  return broken_;
}

}  // namespace detail

namespace {
std::size_t thread_count(std::size_t n) {
  if (n != 0) return n;
  const int c = kin::process_cpu_count();
  return c > 0 ? static_cast<std::size_t>(c) : 1;
}
}  // namespace

ThreadPool::ThreadPool(const PoolOptions& options)
    : workers_(std::make_shared<detail::WorkerSet>(detail::WorkerSet::Options{
          .threads = thread_count(options.processes),
          .initializer = options.initializer ? std::function<void()>(options.initializer) : std::function<void()>{},
          .max_tasks_per_thread = options.maxtasksperchild,
          .lazy = false,
          .name = "ThreadPool"})) {}

ThreadPool::~ThreadPool() {
  try {
    terminate();
  } catch (...) {
    // join() after terminate() does not throw; nothing to report from a destructor.
  }
}

void ThreadPool::terminate() {
  workers_->terminate();
  workers_->join();
}

void ThreadPool::join() { workers_->join(); }

std::size_t ThreadPoolExecutor::default_max_workers() {
  // Python 3.13: min(32, os.process_cpu_count() + 4) — room for I/O-bound tasks, bounded on big hosts.
  return std::min<std::size_t>(32, thread_count(0) + 4);
}

void ThreadPool::check_running() const {
  if (!workers_->accepting()) throw ValueError("kin::ThreadPool: Pool not running (closed or terminated)");
}

}  // namespace kin
