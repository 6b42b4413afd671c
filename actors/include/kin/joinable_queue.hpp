// kin::JoinableQueue<T>: a kin::Queue<T> that also counts unfinished items across processes
// (Python's multiprocessing.JoinableQueue): every put adds one, task_done() removes one
// (once too often: ValueError), join() waits until the count is 0.
#pragma once

#include <kin/queue.hpp>

namespace kin {

template <class T>
class JoinableQueue : public Queue<T> {
 public:
  using Queue<T>::Queue;

  void task_done() { this->ring_->task_done(); }
  void join() { this->ring_->join(std::nullopt); }
  template <class Rep, class Period>
  bool join(std::chrono::duration<Rep, Period> timeout) {
    return this->ring_->join(detail::deadline_after(timeout));
  }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, JoinableQueue& x) {
    inspect(f, static_cast<Queue<T>&>(x));
  }
};

}  // namespace kin
