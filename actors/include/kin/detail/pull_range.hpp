// detail::PullRange: the input-range face of a type that hands out its elements one at a time
// through a public `std::optional<R> next()` (std::nullopt at the end) — the results of
// Pool::imap, ThreadPool::imap and an executor's map. Derive from it (CRTP):
//
//   class Results : public detail::PullRange<Results, int> {
//    public:
//     std::optional<int> next();          // waits for the next element, may throw
//   };
//   for (int v : results) ...             // begin() pulls the first element
//
// An exception thrown by next() leaves the range where it was; iteration may go on.
#pragma once

#include <cstddef>
#include <iterator>
#include <optional>

namespace kin::detail {

template <class Derived, class R>
class PullRange {
 public:
  class iterator {
   public:
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    R& operator*() const { return *owner_->current_; }
    R* operator->() const { return &*owner_->current_; }
    iterator& operator++() {
      owner_->current_ = owner_->self().next();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

   private:
    friend class PullRange;
    explicit iterator(PullRange* o) : owner_(o) {}
    [[nodiscard]] bool at_end() const { return owner_ == nullptr || !owner_->current_.has_value(); }
    PullRange* owner_ = nullptr;
  };

  /// The first call pulls the first element (and may wait for it); later calls resume.
  iterator begin() {
    if (!started_) {
      started_ = true;
      current_ = self().next();
    }
    return iterator{this};
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  std::optional<R> current_;
  bool started_ = false;
};

}  // namespace kin::detail
