// kin::JoinableQueueProxy<T>: a JoinableQueue kept by a kin::Manager's server process (Python's
// m.JoinableQueue()).
//
//   auto q = m.JoinableQueue<int>();
//   q.put(7);                       // a worker: int job = q.get(); ...; q.task_done();
//   q.join();                       // returns once every item put has been task_done()
//
// Everything a QueueProxy does, plus task_done() (kin::ValueError when called more times than
// items were put) and join() / join(timeout) (false when items are still unfinished then).
// The count of unfinished items lives on the server, so producers, consumers and joiners may
// be any processes. A consumer that dies after get() and before task_done() leaves its item
// unfinished: join() then waits (use join(timeout)), as in Python. When the server is gone
// every call is kin::ManagerLost, including a join already waiting.
#pragma once

#include <kin/queue_proxy.hpp>

#include <chrono>
#include <cstdint>

namespace kin {

template <class T>
class JoinableQueueProxy : public QueueProxy<T> {
  using Op = detail::mgr::Op;

 public:
  JoinableQueueProxy() = default;
  using QueueProxy<T>::QueueProxy;

  void task_done() {
    auto f = this->request(Op::q_task_done);
    (void)this->call(f);
  }
  void join() { (void)join_for(-1); }
  template <class Rep, class Period>
  [[nodiscard]] bool join(std::chrono::duration<Rep, Period> timeout) {
    return join_for(detail::mgr::timeout_us(timeout));
  }

 private:
  bool join_for(std::int64_t us) {
    auto f = this->request(Op::q_join);
    detail::Writer{f}.raw(&us, sizeof us);
    auto r = this->call(f);
    auto rd = detail::mgr::reader(r);
    bool ok = false;
    rd.apply(ok);
    return ok;
  }
};

}  // namespace kin
