// kin::progress(range, total): tqdm for kin — wraps an input range, yields its elements
// unchanged and reports how far the iteration has got: a redrawn bar with count, rate and ETA
// when the output is a terminal, plain periodic lines otherwise (logs, pipes, CI).
//
//   for (int r : kin::progress(pool.imap(work, inputs), inputs.size())) use(r);
//   //  37% |███████▍            | 370/1000 [00:02<00:03, 185.1 it/s]
//   for (auto& x : kin::progress(v, kin::ProgressOptions{.desc = "files", .fd = log_fd})) ...
//
// Output goes to stderr (fd 2) unless ProgressOptions::fd says otherwise; a terminal is
// detected with isatty(), its width with TIOCGWINSZ. The bar is redrawn at most every
// `interval` (100 ms), a plain line written at most every `line_interval` (1 s); the final
// state is always written once, when the range ends or the wrapper is destroyed (a `break`).
// Without a total (0 / unknown) it shows count and rate only. Writes that fail (a closed fd)
// are ignored: progress reporting never breaks the work it reports on.
//
// What a crash does: nothing to clean up; a terminal may be left mid-line.
#pragma once

#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>

namespace kin {

struct ProgressOptions {
  /// Expected number of elements (0: unknown; progress(range) uses range's size if sized).
  std::size_t total = 0;
  /// A label before the bar.
  std::string desc{};
  /// Where to write (2 = stderr).
  int fd = 2;
  /// Force terminal (true) or plain-line (false) output; unset: isatty(fd).
  std::optional<bool> terminal{};
  /// Terminal width in columns; 0: ask the terminal (80 if it does not say).
  int width = 0;
  /// Least time between two redraws of the bar.
  std::chrono::milliseconds interval{100};
  /// Least time between two plain lines.
  std::chrono::milliseconds line_interval{1000};
};

namespace detail {

/// The drawing half of kin::progress (non-template).
class ProgressBar {
 public:
  explicit ProgressBar(ProgressOptions options);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar();
  /// One more element done (draws when the interval has passed).
  void tick() {
    ++count_;
    if (count_ >= next_check_) maybe_draw();
  }
  /// Draws the final state once (later calls do nothing).
  void finish();
  [[nodiscard]] std::size_t count() const noexcept { return count_; }
  [[nodiscard]] bool terminal() const noexcept { return terminal_; }
  /// The text a draw at `elapsed` would write (for tests and custom sinks).
  [[nodiscard]] std::string render(std::chrono::duration<double> elapsed, bool final) const;

 private:
  void maybe_draw();
  void draw(bool final);

  ProgressOptions options_;
  bool terminal_ = false;
  int kind_ = 0;  // runtime::FdKind of the fd (kept as int: that header stays private)
  int width_ = 80;
  std::size_t count_ = 0;
  std::size_t next_check_ = 1;   // clock reads are spaced out on fast iterations
  std::size_t step_ = 1;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace detail

/// The range kin::progress returns: the elements of `R`, counted as they are passed.
template <class V>
class Progress {
 public:
  Progress(V view, ProgressOptions options)
      : view_(std::move(view)), bar_(std::make_unique<detail::ProgressBar>(std::move(options))) {}

  class iterator {
   public:
    using value_type = std::ranges::range_value_t<V>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    decltype(auto) operator*() const { return *it_; }
    iterator& operator++() {
      ++it_;
      bar_->tick();
      if (it_ == end_) bar_->finish();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, std::default_sentinel_t) { return a.it_ == a.end_; }

   private:
    friend class Progress;
    iterator(std::ranges::iterator_t<V> it, std::ranges::sentinel_t<V> end, detail::ProgressBar* bar)
        : it_(std::move(it)), end_(std::move(end)), bar_(bar) {}
    std::ranges::iterator_t<V> it_{};
    std::ranges::sentinel_t<V> end_{};
    detail::ProgressBar* bar_ = nullptr;
  };

  iterator begin() {
    auto it = std::ranges::begin(view_);
    auto end = std::ranges::end(view_);
    if (it == end) bar_->finish();
    return iterator{std::move(it), std::move(end), bar_.get()};
  }
  std::default_sentinel_t end() const noexcept { return {}; }
  /// Elements passed so far.
  [[nodiscard]] std::size_t count() const noexcept { return bar_->count(); }

 private:
  V view_;
  std::unique_ptr<detail::ProgressBar> bar_;  // stable address for the iterators
};

/// Wraps `range` (an lvalue is referenced, an rvalue kept) with progress output.
template <std::ranges::input_range R>
auto progress(R&& range, ProgressOptions options) {
  if constexpr (std::ranges::sized_range<R>) {
    if (options.total == 0) options.total = static_cast<std::size_t>(std::ranges::size(range));
  }
  return Progress<std::views::all_t<R>>(std::views::all(std::forward<R>(range)), std::move(options));
}
template <std::ranges::input_range R>
auto progress(R&& range, std::size_t total) {
  return progress(std::forward<R>(range), ProgressOptions{.total = total});
}
template <std::ranges::input_range R>
auto progress(R&& range) {
  return progress(std::forward<R>(range), ProgressOptions{});
}

}  // namespace kin
