# Warnings for the project's own targets: desfired_warnings(<target>).
function(desfired_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
                                           -Wnon-virtual-dtor -Wconversion -Wno-sign-conversion)
endfunction()
