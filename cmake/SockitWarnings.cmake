# Warning flags for sockit's own targets (never forced on consumers).
function(sockit_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
    -Wconversion -Wsign-conversion -Wno-sign-conversion -Wno-conversion)
endfunction()
