#include <kin/runtime/code_address.hpp>

#include <kin/errors.hpp>

#include <link.h>

namespace kin::detail {

CodeRef code_ref_of(const void* fn) {
  struct Search {
    std::uintptr_t addr;
    CodeRef found;
    bool ok = false;
  } s{reinterpret_cast<std::uintptr_t>(fn), {}, false};
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        auto* st = static_cast<Search*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const auto& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD) continue;
          std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
          if (st->addr >= begin && st->addr < begin + ph.p_memsz) {
            st->found = CodeRef{info->dlpi_name != nullptr ? info->dlpi_name : "", st->addr - info->dlpi_addr};
            st->ok = true;
            return 1;
          }
        }
        return 0;
      },
      &s);
  if (!s.ok) throw StartMethodError("kin: the target function is in no loaded object");
  return s.found;
}

void* resolve_code_ref(const CodeRef& ref) {
  struct Search {
    const CodeRef* ref;
    std::uintptr_t base = 0;
    bool ok = false;
  } s{&ref};
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        auto* st = static_cast<Search*>(data);
        if (st->ref->object != (info->dlpi_name != nullptr ? info->dlpi_name : "")) return 0;
        st->base = info->dlpi_addr;
        st->ok = true;
        return 1;
      },
      &s);
  if (!s.ok) throw ProtocolError("kin: spawn entry refers to an object that is not loaded: " + ref.object);
  return reinterpret_cast<void*>(s.base + ref.offset);
}

}  // namespace kin::detail
