# Warning flags for sockit's own targets (never forced on consumers).
# -Wconversion and -Wsign-conversion are not on: the code mixes std::size_t with ssize_t
# from read/send and with the byte counts of the wire formats throughout, and the casts
# those warnings ask for would bury the checks that matter (each narrowing that can lose a
# value is range-checked where it happens). Turning them on is a change of its own.
function(sockit_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual)
endfunction()
