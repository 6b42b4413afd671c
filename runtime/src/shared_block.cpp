#include <kin/runtime/shared_block.hpp>
#include <kin/errors.hpp>
#include <kin/runtime/syscall.hpp>

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <new>
#include <utility>

namespace kin::detail {

namespace {

constexpr std::size_t kArenaMaxBlock = 1024;       // larger objects get a segment of their own
constexpr std::size_t kArenaAlign = 64;            // a cache line: no false sharing between locks
constexpr std::size_t kFirstArena = 4096;          // a program with one Lock pays one page
constexpr std::size_t kLargestArena = 1u << 20;

// The arena small blocks are cut from: bump allocation only. A slot is never reused, because
// another process (a fork child, a spawned child) may still use an object this one dropped;
// an arena's memory goes when every block cut from it is gone in every process.
struct Arena {
  std::weak_ptr<MemfdSegment> seg;  // weak: an arena whose blocks are all gone closes its fd
  std::size_t used = 0;
  pid_t owner = 0;  // a fork child must not cut slots its parent also cuts: it starts its own
};

std::mutex g_mu;
Arena g_arena;
// Segments mapped by import_slot, by inode: a child that receives many objects of one arena
// maps it (and keeps an fd for it) once.
std::map<std::pair<dev_t, ino_t>, std::weak_ptr<MemfdSegment>> g_imported;

void after_fork_child() noexcept {
  new (&g_mu) std::mutex;  // another thread may have held it at fork
}
[[maybe_unused]] const bool g_fork_hook = (::pthread_atfork(nullptr, nullptr, after_fork_child), true);

std::size_t round_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

}  // namespace

SharedBlock SharedBlock::create(std::size_t size, const char* name) {
  if (size == 0) throw ValueError("kin: a shared-state block needs a size > 0");
  SharedBlock b;
  if (size > kArenaMaxBlock) {
    b.seg_ = std::make_shared<MemfdSegment>(MemfdSegment::create(size, name));
    return b;
  }
  const std::size_t need = round_up(size, kArenaAlign);
  const pid_t self = ::getpid();
  std::lock_guard g{g_mu};
  auto seg = g_arena.owner == self ? g_arena.seg.lock() : nullptr;
  if (!seg || g_arena.used + need > seg->size()) {
    const std::size_t next = seg ? std::min(seg->size() * 2, kLargestArena) : kFirstArena;
    seg = std::make_shared<MemfdSegment>(MemfdSegment::create(next, "kin.shared-state"));
    g_arena.seg = seg;
    g_arena.used = 0;
    g_arena.owner = self;
  }
  b.seg_ = std::move(seg);
  b.offset_ = g_arena.used;
  g_arena.used += need;
  return b;
}

SharedBlock SharedBlock::at(std::size_t offset) const {
  if (!valid() || offset >= size()) throw ValueError("kin: offset outside the shared segment");
  SharedBlock b;
  b.seg_ = seg_;
  b.offset_ = offset_ + offset;
  return b;
}

std::uint32_t SharedBlock::export_slot() const {
  if (!valid()) throw ValueError("kin: cannot hand over an empty shared-state handle");
  return handover_export(seg_->fd());
}

SharedBlock SharedBlock::import_slot(std::uint32_t slot, std::uint64_t offset) {
  unique_fd fd = handover_import(slot);
  struct stat st {};
  check(::fstat(fd.get(), &st), "fstat");
  SharedBlock b;
  {
    std::lock_guard g{g_mu};
    auto& known = g_imported[{st.st_dev, st.st_ino}];
    b.seg_ = known.lock();
    if (!b.seg_) {
      b.seg_ = std::make_shared<MemfdSegment>(MemfdSegment::attach(std::move(fd)));
      known = b.seg_;
    }
    std::erase_if(g_imported, [](const auto& kv) { return kv.second.expired(); });
  }
  if (offset >= b.seg_->size()) throw ProtocolError("kin: shared-state offset outside its segment");
  b.offset_ = static_cast<std::size_t>(offset);
  return b;
}

}  // namespace kin::detail
