# Warnings for kin's own targets (never forced on projects that consume kin).
function(kin_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local)
  if(KIN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
