// Drawing for kin::progress: a tqdm-style bar on terminals, plain lines elsewhere.
#include <kin/progress.hpp>
#include <kin/runtime/syscall.hpp>

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>

namespace kin::detail {

namespace {

std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

std::string rate_text(double per_second) {
  char buf[32];
  if (per_second >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM it/s", per_second / 1e6);
  } else if (per_second >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.2fk it/s", per_second / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f it/s", per_second);
  }
  return buf;
}

// Through kin's one SIGPIPE-safe writer: a reader that went away is EPIPE here, not a death.
void write_all(int fd, FdKind kind, const std::string& s) noexcept {
  const char* p = s.data();
  std::size_t left = s.size();
  while (left > 0) {
    ssize_t n = write_some(fd, p, left, kind);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a closed or full sink: progress never breaks the work
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace

ProgressBar::ProgressBar(ProgressOptions options) : options_(std::move(options)) {
  terminal_ = options_.terminal.value_or(::isatty(options_.fd) == 1);
  kind_ = static_cast<int>(fd_kind(options_.fd));
  width_ = options_.width;
  if (width_ <= 0) {
    winsize ws{};
    width_ = terminal_ && ::ioctl(options_.fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
  }
  start_ = last_draw_ = std::chrono::steady_clock::now();
  if (terminal_) draw(false);  // the empty bar at once: the user sees the work has started
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::maybe_draw() {
  const auto now = std::chrono::steady_clock::now();
  const auto every = terminal_ ? options_.interval : options_.line_interval;
  // Read the clock about every few milliseconds' worth of ticks, not on every element.
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (now - last_draw_ >= every) {
    draw(false);
    step_ = std::max<std::size_t>(1, step_);
  } else if (since > 0 && every.count() > 0) {
    const double per_tick = since / static_cast<double>(std::max<std::size_t>(step_, 1));
    const double want = std::chrono::duration<double>(every).count() / 8 / std::max(per_tick, 1e-9);
    step_ = static_cast<std::size_t>(std::clamp(want, 1.0, 65536.0));
  }
  next_check_ = count_ + step_;
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void ProgressBar::draw(bool final) {
  const auto now = std::chrono::steady_clock::now();
  last_draw_ = now;
  write_all(options_.fd, static_cast<FdKind>(kind_), render(now - start_, final));
}

std::string ProgressBar::render(std::chrono::duration<double> elapsed, bool final) const {
  const double secs = elapsed.count();
  const double rate = secs > 0 ? static_cast<double>(count_) / secs : 0.0;
  const std::size_t total = options_.total;
  std::string out;
  std::string label;
  if (!options_.desc.empty()) label.append(options_.desc).append(": ");
  char num[64];
  if (!terminal_) {
    // One self-contained line per report: "files: 450/1000 45% 150.2 it/s elapsed 00:03 eta 00:04"
    out = label;
    if (total > 0) {
      std::snprintf(num, sizeof num, "%zu/%zu %.0f%%", count_, total,
                    100.0 * static_cast<double>(std::min(count_, total)) / static_cast<double>(total));
    } else {
      std::snprintf(num, sizeof num, "%zu", count_);
    }
    out.append(num).append(" ").append(rate_text(rate)).append(" elapsed ").append(clock_text(secs));
    if (total > 0 && !final) {
      const double eta = rate > 0 ? static_cast<double>(total > count_ ? total - count_ : 0) / rate : -1;
      out.append(" eta ").append(clock_text(eta));
    }
    if (final) out.append(" done");
    out.push_back('\n');
    return out;
  }
  // Terminal: "\r<label> 45%|█████     | 450/1000 [00:03<00:04, 150.2 it/s]\x1b[K"
  std::string right;
  if (total > 0) {
    const double eta = rate > 0 ? static_cast<double>(total > count_ ? total - count_ : 0) / rate : -1;
    std::snprintf(num, sizeof num, " %zu/%zu [", count_, total);
    right.append(num).append(clock_text(secs)).append("<").append(clock_text(eta)).append(", ");
  } else {
    std::snprintf(num, sizeof num, "%zu [", count_);
    right.append(num).append(clock_text(secs)).append(", ");
  }
  right.append(rate_text(rate)).append("]");
  out.push_back('\r');
  out.append(label);
  if (total > 0) {
    const double frac = std::min(1.0, static_cast<double>(count_) / static_cast<double>(total));
    std::snprintf(num, sizeof num, "%3.0f%%|", 100.0 * frac);
    out.append(num);
    const int used = static_cast<int>(label.size()) + 5 + 1 + static_cast<int>(right.size());
    const int cells = std::max(1, std::min(width_ - used - 1, 60));
    // Eighths of a cell, as tqdm does, for a smooth bar.
    static const char* const kEighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
    const double filled = frac * cells;
    const int full = static_cast<int>(filled);
    const int part = static_cast<int>((filled - full) * 8);
    for (int i = 0; i < full; ++i) out.append("█");
    int drawn = full;
    if (full < cells && part > 0) {
      out.append(kEighths[part]);
      ++drawn;
    }
    out.append(static_cast<std::size_t>(cells - drawn), ' ');
    out.append("|");
  }
  out.append(right).append("\x1b[K");
  if (final) out.push_back('\n');
  return out;
}

}  // namespace kin::detail
